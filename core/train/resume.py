"""Mid-fold resume state: saved every few epochs (safetensors + JSON, written atomically), restored
after an interruption, deleted when the fold ends."""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch

from core.model.checkpoint import write_pair_atomically
from core.model.diffpool import DiffPool
from core.train.settings import TrainSettings

# ---------------------------------------------------------------------------- resumable fits
FIT_STATE_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parents[2]  # core/train/resume.py -> the repository
#: Benchmark results hold JSON and tables only: no run writes weights below this folder.
RESULTS_DIR = REPO_ROOT / "bench" / "results"


def resume_root() -> Path:
    """Where unfinished folds keep their state: ``$DIFFPOOL_RESUME`` or ``~/.cache/diffpool-explorer/resume``."""
    folder = os.environ.get("DIFFPOOL_RESUME")
    return Path(folder).expanduser() if folder else Path.home() / ".cache" / "diffpool-explorer" / "resume"


def fit_state_stem(settings: TrainSettings, fold: int) -> Path:
    """``<resume_dir>/<run>/fold-<k>``; ``<run>`` hashes the output folder and the settings'
    fingerprint, so two runs never share a state and changed settings never resume an old one."""
    root = Path(settings.resume_dir).expanduser() if settings.resume_dir else resume_root()
    key = hashlib.sha256(f"{Path(settings.out_dir or '.').resolve()}|{settings.fingerprint()}".encode()).hexdigest()[:16]
    return root / f"{settings.dataset}-{settings.variant}-{key}" / f"fold-{fold}"


def _state_paths(stem: Path) -> tuple[Path, Path]:
    return stem.with_name(stem.name + ".state.safetensors"), stem.with_name(stem.name + ".state.json")


def saved_fit_progress(stem: Path) -> dict:
    """The JSON half of a fold's saved state (epoch, best epoch, history, ...) without its weights;
    raises OSError / ValueError when there is none or it is unreadable."""
    meta = json.loads(_state_paths(stem)[1].read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise ValueError(f"{stem}: a training state's JSON is not an object")
    return meta


def delete_fit_state(stem: Path) -> None:
    """Remove a fold's saved state (and its folder when empty)."""
    for path in _state_paths(stem):
        path.unlink(missing_ok=True)
    try:
        stem.parent.rmdir()
    except OSError:
        pass  # other folds' states are still there


def _save_fit_state(stem: Path, fingerprint: str, epoch: int, model: DiffPool, optimizer: torch.optim.Optimizer,
                    progress: dict, snapshots: dict[str, torch.Tensor]) -> None:
    """Write the state after ``epoch`` atomically: tensors first, then the JSON that names their epoch."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if progress["best_state"] is not None:
        tensors.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in progress["best_state"].items()})
    optimizer_state = optimizer.state_dict()
    scalars: dict[str, dict] = {}
    for param_id, values in optimizer_state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{param_id}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(param_id), {})[key] = value
    tensors["rng.torch"] = torch.get_rng_state()
    numpy_state = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(numpy_state[1].astype(np.int64))
    tensors.update({k: v.detach().cpu().contiguous() for k, v in snapshots.items()})
    meta = {
        "version": FIT_STATE_VERSION,
        "fingerprint": fingerprint,
        "epoch": epoch,
        "history": progress["history"],
        "best_epoch": progress["best_epoch"],
        "best_val": None if progress["best_val"] == -math.inf else progress["best_val"],
        "has_best": progress["best_state"] is not None,
        "optimizer": {"param_groups": optimizer_state["param_groups"], "scalars": scalars},
        "numpy_rng": [numpy_state[0], int(numpy_state[2]), int(numpy_state[3]), float(numpy_state[4])],
        "snapshot_meta": progress["snapshot_meta"],
    }
    weights_path, json_path = _state_paths(stem)
    write_pair_atomically(weights_path, tensors, {"epoch": str(epoch), "fingerprint": fingerprint},
                          json_path, json.dumps(meta, default=str))


def _load_fit_state(stem: Path, fingerprint: str) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """(meta, tensors) of a saved state that belongs to these settings, else None (start afresh)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    weights_path, json_path = _state_paths(stem)
    if not (weights_path.is_file() and json_path.is_file()):
        return None
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
        with safe_open(str(weights_path), framework="pt") as handle:
            stamp = handle.metadata() or {}
        tensors = load_file(str(weights_path))
    except Exception as error:  # a damaged state is not worth a crash: the fold restarts
        print(f"warning: ignoring unreadable training state {json_path}: {error}", file=sys.stderr)
        return None
    if (not isinstance(meta, dict) or meta.get("version") != FIT_STATE_VERSION
            or meta.get("fingerprint") != fingerprint or stamp.get("epoch") != str(meta.get("epoch"))):
        return None
    return meta, tensors


def _restore_fit_state(meta: dict, tensors: dict[str, torch.Tensor], model: DiffPool,
                       optimizer: torch.optim.Optimizer, device: torch.device) -> dict:
    """Put a saved state back into ``model`` / ``optimizer`` / the RNGs; returns the loop's progress."""
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    best_state = None
    if meta["has_best"]:
        best_state = {k[len("best."):]: v.to(device) for k, v in tensors.items() if k.startswith("best.")}
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, param_id, name = key.split(".", 2)
            state.setdefault(int(param_id), {})[name] = value.to(device) if name != "step" else value
    for param_id, values in meta["optimizer"]["scalars"].items():
        state.setdefault(int(param_id), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer"]["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    name, position, has_gauss, cached = meta["numpy_rng"]
    np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), position, has_gauss, cached))
    return {
        "epoch": int(meta["epoch"]),
        "history": meta["history"],
        "best_epoch": int(meta["best_epoch"]),
        "best_val": -math.inf if meta["best_val"] is None else float(meta["best_val"]),
        "best_state": best_state,
        "snapshot_meta": meta["snapshot_meta"],
        "snapshots": {k: v for k, v in tensors.items() if k.startswith("snapshot/")},
    }
