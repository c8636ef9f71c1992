"""bench/fit_quality.py's real graphs with known groups, and the fit on one of them."""

from __future__ import annotations

import numpy as np
import pytest

from bench import fit_quality
from core.analysis.clustering import modularity, spectral_clusters
from core.train.fit import FitSettings, fit_graph

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_on_real_wikipedia_links_the_fit_follows_the_topics_better_than_spectral_clustering():
    """A real graph with known groups that we did not make: scikit-network's links between 30 Wikipedia
    articles, 10 each on art, philosophy and science. The bench's full row (bench/results/fit_quality.md)
    sets it beside Leiden too."""
    pytest.importorskip("sknetwork")
    graph, topics = fit_quality.art_philo_science_graph()
    assert (graph.num_nodes, np.bincount(topics).tolist()) == (30, [10, 10, 10])
    spectral = float(np.median([fit_quality.nmi(topics, spectral_clusters(graph, 3, seed=s)) for s in range(3)]))
    for seed in range(3):
        fit = fit_graph(graph, FitSettings(cluster_counts=[3], seed=seed))
        labels = fit.trace.levels[0].hard_assignment
        assert fit_quality.nmi(topics, labels) > spectral + 0.05, seed
        assert [d["verdict"] for d in fit.diagnoses] == ["healthy"]
        # what the fit maximises (modularity at its resolution) it finds at least as well as Leiden at K = 3
        leiden, _ = fit_quality.leiden_at_k(graph, 3, seed=seed)
        resolution = fit.settings.resolution
        assert modularity(graph, labels, resolution) >= modularity(graph, leiden, resolution) - 1e-9


def test_the_connectome_loaders_give_each_node_its_known_group():
    if fit_quality.graspologic_data() is None:
        pytest.skip("graspologic's data is not installed (pip install --no-deps graspologic==3.4.4)")
    graph, blocks = fit_quality.mouse_connectome("block")
    _, hemispheres = fit_quality.mouse_connectome("hemisphere")
    assert graph.num_nodes == 332 and blocks.max() + 1 == 14 and hemispheres.max() + 1 == 2
    assert np.bincount(hemispheres).tolist() == [166, 166]
    # every superstructure lies in one hemisphere
    assert all(len(np.unique(hemispheres[blocks == b])) == 1 for b in range(14))
    fly, cell_types = fit_quality.drosophila_graph()
    assert fly.num_nodes == len(cell_types) and cell_types.max() + 1 == 4
