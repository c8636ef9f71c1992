"""Stored traces (``core.model.trace.save_trace`` / ``load_trace``) and the torch-free floor of core.model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.data.synthetic import make_synthetic_hierarchy
from core.model.checkpoint import load_checkpoint
from core.model.inference import trace_graphs
from core.model.trace import load_trace, save_trace, stored_trace_key

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "pretrained" / "synthetic-hierarchy-diffpool"


@pytest.fixture(scope="module")
def default_trace():
    model, spec, card = load_checkpoint(DEFAULT)
    dataset = make_synthetic_hierarchy(num_graphs=4, seed=3)
    graph = dataset[2]
    trace = trace_graphs(model, [graph], spec, indices=[2], seed=card["seed"])[0]
    return dataset, graph, trace


def test_a_stored_trace_round_trips_exactly(default_trace, tmp_path):
    dataset, graph, trace = default_trace
    key = stored_trace_key(DEFAULT, dataset.name, 2, graph)
    save_trace(tmp_path / "t.npz", trace, key)
    back = load_trace(tmp_path / "t.npz", key)
    assert back is not None and back.meta["source"] == "stored" and back.graph_index == 2
    np.testing.assert_array_equal(back.adjacency, trace.adjacency)
    np.testing.assert_array_equal(back.logits, trace.logits)
    assert back.predicted == trace.predicted and back.label == trace.label
    assert len(back.levels) == len(trace.levels) == 2
    for old, new in zip(trace.levels, back.levels):
        for name in ("assignment", "assignment_scores", "coarsened_adjacency", "pooled_features", "node_embeddings",
                     "node_entropy"):
            np.testing.assert_array_equal(getattr(new, name), getattr(old, name))
        assert (new.link_loss, new.entropy_loss) == (old.link_loss, old.entropy_loss)


def test_a_stored_trace_answers_only_to_its_own_key(default_trace, tmp_path):
    dataset, graph, trace = default_trace
    key = stored_trace_key(DEFAULT, dataset.name, 2, graph)
    save_trace(tmp_path / "t.npz", trace, key)
    other_graph = stored_trace_key(DEFAULT, dataset.name, 2, dataset[1])
    assert other_graph["graph"] != key["graph"]
    assert load_trace(tmp_path / "t.npz", other_graph) is None
    assert load_trace(tmp_path / "t.npz", {**key, "graph_index": 3}) is None
    assert load_trace(tmp_path / "t.npz", {**key, "checkpoint": "0" * 64}) is None  # a retrained model
    assert load_trace(tmp_path / "missing.npz", key) is None
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    assert load_trace(tmp_path / "junk.npz", key) is None


def test_a_checkpoint_digest_changes_with_either_file(tmp_path):
    import shutil

    for suffix in (".safetensors", ".json"):
        shutil.copyfile(str(DEFAULT) + suffix, tmp_path / f"m{suffix}")
    graph = make_synthetic_hierarchy(num_graphs=1, seed=0)[0]
    before = stored_trace_key(tmp_path / "m", "x", 0, graph)
    card = json.loads((tmp_path / "m.json").read_text())
    card["note"] = "edited"
    (tmp_path / "m.json").write_text(json.dumps(card))
    assert stored_trace_key(tmp_path / "m", "x", 0, graph)["checkpoint"] != before["checkpoint"]


def test_a_stored_trace_is_never_unpickled(default_trace, tmp_path):
    """An .npz holding an object array (pickled) is refused, not executed."""
    dataset, graph, trace = default_trace
    key = stored_trace_key(DEFAULT, dataset.name, 2, graph)
    save_trace(tmp_path / "t.npz", trace, key)
    with np.load(tmp_path / "t.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["logits"] = np.array([object()], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)
    assert load_trace(tmp_path / "evil.npz", key) is None


def test_graph_content_digest_follows_what_a_model_reads():
    graph = make_synthetic_hierarchy(num_graphs=1, seed=0)[0]
    same = make_synthetic_hierarchy(num_graphs=1, seed=0)[0]
    assert graph.content_digest() == same.content_digest()
    same.name = "renamed"
    assert graph.content_digest() == same.content_digest()  # names are not model inputs
    edited = make_synthetic_hierarchy(num_graphs=1, seed=0)[0]
    edited.edges = edited.edges[1:]
    assert edited.content_digest() != graph.content_digest()


def test_the_torch_free_floor_of_core_model_imports_no_torch():
    code = ("import sys\n"
            "import core.model, core.model.card, core.model.compat, core.model.config, core.model.trace\n"
            "from core.model import ModelCard, check_compatibility, read_card, GraphTrace\n"
            "import core.data, core.analysis\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "from core.model import trace_graphs\n"
            "assert 'torch' in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
