"""Shared fixtures: the TU data directory beside the checkout (never the network)."""

from __future__ import annotations

import os
import sys
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


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Put the process's ``__main__`` back after every test.

    Streamlit's ``AppTest`` runs a page script as ``sys.modules["__main__"]`` and leaves it there.
    A later ``multiprocessing`` "spawn" worker in this process (the selection grid's ``run_jobs``)
    then runs that page script again on start-up, in every worker (found with py-spy: after
    ``tests/viz_app/test_app.py``, ``tests/bench/test_eigenbasis.py``'s workers each ran the Embeddings
    page, and the test took over 14 minutes instead of ~35 s).
    """
    main = sys.modules.get("__main__")
    yield
    if main is not None and sys.modules.get("__main__") is not main:
        sys.modules["__main__"] = main


def _hypothesis_profile() -> None:
    """Property tests draw the same examples on every run (CI must not turn red on a new random draw);
    ``HYPOTHESIS_PROFILE=explore`` draws new ones locally."""
    import os

    from hypothesis import settings

    settings.register_profile("fixed", derandomize=True)
    settings.register_profile("explore", derandomize=False)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))


_hypothesis_profile()
