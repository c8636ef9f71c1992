"""The upload page ("Bring your own graph") under Streamlit's AppTest.

AppTest cannot drive ``st.file_uploader``: files come in through ``session_state["upload_bytes"]``
/ ``["upload_name"]`` (which the page reads) or the example selectbox.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from core.model.checkpoint import save_checkpoint  # noqa: E402
from core.data.features import FeatureSpec  # noqa: E402
from core.data.io.base import GraphInputError
from core.data.io.reader import read_graph  # noqa: E402
from core.model.diffpool import DiffPool, DiffPoolConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "viz_app" / "pages" / "upload.py"
EXAMPLES = ROOT / "viz_app" / "examples"
TIMEOUT = 60
BROKEN = b"graph [ node [ id 1 ] edge [ source 1 target 9 ] "


@pytest.fixture
def empty_models(tmp_path, monkeypatch):
    """No user models and no shipped ones (the shipped degree+spectral models fit any graph)."""
    monkeypatch.setenv("DIFFPOOL_MODELS", str(tmp_path))
    monkeypatch.setenv("DIFFPOOL_PRETRAINED", str(tmp_path / "no-shipped-models"))
    return tmp_path


def _page() -> AppTest:
    return AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)


def _load(at: AppTest, data: bytes, name: str) -> AppTest:
    at.session_state["upload_bytes"] = data
    at.session_state["upload_name"] = name
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _open_tab(at: AppTest, name: str) -> AppTest:
    """The upload page's tabs are lazy: only the open one renders."""
    at.session_state["upload_tab"] = name
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


COMPARE = "Compare with classical clustering"


def test_valid_file_shows_clusters_comparison_and_exports(empty_models):
    at = _load(_page(), (EXAMPLES / "karate-club.gml").read_bytes(), "karate-club.gml")
    assert not at.error
    assert at.subheader[0].value == "karate-club.gml"
    assert "Fitted DiffPool" in at.success[0].value
    assert len(at.get("iframe")) == 1  # the input graph (pyvis); the coarsened level is a plotly figure
    assert any("Coarsened graph after pooling 1" in str(chart.proto.spec) for chart in at.get("plotly_chart"))
    assert not at.dataframe  # Louvain/spectral not computed until their tab is opened
    _open_tab(at, COMPARE)
    table = at.dataframe[0].value
    assert list(table.index) == ["DiffPool (level 1)", "Leiden", "Louvain", "Spectral (k=4)"]
    assert {"modularity", "conductance (mean)", "NMI vs Louvain", "ARI vs Louvain"} <= set(table.columns)
    _open_tab(at, "Export")
    assert len(at.get("download_button")) >= 3

    _open_tab(at, COMPARE)
    at.selectbox(key="upload_truth").select("club").run()
    assert not at.exception
    assert "ground truth" in at.dataframe[0].value.index
    assert any(m.label.startswith("DiffPool (level 1) vs club") for m in at.metric)


def test_invalid_file_shows_the_reader_message_and_keeps_the_last_graph(empty_models):
    with pytest.raises(GraphInputError) as expected:
        read_graph(BROKEN, filename="broken.gml")
    at = _load(_page(), (EXAMPLES / "karate-club.gml").read_bytes(), "karate-club.gml")
    at.session_state["upload_tab"] = COMPARE
    _load(at, BROKEN, "broken.gml")
    assert [e.value for e in at.error] == [str(expected.value)]
    assert at.subheader[0].value == "karate-club.gml"  # the last good graph is still displayed
    assert len(at.dataframe) == 1 and "Fitted DiffPool" in at.success[0].value
    assert any("Still showing the last graph" in c.value for c in at.caption)

    _load(at, b"a b\nb c\nc a\nc d\n", "tiny.txt")  # a good file clears the error
    assert not at.error and at.subheader[0].value == "tiny.txt"


def test_example_selectbox_and_a_two_level_fit(empty_models):
    at = _page()
    at.run()
    assert not at.exception and at.info  # nothing loaded yet: an invitation, no error
    at.selectbox(key="upload_example").select("planted-4-blocks.graphml").run()
    assert not at.exception
    assert at.subheader[0].value == "planted-4-blocks.graphml"
    at.selectbox(key="upload_levels").select(2)
    at.number_input(key="upload_k1").set_value(4)
    at.number_input(key="upload_k2").set_value(2)
    at.number_input(key="upload_epochs").set_value(60)
    at.button[0].click().run()  # the form's submit button
    assert not at.exception, [e.value for e in at.exception]
    assert "4 → 2 clusters" in at.success[0].value
    assert at.radio(key="upload_level").options == ["level 1 (4 clusters)", "level 2 (2 clusters)"]
    _open_tab(at, COMPARE)
    at.selectbox(key="upload_truth").select("block").run()
    assert "ground truth" in at.dataframe[0].value.index


def test_pretrained_lists_only_structure_only_models(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_MODELS", str(tmp_path))
    for name, spec in (("degree-model", FeatureSpec("degree", max_degree=20)),
                       ("labels-model", FeatureSpec("labels", num_node_labels=3))):
        torch.manual_seed(0)
        config = DiffPoolConfig(input_dim=spec.dim, num_classes=2, num_pooling=1, cluster_counts=[3])
        save_checkpoint(tmp_path / name, DiffPool(config), spec, {"dataset": "synthetic-hierarchy", "seed": 0})
    at = _load(_page(), (EXAMPLES / "karate-club.gml").read_bytes(), "karate-club.gml")
    at.radio(key="upload_method").set_value("Apply a pretrained model").run()
    assert not at.exception, [e.value for e in at.exception]
    options = at.selectbox(key="upload_model").options
    assert any("degree-model" in o for o in options)  # pretrained/ may hold more structure-only models
    assert not any("labels-model" in o for o in options)
    at.selectbox(key="upload_model").set_value(str(tmp_path / "degree-model")).run()
    assert not at.exception
    assert "degree-model" in at.selectbox(key="upload_model").value
    _open_tab(at, COMPARE)
    assert at.dataframe[0].value.loc["DiffPool (level 1)", "clusters"] <= 3


def test_pretrained_without_compatible_models_explains_why(empty_models):
    at = _load(_page(), (EXAMPLES / "karate-club.gml").read_bytes(), "karate-club.gml")
    at.radio(key="upload_method").set_value("Apply a pretrained model").run()
    assert not at.exception
    assert any("No compatible model" in i.value for i in at.info)


def test_navigation_reaches_the_page(empty_models):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("viz_app/pages/upload.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Bring your own graph"


def test_a_failed_level_is_said_in_words_and_the_banner_is_not_green(empty_models):
    at = _page()
    at.run()
    at.selectbox(key="upload_example").select("karate-club.gml").run()
    at.selectbox(key="upload_levels").select(2)
    at.number_input(key="upload_k1").set_value(30)  # 30 clusters on 34 nodes: level 1 cannot be healthy
    at.number_input(key="upload_k2").set_value(20)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.success  # never "fitted" in green over a failed level
    warning = " ".join(w.value for w in at.warning)
    assert "Level 1 (30 clusters): **fragmented**" in warning and "Try fewer clusters" in warning
    assert "Level 2 (20 clusters): **healthy**" in warning


def test_an_edgeless_graph_is_warned_about_and_its_clusters_are_not_called_healthy(empty_models):
    graphml = (b'<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
               b'<graph edgedefault="undirected">' + b"".join(b'<node id="n%d"/>' % i for i in range(8))
               + b"</graph></graphml>")
    at = _load(_page(), graphml, "isolated.graphml")
    assert any("This graph has no edges" in w.value for w in at.warning)
    assert not at.success  # its fit used to read "healthy: ... connected regions of the graph"
    warning = " ".join(w.value for w in at.warning)
    assert "**fragmented**" in warning and "The graph has no edges, so clusters of several nodes" in warning
    assert "without edges there is no structure to pool by" in warning and "Try fewer clusters" not in warning


def test_the_form_shows_the_settings_of_the_fit_on_screen(empty_models):
    from viz_app.upload_logic import community_count, default_cluster_counts

    at = _page()
    at.run()
    at.selectbox(key="upload_example").select("planted-4-blocks.graphml").run()
    at.number_input(key="upload_k1").set_value(4)
    at.number_input(key="upload_seed").set_value(3)
    at.button[0].click().run()
    assert "(4 clusters, seed 3)" in at.success[0].value
    at.selectbox(key="upload_example").select("karate-club.gml").run()  # a new graph: fitted with the defaults
    assert not at.exception, [e.value for e in at.exception]
    karate = read_graph((EXAMPLES / "karate-club.gml").read_bytes(), filename="karate-club.gml")
    default = default_cluster_counts(34, 1, community_count(karate.sparse_adjacency()))[0]
    assert f"({default} clusters, seed 0)" in at.success[0].value
    assert at.number_input(key="upload_k1").value == default and at.number_input(key="upload_seed").value == 0
    at.selectbox(key="upload_example").select("planted-4-blocks.graphml").run()  # back: its own fit and settings
    assert "(4 clusters, seed 3)" in at.success[0].value
    assert at.number_input(key="upload_k1").value == 4 and at.number_input(key="upload_seed").value == 3


def _lfr_like_gml() -> bytes:
    """Two 6-cliques joined by one edge; node 5 belongs to both groups (GML repeats the key)."""
    lines = ["graph [", "  directed 0"]
    for i in range(12):
        groups = [0, 1] if i == 5 else [0 if i < 6 else 1]
        lines.append(f"  node [ id {i} " + " ".join(f"community {g}" for g in groups) + " ]")
    for block in (range(6), range(6, 12)):
        nodes = list(block)
        lines += [f"  edge [ source {a} target {b} ]" for k, a in enumerate(nodes) for b in nodes[k + 1:]]
    lines += ["  edge [ source 5 target 6 ]", "]"]
    return "\n".join(lines).encode()


def test_a_list_valued_attribute_serves_as_overlapping_ground_truth(empty_models):
    at = _load(_page(), _lfr_like_gml(), "two-cliques.gml")
    at = _open_tab(at, COMPARE)
    box = at.selectbox(key="upload_truth")
    assert "community" in box.options
    box.set_value("community").run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert "overlapping communities" in text and "first" in text
    labels = {m.label: m.value for m in at.metric}
    overlapping = [v for k, v in labels.items() if k.endswith("overlapping NMI")]
    assert overlapping and all(0.0 <= float(v) <= 1.0 for v in overlapping)


def test_upload_shows_the_trace_tabs_explore_shows(empty_models):
    """Explore and Upload draw Hierarchy, Assignments and Entropy with one module (viz_app.trace_tabs)."""
    from viz_app.trace_tabs import SHARED_TABS

    for page in ("explore", "upload"):
        assert "trace_tabs.show_trace_tabs(" in (ROOT / "viz_app" / "pages" / f"{page}.py").read_text(encoding="utf-8")
    at = _load(_page(), (EXAMPLES / "karate-club.gml").read_bytes(), "karate-club.gml")
    assert [tab.label for tab in at.tabs][:3] == list(SHARED_TABS)
    _open_tab(at, "Entropy")
    assert {"Mean entropy", "log C bound", "Clusters used", "Effective clusters"} <= {m.label for m in at.metric}
    assert any(c.value.startswith("Black = decided node") for c in at.caption)  # the entropy drawn on the graph
    _open_tab(at, "Assignments")
    assert any("A' = SᵀAS" in c.value for c in at.caption)


@pytest.mark.parametrize("example, groups", [("caveman-5x6.mtx", 5), ("planted-3-groups.net", 3),
                                             ("planted-4-blocks.graphml", 4)])
def test_the_default_fit_uses_as_many_clusters_as_the_graph_has_communities(empty_models, example, groups):
    """Planted groups the √(N/2) rule missed (5 caves fitted with 4 clusters, 3 groups with 4, 4 blocks with
    5): the default is Louvain's community count, and the fit recovers the groups."""
    at = _page()
    at.run()
    at.selectbox(key="upload_example").select(example).run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"({groups} clusters, seed 0)" in at.success[0].value
    assert f"Every level is healthy: level 1: {groups} clusters used" in at.success[0].value
    assert at.number_input(key="upload_k1").value == groups
    assert f"the {groups} communities Louvain finds" in at.number_input(key="upload_k1").help
