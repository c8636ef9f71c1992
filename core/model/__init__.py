"""The models and what crosses to the views: DiffPool and its variants, the trace (the one record a
view reads), running a model over graphs (``core.model.inference``), checkpoints (safetensors + a
validated JSON card) and whether a model can run on a dataset."""

from core.model.checkpoint import CheckpointError, ModelCard, load_checkpoint, read_card, save_checkpoint  # noqa: F401
from core.model.compat import check_compatibility  # noqa: F401
from core.model.diffpool import VARIANTS, DiffPool, DiffPoolConfig  # noqa: F401
from core.model.inference import predict_logits, resolve_device, trace_graphs  # noqa: F401
from core.model.trace import GraphTrace, LevelTrace  # noqa: F401
