"""The models and what crosses to the views: DiffPool and its variants, the trace (the one record a
view reads), running a model over graphs (``core.model.inference``), checkpoints (safetensors + a
validated JSON card) and whether a model can run on a dataset.

Two floors: ``config``, ``card``, ``compat`` and ``trace`` import no torch (reading cards, checking a
model against a dataset, drawing a stored trace); ``diffpool``, ``checkpoint``, ``inference`` and
``patchysan`` build and run the modules. The torch-side names below are resolved on first use, so
``import core.model`` (or ``core.model.trace``) stays light.
"""

from importlib import import_module

from core.model.card import CheckpointError, ModelCard, read_card
from core.model.compat import check_compatibility
from core.model.config import VARIANTS, DiffPoolConfig
from core.model.trace import GraphTrace, LevelTrace

#: name -> module of the torch-side public names, imported when first asked for.
_LAZY = {
    "DiffPool": "core.model.diffpool",
    "load_checkpoint": "core.model.checkpoint",
    "save_checkpoint": "core.model.checkpoint",
    "predict_logits": "core.model.inference",
    "resolve_device": "core.model.inference",
    "trace_graphs": "core.model.inference",
}

__all__ = ["CheckpointError", "ModelCard", "read_card", "check_compatibility", "VARIANTS", "DiffPoolConfig",
           "GraphTrace", "LevelTrace", "DiffPool", "load_checkpoint", "save_checkpoint", "predict_logits",
           "resolve_device", "trace_graphs"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'core.model' has no attribute {name!r}")
