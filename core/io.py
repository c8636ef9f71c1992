"""``core.io``: the graph readers' public entry, kept at its old path (the code lives in ``core.data.io``)."""

from core.data.io import *  # noqa: F401,F403
from core.data.io import __all__  # noqa: F401
