"""Checkpoints: safetensors weights + a JSON model card, written atomically, loaded without pickle.

A checkpoint ``models/enzymes-diffpool`` is the pair ``enzymes-diffpool.safetensors`` and
``enzymes-diffpool.json``. The card holds everything needed to rebuild and judge the model:

``format``, ``variant``, ``config`` (:class:`core.model.DiffPoolConfig` as a dict),
``features`` (:class:`core.data.features.FeatureSpec` as a dict), ``dataset``, ``class_names``,
``accuracy`` / ``protocol`` (how the figure was measured), ``seed``, ``created`` and any extras
(``command``, ``machine``, ``training_seconds``, ...).

Extra tensors (e.g. assignment snapshots recorded during training) can be stored in the same
safetensors file under names that do not start with ``model.``.

Loading validates the card once (:class:`ModelCard`): wrong types, missing fields, a config that
is not an object, broken JSON, truncated or garbage weights all raise :class:`CheckpointError`
naming the file and the problem. :func:`scan_models` lists a folder's models and, apart, the
unreadable ones with their reason.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from core.data.features import FeatureSpec
from core.model.card import (  # noqa: F401  (the card half, torch-free, re-exported here)
    CARD_FORMAT,
    MODEL_PREFIX,
    NOT_CARDS,
    REQUIRED_CARD_FIELDS,
    CheckpointError,
    ModelCard,
    check_weights_file,
    checkpoint_paths,
    read_card,
    scan_models,
)
from core.model.diffpool import DiffPool


def _temp_beside(target: Path) -> str:
    """A new empty temp file next to ``target`` (same filesystem, so ``os.replace`` is atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    return temp


def _publish(temp: str, target: Path) -> None:
    """Rename ``temp`` to ``target`` with the permissions a plain ``open()`` gives (mkstemp makes 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)
    os.replace(temp, target)


def save_checkpoint(
    path: str | Path,
    model: DiffPool,
    feature_spec: FeatureSpec,
    card: dict | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``<path>.safetensors`` and ``<path>.json`` atomically (temp file + rename); returns the card path."""
    weights_path, card_path = checkpoint_paths(path)
    tensors = {MODEL_PREFIX + k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for name, tensor in (extra_tensors or {}).items():
        if name.startswith(MODEL_PREFIX):
            raise CheckpointError(f"extra tensor name {name!r} must not start with {MODEL_PREFIX!r}")
        tensors[name] = tensor.detach().cpu().contiguous()
    full_card = {
        "format": CARD_FORMAT,
        "variant": model.config.variant,
        "config": model.config.to_dict(),
        "features": feature_spec.to_dict(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "num_parameters": model.num_parameters(),
    }
    full_card.update(card or {})
    text = json.dumps(full_card, indent=2, sort_keys=True, default=str)
    write_pair_atomically(weights_path, tensors, {"format": CARD_FORMAT}, card_path, text)
    return card_path


def write_pair_atomically(weights_path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str],
                          json_path: Path, text: str) -> None:
    """Write a safetensors file and its JSON companion; the tensors are renamed into place first.

    Both go to temp files beside their targets and are renamed only when both writes succeeded,
    so a failure (disk full, bad tensor, interrupt) leaves the previous pair untouched.
    """
    temps: list[str] = []
    try:
        temps.append(_temp_beside(weights_path))
        save_file(tensors, temps[0], metadata=metadata)
        temps.append(_temp_beside(json_path))
        Path(temps[1]).write_text(text + "\n", encoding="utf-8")
        _publish(temps[0], weights_path)
        _publish(temps[1], json_path)
    finally:
        for temp in temps:
            if os.path.exists(temp):
                os.unlink(temp)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[DiffPool, FeatureSpec, ModelCard]:
    """Rebuild a model from its card and weights; nothing is unpickled. Returns (model in eval mode, spec, card)."""
    weights_path, card_path = checkpoint_paths(path)
    card = read_card(card_path)
    if not weights_path.is_file():
        raise CheckpointError(f"weights {weights_path} not found beside card {card_path}")
    config, spec = card.config, card.features
    try:
        tensors = load_file(str(weights_path), device="cpu")
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"weights file {weights_path} is not a readable safetensors file: {error}") from error
    state = {k[len(MODEL_PREFIX):]: v for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}
    try:
        model = DiffPool(config)
    except (TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"model card {card_path}: its config cannot build a model: {error}") from error
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatches raise even with strict=False
        first_line = str(error).strip().splitlines()[:3]
        raise CheckpointError(
            f"weights {weights_path} do not match the config in {card_path}: {' '.join(first_line)}"
        ) from error
    if missing or unexpected:
        raise CheckpointError(
            f"weights {weights_path} do not match the card's config: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )
    return model.to(device).eval(), spec, card


def load_extra_tensors(path: str | Path, prefix: str = "") -> dict[str, torch.Tensor]:
    """Non-model tensors stored beside the weights (e.g. ``snapshot/...``), filtered by prefix."""
    weights_path, _ = checkpoint_paths(path)
    if not weights_path.is_file():
        raise CheckpointError(f"weights {weights_path} not found")
    try:
        tensors = load_file(str(weights_path), device="cpu")
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"weights file {weights_path} is not a readable safetensors file: {error}") from error
    return {k: v for k, v in tensors.items() if not k.startswith(MODEL_PREFIX) and k.startswith(prefix)}
