"""viz_app.cache: large graphs prepared in the background when Explore opens a dataset — the switch
then shows exactly what it would have computed itself, and never waits on a job that has not started."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("streamlit")

from core.data.features import FeatureSpec
from core.model.checkpoint import save_checkpoint
from core.model.diffpool import DiffPool, DiffPoolConfig
from viz_app import cache

DATASET = cache.SYNTHETIC


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> str:
    spec = FeatureSpec("degree", max_degree=20)
    torch.manual_seed(0)
    config = DiffPoolConfig(input_dim=spec.dim, num_classes=3, num_pooling=2, assign_ratio=0.25, max_nodes=80)
    stem = tmp_path_factory.mktemp("models") / "prepared-test"
    save_checkpoint(stem, DiffPool(config), spec, {"dataset": DATASET, "seed": 0})
    return str(stem)


@pytest.fixture
def fresh(monkeypatch):
    """Empty prepared-job registry for each test (it is process-wide in the app)."""
    monkeypatch.setattr(cache, "_prepared_jobs", lambda registry={}: registry)
    yield
    for group in cache._prepared_jobs().values():
        for job in group.values():
            job.cancel()


def selection(path: str) -> SimpleNamespace:
    return SimpleNamespace(model_path=path, device="cpu", dataset_name=DATASET, data_dir=None, usable=True)


def _wait(jobs) -> None:
    for job in jobs:
        job.result(timeout=120)


def test_graphs_above_the_threshold_are_queued_largest_first_once_per_model_and_dataset(model_path, fresh):
    sizes = cache.dataset_overview(DATASET, None)["sizes"]
    threshold = int(np.unique(sizes)[-3])  # graphs of the two largest sizes are above it
    queued = cache.start_preparing_large_graphs(selection(model_path), min_nodes=threshold)
    above = np.flatnonzero(sizes > threshold)
    assert sorted(queued) == above.tolist() and len(set(sizes[above])) == 2
    assert [sizes[i] for i in queued] == sorted((sizes[i] for i in queued), reverse=True)
    assert cache.start_preparing_large_graphs(selection(model_path), min_nodes=threshold) == []
    _wait(cache._prepared_jobs()[next(iter(cache._prepared_jobs()))].values())


def test_a_switch_to_a_prepared_graph_shows_what_it_would_compute_itself(model_path, fresh):
    from viz_app.network import input_graph_network

    sizes = cache.dataset_overview(DATASET, None)["sizes"]
    queued = cache.start_preparing_large_graphs(selection(model_path), min_nodes=int(sizes.max()) - 1)
    index = queued[0]
    assert queued == np.flatnonzero(sizes == sizes.max()).tolist()  # equal sizes: by index
    stamp = cache.stamp_of(model_path)
    job = cache._prepared_job(model_path, "cpu", DATASET, None, index, stamp)
    prepared = job.result(timeout=120)

    trace = cache.graph_trace(model_path, "cpu", DATASET, None, index, stamp)
    assert trace is prepared.trace
    own = cache._compute_trace(model_path, "cpu", DATASET, None, index, stamp)
    for mine, theirs in zip(trace.levels, own.levels):
        np.testing.assert_allclose(mine.assignment, theirs.assignment, atol=1e-6)
    # another thread may sum in another order: logits of this untrained model reach ~1e4
    np.testing.assert_allclose(trace.logits, own.logits, rtol=1e-5, atol=1e-6)

    positions = cache._compute_layout(DATASET, None, index)
    np.testing.assert_array_equal(cache.graph_layout(DATASET, None, index), positions)
    graph = cache.load_dataset(DATASET, None)[index]
    drawing = cache.input_network(model_path, "cpu", DATASET, None, index, stamp)
    assert drawing.html == input_graph_network(graph, own, positions, seed=cache.LAYOUT_SEED).html


def test_a_queued_job_is_cancelled_and_the_switch_computes_at_once(model_path, fresh):
    release = threading.Event()
    blocker = cache.background_pool().submit(release.wait, 60)  # the worker is busy (another dataset)
    try:
        sizes = cache.dataset_overview(DATASET, None)["sizes"]
        index = int(np.argmax(sizes))
        cache.start_preparing_large_graphs(selection(model_path), min_nodes=int(sizes[index]) - 1)
        stamp = cache.stamp_of(model_path)
        job = cache._prepared_job(model_path, "cpu", DATASET, None, index, stamp)
        assert cache._prepared_result(model_path, "cpu", DATASET, None, index, stamp) is None  # no wait
        assert job.cancelled()
        assert cache._prepared_layout(DATASET, None, index) is None  # the page lays the graph out itself
    finally:
        release.set()
        blocker.result(timeout=60)


def test_a_failed_job_leaves_the_switch_to_compute_it(model_path, fresh, monkeypatch):
    def broken(*args):
        raise RuntimeError("worker failed")

    monkeypatch.setattr(cache, "_prepare_graph", broken)
    sizes = cache.dataset_overview(DATASET, None)["sizes"]
    index = int(np.argmax(sizes))
    cache.start_preparing_large_graphs(selection(model_path), min_nodes=int(sizes[index]) - 1)
    stamp = cache.stamp_of(model_path)
    with pytest.raises(RuntimeError):
        cache._prepared_job(model_path, "cpu", DATASET, None, index, stamp).result(timeout=60)
    assert cache._prepared_result(model_path, "cpu", DATASET, None, index, stamp) is None


def test_only_the_latest_model_and_dataset_pairs_are_kept(model_path, fresh, monkeypatch):
    monkeypatch.setattr(cache, "_prepare_graph", lambda *args: None)
    sizes = cache.dataset_overview(DATASET, None)["sizes"]
    for device in ("cpu", "cuda:0", "cuda:1"):  # three pairs (the device is part of the key)
        cache.start_preparing_large_graphs(SimpleNamespace(model_path=model_path, device=device, dataset_name=DATASET,
                                                           data_dir=None, usable=True),
                                           min_nodes=int(sizes.max()) - 1)
    assert [key[1] for key in cache._prepared_jobs()] == ["cuda:0", "cuda:1"][-cache.PREPARED_PAIRS_KEPT:]


def test_one_shared_dataset_object_whatever_folder_the_caller_names(tu_dir):
    """The synthetic dataset does not depend on the data folder, and "" or a padded path name the same folder as
    None or the stripped one: one cached object each (Teaching asked without a folder and got a second copy)."""
    synthetic = cache.load_dataset(DATASET, None)
    assert cache.load_dataset(DATASET, str(tu_dir)) is synthetic and cache.load_dataset(DATASET, "") is synthetic
    enzymes = cache.load_dataset("ENZYMES", str(tu_dir))
    assert cache.load_dataset("ENZYMES", f"  {tu_dir} ") is enzymes
    assert enzymes is not synthetic and len(enzymes) == 600
