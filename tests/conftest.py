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


@pytest.fixture
def one_torch_thread():
    """Tiny dense batches: on a shared 2-core machine several torch threads are far slower than one."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _hypothesis_profile() -> None:
    """Property tests draw the same examples on every run (CI must not turn red on a new random draw);
    ``HYPOTHESIS_PROFILE=explore`` draws new ones locally."""
    import os

    from hypothesis import settings

    settings.register_profile("fixed", derandomize=True)
    settings.register_profile("explore", derandomize=False)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))


_hypothesis_profile()
