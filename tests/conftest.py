"""Shared fixtures: the TU data directory beside the checkout (never the network)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_TU = Path(os.environ.get("DIFFPOOL_TEST_DATA", REPO_ROOT.parent / "shared" / "data" / "TU"))


@pytest.fixture(scope="session")
def tu_dir() -> Path:
    """``../shared/data/TU``; tests that need it skip when it is absent."""
    if not (SHARED_TU / "ENZYMES").is_dir():
        pytest.skip(f"TU test data not found at {SHARED_TU}")
    return SHARED_TU
