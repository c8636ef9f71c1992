"""Model cards without torch: the JSON card of a checkpoint, validated once (:class:`ModelCard`),
the weights file checked for truncation from its header alone, and a models folder scanned.

Everything here reads JSON and file headers only, so listing models and checking one against a
dataset import no torch (the app's first page). Writing checkpoints and loading weights live in
:mod:`core.model.checkpoint`, which re-exports these names.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from core.data.features import FeatureSpec
from core.model.config import DiffPoolConfig

CARD_FORMAT = "diffpool-explorer/1"
MODEL_PREFIX = "model."


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete or inconsistent."""


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, card) paths for a checkpoint stem or either of its two files."""
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".safetensors"), path.with_name(path.name + ".json")



# ---------------------------------------------------------------------------- the card
# JSON type(s) each checked field may have (bool is never accepted for a number).
_JSON_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "list[int]": (list,)}
# Card fields other than config/features whose type is checked when present.
_CARD_FIELD_TYPES = {
    "format": (str,), "variant": (str,), "dataset": (str,), "class_names": (list,), "accuracy": (dict,),
    "protocol": (str,), "seed": (int,), "fold": (int,), "test_indices": (list,), "created": (str,),
    "num_parameters": (int,), "snapshots": (dict,), "machine": (dict,), "command": (str,),
    "training_seconds": (int, float),
}
REQUIRED_CARD_FIELDS = ("format", "variant", "config", "features")


def _type_problem(where: str, value, allowed: tuple, annotation: str = "") -> str | None:
    """Why ``value`` does not have one of the ``allowed`` JSON types (None when it does)."""
    if isinstance(value, bool) and bool not in allowed:
        return f"{where} is {value!r}, expected {annotation or allowed[0].__name__}"
    if not isinstance(value, allowed):
        names = annotation or " or ".join(t.__name__ for t in allowed)
        return f"{where} is {type(value).__name__} {value!r:.40}, expected {names}"
    if annotation == "list[int]" and not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return f"{where} must be a list of integers, found {value!r:.60}"
    return None


def _check_dataclass_dict(where: str, data, cls, required: tuple[str, ...]) -> list[str]:
    """Problems of a JSON object meant for dataclass ``cls`` (field types from its annotations)."""
    if not isinstance(data, dict):
        return [f"{where} is {type(data).__name__}, expected a JSON object"]
    problems = [f"{where} lacks {name!r}" for name in required if name not in data]
    for spec in fields(cls):
        if spec.name in data and str(spec.type) in _JSON_TYPES:
            problem = _type_problem(f"{where}.{spec.name}", data[spec.name], _JSON_TYPES[str(spec.type)], str(spec.type))
            if problem:
                problems.append(problem)
    return problems


@dataclass(frozen=True, eq=False)  # compared like a dict (Mapping.__eq__)
class ModelCard(Mapping):
    """A checkpoint's JSON card, validated once when loaded (:meth:`from_dict`).

    Typed fields: ``config`` (:class:`~core.model.DiffPoolConfig`), ``features``
    (:class:`~core.data.features.FeatureSpec`), ``variant``, ``dataset``, ``class_names``,
    ``accuracy`` (e.g. {"test": 0.62, "validation": 0.6}), ``seed``, ``path`` (the card file).
    ``data`` is the whole JSON object (treat it as read-only; :meth:`to_dict` gives a copy).

    Transitional: the card also reads like the dict it replaces (``card["dataset"]``,
    ``card.get("accuracy")``, ``"snapshots" in card``) - the raw JSON values, so
    ``card["config"]`` is a dict; new code should use the typed attributes.
    """

    config: DiffPoolConfig
    features: FeatureSpec
    variant: str
    dataset: str | None = None
    class_names: list | None = None
    accuracy: dict | None = None
    seed: int | None = None
    path: Path | None = None
    data: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data, path: str | Path | None = None) -> ModelCard:
        """Validate a parsed card; raises :class:`CheckpointError` listing every problem found."""
        where = f"model card {path}" if path is not None else "model card"
        if not isinstance(data, dict):
            raise CheckpointError(f"{where} is not a DiffPool Explorer model card: a JSON {type(data).__name__}, "
                                  "expected an object")
        if data.get("format") != CARD_FORMAT:
            raise CheckpointError(f"{where} is not a DiffPool Explorer model card (expected format {CARD_FORMAT!r}, "
                                  f"found {data.get('format')!r})")
        problems = [f"missing field {name!r}" for name in REQUIRED_CARD_FIELDS if name not in data]
        for name, allowed in _CARD_FIELD_TYPES.items():
            if data.get(name) is not None:
                problem = _type_problem(name, data[name], allowed)
                if problem:
                    problems.append(problem)
        if "config" in data:
            problems += _check_dataclass_dict("config", data["config"], DiffPoolConfig, ("input_dim", "num_classes"))
        if "features" in data:
            problems += _check_dataclass_dict("features", data["features"], FeatureSpec, ("kind",))
        if problems:
            raise CheckpointError(f"{where} is damaged: {'; '.join(problems)}")
        try:
            config = DiffPoolConfig.from_dict(data["config"])
            spec = FeatureSpec.from_dict(data["features"])
        except (TypeError, ValueError) as error:
            raise CheckpointError(f"{where} has an invalid config: {error}") from error
        if config.variant != data["variant"]:
            raise CheckpointError(f"{where}: variant {data['variant']!r} differs from config.variant {config.variant!r}")
        if spec.dim != config.input_dim:
            raise CheckpointError(f"{where}: the features give {spec.dim} inputs but config.input_dim is {config.input_dim}")
        if config.assign_only_dim and config.assign_only_dim != spec.positional_dim:
            raise CheckpointError(f"{where}: config.assign_only_dim is {config.assign_only_dim} but the features "
                                  f"end in {spec.positional_dim} positional columns")
        return cls(config=config, features=spec, variant=data["variant"], dataset=data.get("dataset"),
                   class_names=data.get("class_names"), accuracy=data.get("accuracy"), seed=data.get("seed"),
                   path=Path(path) if path is not None else None, data=data)

    def to_dict(self) -> dict:
        """A plain, mutable copy of the JSON card."""
        return json.loads(json.dumps(dict(self.data)))

    # transitional dict interface (read-only)
    def __getitem__(self, key: str):
        return self.data[key]

    def __iter__(self):
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def read_card(path: str | Path) -> ModelCard:
    """The validated card of a checkpoint (no weights loaded)."""
    _, card_path = checkpoint_paths(path)
    if not card_path.is_file():
        raise CheckpointError(f"model card {card_path} not found; a checkpoint is a .safetensors + .json pair")
    try:
        data = json.loads(card_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise CheckpointError(f"model card {card_path} is not valid JSON: {error}") from error
    except OSError as error:
        raise CheckpointError(f"model card {card_path} cannot be read: {error}") from error
    return ModelCard.from_dict(data, card_path)


def check_weights_file(path: str | Path) -> None:
    """Raise :class:`CheckpointError` unless the safetensors file's header is readable and its
    tensors fit the file exactly (catches truncation without loading the tensors)."""
    weights_path, _ = checkpoint_paths(path)
    try:
        size = weights_path.stat().st_size
        with open(weights_path, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise CheckpointError(f"weights file {weights_path} is truncated ({size} bytes: no safetensors header)")
            (header_size,) = struct.unpack("<Q", prefix)
            if header_size > size - 8:
                raise CheckpointError(f"weights file {weights_path} is truncated or not safetensors "
                                      f"(header of {header_size} bytes in a {size}-byte file)")
            header = json.loads(handle.read(header_size))
    except FileNotFoundError:
        raise CheckpointError(f"weights {weights_path} not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"weights file {weights_path} is not a readable safetensors file: {error}") from None
    ends = [entry["data_offsets"][1] for key, entry in header.items()
            if key != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry]
    if not isinstance(header, dict) or 8 + header_size + max(ends, default=0) != size:
        raise CheckpointError(f"weights file {weights_path} is truncated or damaged: its header describes "
                              f"{8 + header_size + max(ends, default=0)} bytes, the file has {size}")


#: JSON files a models folder may hold that are not model cards.
NOT_CARDS = ("defaults.json",)


def scan_models(folder: str | Path) -> tuple[list[tuple[Path, ModelCard]], list[tuple[Path, str]]]:
    """The checkpoints in ``folder``: ([(stem, card)] readable, [(path, reason)] unreadable).

    A checkpoint is a ``*.json`` card (``*.projection.json`` files and ``defaults.json``, the folder's
    per-dataset default models, are not cards) with or without
    its weights; cards are validated and weights checked for truncation (header vs file size),
    without loading tensors. Sorted by file name.
    """
    good: list[tuple[Path, ModelCard]] = []
    bad: list[tuple[Path, str]] = []
    folder = Path(folder)
    if not folder.is_dir():
        return good, bad
    for card_path in sorted(folder.glob("*.json")):
        if card_path.name.endswith(".projection.json") or card_path.name in NOT_CARDS:
            continue
        stem = card_path.with_suffix("")
        try:
            card = read_card(card_path)
            check_weights_file(stem)
        except CheckpointError as error:
            bad.append((card_path, str(error)))
            continue
        good.append((stem, card))
    for weights_path in sorted(folder.glob("*.safetensors")):
        if not weights_path.with_suffix(".json").is_file():
            bad.append((weights_path, f"weights {weights_path} have no model card {weights_path.with_suffix('.json').name}"))
    return good, bad


# ---------------------------------------------------------------------- the card's structure in words
def structure_summary(structure) -> str | None:
    """A card's ``structure`` field (:func:`core.diagnose.card_structure`) in a few words, e.g. ``"level 1
    healthy (97%), level 2 healthy (99%)"``; None when the card has none. Reads the field only (the
    sidebar's path: no diagnosis import)."""
    if not isinstance(structure, Mapping) or not structure.get("levels"):
        return None
    return ", ".join(f"level {level['level']} {level['verdict']} ({level['shares'][level['verdict']]:.0%})"
                     for level in structure["levels"])


def pools_into_structure(structure) -> bool | None:
    """Whether a card's ``structure`` field says its pooling found graph structure: every level's most
    common verdict on the held-out fold is ``healthy``. None when the card has no such field."""
    if not isinstance(structure, Mapping) or not structure.get("levels"):
        return None
    return all(level.get("verdict") == "healthy" for level in structure["levels"])


def structure_sentences(structure: Mapping) -> list[str]:
    """The same field at length, one plain sentence per level, e.g. ``"level 1 (8 clusters): healthy on
    97% of graphs, fragmented 3%; modularity 0.78 of Louvain's"``."""
    sentences = []
    for level in structure.get("levels", []):
        shares = level["shares"]
        main = level["verdict"]
        rest = ", ".join(f"{v} {shares[v]:.0%}" for v in sorted(shares, key=lambda v: -shares[v])
                         if v != main and shares[v] >= 0.005)
        text = f"level {level['level']} ({level['clusters']} clusters): {main} on {shares[main]:.0%} of graphs"
        text += f", {rest}" if rest else ""
        if level.get("modularity_ratio") is not None:
            text += f"; modularity {level['modularity_ratio']:.2f} of Louvain's"
        if level.get("label_nmi") is not None:
            text += f"; NMI with the node labels {level['label_nmi']:.2f}"
        sentences.append(text)
    return sentences
