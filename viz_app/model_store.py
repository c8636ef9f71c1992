"""The user models folder: unique names for models trained in the app, published without overwriting.

The folder (``$DIFFPOOL_MODELS``, default ``~/.diffpool-explorer/models``) is shared by every browser
session of a server, and the sidebar lists it beside the shipped ``pretrained/`` models. So a model
trained in the app is written to a private temporary folder first and then *published* under a
name no checkpoint has yet, in either folder: ``<dataset>-<variant>-<UTC time>-<random>`` or the
user's own name (with ``-2``, ``-3``… added when taken). Publishing links each file to its final
name, which fails instead of replacing an existing file, so two sessions finishing at the same
moment cannot overwrite each other.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from pathlib import Path

CHECKPOINT_SUFFIXES = (".safetensors", ".json")  # weights first: a card is listed only beside its weights


class ModelNameError(ValueError):
    """A model name that cannot be used as a file name."""


def model_slug(text: str) -> str:
    """A file-name-safe model name: letters, digits, ``-``, ``_`` and ``.``; others become ``-``.

    >>> model_slug("My model / v2")
    'My-model-v2'
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip("-.")
    if not slug:
        raise ModelNameError(f"{text!r} has no letters or digits to name a model file with")
    return slug[:80]


def _taken(stem: str, folders: list[Path]) -> bool:
    return any((folder / (stem + suffix)).exists() for folder in folders for suffix in CHECKPOINT_SUFFIXES)


def unique_stem(base: str, folders: list[Path], stamped: bool = True) -> str:
    """A model name that no checkpoint file in ``folders`` uses.

    ``stamped``: ``<base>-<UTC yyyymmdd-hhmmss>-<4 hex>`` (a generated name); else ``base`` itself,
    then ``base-2``, ``base-3``… (a name the user typed).
    """
    base = model_slug(base)
    if stamped:
        while True:
            stem = f"{base}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"
            if not _taken(stem, folders):
                return stem
    stem, number = base, 1
    while _taken(stem, folders):
        number += 1
        stem = f"{base}-{number}"
    return stem


def _place(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``, failing (FileExistsError) rather than replacing an existing file."""
    try:
        os.link(source, target)  # atomic, and refuses an existing target
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then move
        if target.exists():
            raise FileExistsError(target) from None
        shutil.move(str(source), str(target))
        return
    source.unlink()


def publish_checkpoint(source_stem: str | Path, folder: Path, base: str, other_folders: list[Path] = (),
                       stamped: bool = True, attempts: int = 20) -> Path:
    """Move the checkpoint pair ``<source_stem>.safetensors/.json`` into ``folder`` under a unique name.

    The name is :func:`unique_stem` of ``base`` over ``folder`` and ``other_folders`` (the shipped
    models). Returns the new stem (path without suffix). Never replaces an existing file: when
    another session takes the name between the check and the move, the next name is tried.
    """
    source_stem = Path(source_stem)
    folders = [Path(folder), *map(Path, other_folders)]
    Path(folder).mkdir(parents=True, exist_ok=True)
    for _ in range(attempts):
        stem = unique_stem(base, folders, stamped)
        placed: list[Path] = []
        try:
            for suffix in CHECKPOINT_SUFFIXES:
                target = Path(folder) / (stem + suffix)
                _place(Path(str(source_stem) + suffix), target)
                placed.append(target)
        except FileExistsError:
            for target in placed:  # give back what this attempt took, try the next name
                os.replace(target, Path(str(source_stem) + target.suffix))
            continue
        return Path(folder) / stem
    raise FileExistsError(f"could not find a free model name for {base!r} in {folder} after {attempts} tries")
