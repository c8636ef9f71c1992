"""``core.checkpoint``: checkpoints' public entry, kept at its old path (the code lives in
``core.model.checkpoint``)."""

from core.model.checkpoint import (  # noqa: F401
    CheckpointError, ModelCard, checkpoint_paths, load_checkpoint, read_card, save_checkpoint, scan_models,
)
