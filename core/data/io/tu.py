"""TU-format .zip datasets uploaded as one file."""

from __future__ import annotations

import os
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.data.graphs import GraphDataset
from core.data.io.base import GraphInputError, ReadLimits


# ---------------------------------------------------------------------------- TU zip
def _read_tu_zip(source, raw: bytes, name: str, limits: ReadLimits) -> "GraphDataset":
    """Delegate a TU-format zip to ``core.data.datasets.read_tu`` (from a temp file for bytes)."""
    from core.data.datasets import read_tu  # lazy: datasets is the heavier, separate module

    def call(path):
        try:
            return read_tu(path, max_bytes=limits.max_bytes)
        except GraphInputError:
            raise
        except zipfile.BadZipFile as exc:
            raise GraphInputError(f"{name}: not a valid zip file ({exc})") from exc
        except (ValueError, OSError, KeyError, EOFError, IndexError, NotImplementedError, RuntimeError, zlib.error,
                struct.error) as exc:
            # zipfile lets a damaged archive surface as any of these (RuntimeError: encrypted member).
            # A temp file's path means nothing to the user; show the upload's name instead.
            reason = str(exc).replace(str(path), name)
            raise GraphInputError(f"{name}: not a readable TU dataset zip ({reason})") from exc

    is_plain_path = isinstance(source, (str, os.PathLike)) and str(source).lower().endswith(".zip")
    if is_plain_path:
        return call(Path(source))
    if not raw:
        raise GraphInputError(f"{name}: the file is empty")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / (Path(name).name[: -len(".gz")] if name.lower().endswith(".gz") else Path(name).name)
        path.write_bytes(raw)
        return call(path)
