"""Tests for core/data/features.py: which node features a dataset gets by default."""

from __future__ import annotations

import pytest

from core.data.features import default_feature_spec
from core.data.graphs import GraphDataset


@pytest.mark.parametrize("labels, attributes, expected", [
    (3, 18, "labels+attributes"),   # ENZYMES
    (82, 0, "labels"),              # D&D
    (0, 0, "degree"),               # IMDB-BINARY
    (1, 0, "degree"),               # COLLAB from the DGCNN format: every node tagged 0
    (1, 2, "attributes"),
])
def test_default_features_ignore_a_node_label_with_one_value(labels, attributes, expected):
    dataset = GraphDataset("toy", [], ["a", "b"], num_node_labels=labels, node_attribute_dim=attributes)
    spec = default_feature_spec(dataset)
    assert spec.kind == expected
    if expected == "degree":
        assert spec.dim > 1  # a constant one-hot would carry nothing


def test_remembered_eigenvectors_are_the_computed_ones_kept_read_only_on_the_graph():
    import numpy as np

    from core.data.features import laplacian_eigenvectors, remember_eigenvectors
    from core.data.synthetic import make_synthetic_hierarchy

    graphs = make_synthetic_hierarchy(num_graphs=3, seed=4).graphs
    fresh = [laplacian_eigenvectors(g, 6) for g in graphs]
    assert all("_eigenvectors" not in g.__dict__ for g in graphs)  # nothing kept unless asked
    remember_eigenvectors(graphs[:2])
    first = laplacian_eigenvectors(graphs[0], 6)
    np.testing.assert_array_equal(first, fresh[0])
    assert laplacian_eigenvectors(graphs[0], 6) is first and not first.flags.writeable
    assert laplacian_eigenvectors(graphs[0], 4) is not first  # another width is another entry
    np.testing.assert_array_equal(laplacian_eigenvectors(graphs[0], 4), fresh[0][:, :4])
    assert laplacian_eigenvectors(graphs[2], 6) is not laplacian_eigenvectors(graphs[2], 6)
    # a graph given other edges is computed again, not served the old graph's vectors
    graphs[1].edges = graphs[1].edges[: len(graphs[1].edges) // 2].copy()
    np.testing.assert_array_equal(laplacian_eigenvectors(graphs[1], 6),
                                  laplacian_eigenvectors(type(graphs[1])(graphs[1].num_nodes, graphs[1].edges), 6))


# ---------------------------------------------------------------------------- the canonical eigenbasis
def _cycles_and_star():
    """Three 5-cycles (eigenvalues of multiplicity 3 and 6) and a star whose 5 leaves are interchangeable."""
    from core.data.graphs import Graph

    edges = [(c * 5 + i, c * 5 + (i + 1) % 5) for c in range(3) for i in range(5)]
    edges += [(15, 16 + leaf) for leaf in range(5)]
    return Graph.from_edge_list(21, edges)


def _normalised_spectrum(graph):
    import numpy as np

    a = graph.sparse_adjacency().toarray().astype(np.float64)
    d = a.sum(axis=1)
    inv = np.where(d > 0, 1 / np.sqrt(np.maximum(d, 1e-12)), 0.0)
    values, vectors = np.linalg.eigh(a * inv[:, None] * inv[None, :])
    return values[::-1], vectors[:, ::-1]


def test_the_canonical_basis_does_not_depend_on_the_basis_the_solver_returned():
    import numpy as np

    from core.data.features import EIGENVALUE_TIE, _canonical_columns

    values, vectors = _normalised_spectrum(_cycles_and_star())
    groups = np.split(np.arange(len(values)), np.flatnonzero(-np.diff(values) > EIGENVALUE_TIE) + 1)
    assert max(len(g) for g in groups) >= 3  # the graph really has repeated eigenvalues
    reference = _canonical_columns(values, vectors, 12)
    rng = np.random.default_rng(0)
    for _ in range(5):
        rotated = vectors.copy()
        for group in groups:  # any orthonormal basis of each eigenspace, signs included
            q, _ = np.linalg.qr(rng.normal(size=(len(group), len(group))))
            rotated[:, group] = vectors[:, group] @ q
        assert not np.allclose(rotated[:, :12], vectors[:, :12])
        np.testing.assert_allclose(_canonical_columns(values, rotated, 12), reference, atol=1e-10)
    # orthonormal, and each vector is an eigenvector of its eigenvalue
    np.testing.assert_allclose(reference.T @ reference, np.eye(12), atol=1e-10)
    np.testing.assert_allclose(reference.T @ (vectors * values) @ vectors.T @ reference,
                               np.diag(values[:12]), atol=1e-10)


def test_canonical_features_agree_between_lapack_drivers_where_the_solvers_own_do_not(tu_dir, monkeypatch):
    import numpy as np
    import scipy.linalg

    from core.data.datasets import load_dataset
    from core.data.features import laplacian_eigenvectors

    graphs = load_dataset("ENZYMES", data_dir=tu_dir, download=False, progress=False).graphs[:60]
    built = {}
    for driver in ("evd", "evr", "ev"):
        monkeypatch.setattr(np.linalg, "eigh", lambda a, d=driver: scipy.linalg.eigh(a, driver=d))
        built[driver] = [(laplacian_eigenvectors(g, 16, "canonical"), laplacian_eigenvectors(g, 16, "solver"))
                         for g in graphs]
    solver_differs = 0
    for driver in ("evr", "ev"):
        for (canonical, solver), (canonical0, solver0) in zip(built[driver], built["evd"]):
            np.testing.assert_allclose(canonical, canonical0, atol=1e-5)
            solver_differs += not np.allclose(solver, solver0, atol=1e-3)
    assert solver_differs > 0  # the drivers do pick other bases: the check above means something


def test_on_a_simple_spectrum_the_canonical_basis_is_the_old_sign_rule_and_follows_a_permutation():
    import numpy as np

    from core.data.graphs import Graph
    from core.data.features import laplacian_eigenvectors

    rng = np.random.default_rng(3)
    n = 14
    edges = [(i, i + 1) for i in range(n - 1)] + [(i, j) for i in range(n) for j in range(i + 2, n)
                                                     if rng.random() < 0.25]
    graph = Graph.from_edge_list(n, edges)
    values, _ = _normalised_spectrum(graph)
    assert np.min(-np.diff(values)) > 1e-4  # simple spectrum: every eigenvector unique up to sign
    canonical = laplacian_eigenvectors(graph, 6, "canonical")
    np.testing.assert_allclose(canonical, laplacian_eigenvectors(graph, 6, "solver"), atol=1e-5)
    order = rng.permutation(n)
    position = np.argsort(order)
    permuted = Graph.from_edge_list(n, [(position[a], position[b]) for a, b in edges])
    np.testing.assert_allclose(laplacian_eigenvectors(permuted, 6, "canonical"), canonical[order], atol=1e-5)


def test_a_card_without_an_eigenbasis_reads_as_the_solvers_and_new_specs_are_canonical():
    import numpy as np

    from core.data.features import FeatureSpec, laplacian_eigenvectors

    old = FeatureSpec.from_dict({"kind": "labels", "num_node_labels": 3, "positional_dim": 16})
    assert old.eigenbasis == "solver" and old.solver_dependent
    new = FeatureSpec("labels", num_node_labels=3, positional_dim=16)
    assert new.eigenbasis == "canonical" and not new.solver_dependent
    assert FeatureSpec.from_dict(new.to_dict()) == new
    assert not FeatureSpec.from_dict({"kind": "degree"}).solver_dependent  # no eigenvectors, nothing to differ
    with pytest.raises(ValueError, match="eigenbasis"):
        FeatureSpec("degree", eigenbasis="lapack")
    with pytest.raises(ValueError, match="eigenbasis"):
        laplacian_eigenvectors(_cycles_and_star(), 4, "lapack")
    graph = _cycles_and_star()
    canonical, solver = laplacian_eigenvectors(graph, 8, "canonical"), laplacian_eigenvectors(graph, 8, "solver")
    assert not np.allclose(canonical, solver, atol=1e-3)  # repeated eigenvalues: the two bases differ here
    np.testing.assert_array_equal(FeatureSpec("degree+spectral").build(graph)[:, -8:], canonical)
    np.testing.assert_array_equal(FeatureSpec("degree+spectral", eigenbasis="solver").build(graph)[:, -8:], solver)


def test_over_2000_nodes_eigsh_gives_the_canonical_features_a_dense_solver_gives():
    """Two identical 1,100-node components: every eigenvalue repeats, the first one included."""
    import numpy as np

    from core.data.features import _canonical_columns, laplacian_eigenvectors
    from core.data.graphs import Graph

    rng = np.random.default_rng(5)
    half = 1100
    ring = [(i, (i + 1) % half) for i in range(half)]
    chords = [(int(a), int(b)) for a, b in rng.integers(0, half, size=(300, 2)) if a != b]
    edges = [(a + c * half, b + c * half) for c in range(2) for a, b in ring + chords]
    graph = Graph.from_edge_list(2 * half, edges)
    sparse = laplacian_eigenvectors(graph, 6, "canonical")  # > 2,000 nodes: eigsh
    values, vectors = _normalised_spectrum(graph)
    dense = (_canonical_columns(values, vectors, 7)[:, 1:] * np.sqrt(2 * half)).astype(np.float32)
    assert np.allclose(values[0], values[1]) and np.allclose(values[2], values[3])  # really repeated
    np.testing.assert_allclose(sparse, dense, atol=1e-3)
