"""Node features: which input a model sees, recorded so a checkpoint can rebuild it.

Kinds (as in the reference code's feature options):

- ``labels``: one-hot categorical node labels (k dims).
- ``attributes``: the numeric node attributes (D dims).
- ``labels+attributes``: both, concatenated (k + D dims).
- ``degree``: one-hot of min(degree, max_degree) plus log(1 + degree) (max_degree + 2 dims).
  Needs only structure, so a model trained on it applies to any uploaded graph.
- ``constant``: a single 1 per node.

Any kind may add ``positional_dim`` Laplacian eigenvectors (see ``degree+spectral``) after its own
columns: ``FeatureSpec("labels+attributes", ..., positional_dim=8)`` keeps what the nodes are and
adds where they sit, which is what lets a pooling GNN form connected clusters instead of buckets
of alike nodes (``python -m core.train --positional 8``).
- ``degree+spectral``: ``degree`` plus ``spectral_dim`` Laplacian eigenvectors (positional
  encodings, Dwivedi et al. 2020). Degree alone gives every node of the same local shape the same
  features, so a GNN cannot send two alike communities to different clusters; the eigenvectors
  say *where* a node sits. Needs only structure, like ``degree``.

Eigenvectors are not unique where eigenvalues repeat (several components, symmetric leaves: most
ENZYMES and PROTEINS graphs) or where two entries of a vector tie in magnitude (which entry sets the
sign?). ``eigenbasis="canonical"`` (the default) picks one basis by a rule of the graph alone, so
every CPU builds the same features; ``"solver"`` keeps what LAPACK returns, which differs between
CPUs on such graphs. Cards written before the rule existed read as ``"solver"``.

Example
-------
>>> from core.data.graphs import Graph
>>> spec = FeatureSpec(kind="degree", max_degree=3)
>>> spec.build(Graph.from_edge_list(3, [(0, 1), (1, 2)])).shape
(3, 5)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from core.data.graphs import Graph, GraphDataset

FEATURE_KINDS = ("labels", "attributes", "labels+attributes", "degree", "constant", "degree+spectral")
STRUCTURAL_KINDS = ("degree", "constant", "degree+spectral")
EIGENBASES = ("canonical", "solver")
#: Eigenvalues of D^-1/2 A D^-1/2 closer than this (in a chain) span one eigenspace; solvers agree to
#: ~1e-13, distinct eigenvalues of TU graphs lie far further apart.
EIGENVALUE_TIE = 1e-6
#: Projector diagonals closer than this (relative to the largest) tie; the lower node index wins.
PIVOT_TIE = 1e-6


@dataclass(frozen=True)
class FeatureSpec:
    """How node features are built; stored in every model card."""

    kind: str = "degree"
    num_node_labels: int = 0
    attribute_dim: int = 0
    max_degree: int = 20
    spectral_dim: int = 8
    positional_dim: int = 0
    #: How eigenvectors are chosen where they are not unique (see the module notes).
    eigenbasis: str = "canonical"

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise ValueError(f"unknown feature kind {self.kind!r}; choose one of {', '.join(FEATURE_KINDS)}")
        if self.positional_dim < 0:
            raise ValueError(f"positional_dim must be >= 0, got {self.positional_dim}")
        if self.eigenbasis not in EIGENBASES:
            raise ValueError(f"unknown eigenbasis {self.eigenbasis!r}; choose one of {', '.join(EIGENBASES)}")

    @property
    def uses_eigenvectors(self) -> bool:
        """Whether the features hold Laplacian eigenvectors (``degree+spectral`` or positional columns)."""
        return self.kind == "degree+spectral" or self.positional_dim > 0

    @property
    def solver_dependent(self) -> bool:
        """Whether another CPU may build other features for some graphs (eigenvectors as LAPACK returns them)."""
        return self.uses_eigenvectors and self.eigenbasis == "solver"

    @property
    def dim(self) -> int:
        """Feature dimension F (the kind's columns plus ``positional_dim``)."""
        return self._kind_dim + self.positional_dim

    @property
    def _kind_dim(self) -> int:
        if self.kind == "labels":
            return self.num_node_labels
        if self.kind == "attributes":
            return self.attribute_dim
        if self.kind == "labels+attributes":
            return self.num_node_labels + self.attribute_dim
        if self.kind == "degree":
            return self.max_degree + 2
        if self.kind == "degree+spectral":
            return self.max_degree + 2 + self.spectral_dim
        return 1

    def build(self, graph: Graph) -> np.ndarray:
        """float32 [N, F] features of ``graph``; raises ValueError if the graph lacks what the kind needs."""
        parts = []
        if self.kind in ("labels", "labels+attributes"):
            if graph.node_labels is None:
                raise ValueError(
                    f"feature kind {self.kind!r} needs node labels, but graph {graph.name!r} has none; "
                    "use a model trained on 'degree' or 'constant' features"
                )
            labels = np.clip(graph.node_labels, 0, self.num_node_labels - 1)
            parts.append(np.eye(self.num_node_labels, dtype=np.float32)[labels])
        if self.kind in ("attributes", "labels+attributes"):
            attributes = graph.node_attributes
            if attributes is None or attributes.shape[1] != self.attribute_dim:
                found = 0 if attributes is None else attributes.shape[1]
                raise ValueError(
                    f"feature kind {self.kind!r} needs {self.attribute_dim} node attributes, "
                    f"graph {graph.name!r} has {found}"
                )
            parts.append(attributes.astype(np.float32))
        if self.kind in ("degree", "degree+spectral"):
            degree = graph.degrees()
            onehot = np.eye(self.max_degree + 1, dtype=np.float32)[np.minimum(degree, self.max_degree)]
            parts.append(onehot)
            parts.append(np.log1p(degree).astype(np.float32)[:, None])
        if self.kind == "degree+spectral":
            parts.append(laplacian_eigenvectors(graph, self.spectral_dim, self.eigenbasis))
        if self.kind == "constant":
            parts.append(np.ones((graph.num_nodes, 1), dtype=np.float32))
        if self.positional_dim:
            parts.append(laplacian_eigenvectors(graph, self.positional_dim, self.eigenbasis))
        return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureSpec":
        """The spec a card describes; a card without ``eigenbasis`` predates the canonical basis ("solver")."""
        fields = ("kind", "num_node_labels", "attribute_dim", "max_degree", "spectral_dim", "positional_dim",
                  "eigenbasis")
        values = {k: data[k] for k in fields if k in data}
        values.setdefault("eigenbasis", "solver")
        return cls(**values)


#: Attribute of a :class:`Graph` holding its eigenvectors once computed (see :func:`remember_eigenvectors`).
_MEMO = "_eigenvectors"


def remember_eigenvectors(graphs: Iterable[Graph]) -> None:
    """Let :func:`laplacian_eigenvectors` keep its result on each of ``graphs`` (read-only arrays).

    For graphs whose features are built again and again: the app's cached datasets, where the
    dataset summary, the whole-dataset diagnosis and every trace build the same positional
    features (on D&D ~10 s of ``eigh`` per pass). Training builds features once and does not ask.
    The graphs must not change afterwards (a replaced edge array is noticed, an edited one is not).
    """
    for graph in graphs:
        graph.__dict__.setdefault(_MEMO, {})


def laplacian_eigenvectors(graph: Graph, dim: int, basis: str = "canonical") -> np.ndarray:
    """float32 [N, dim]: eigenvectors 2..dim+1 of the normalised Laplacian, scaled to unit RMS.

    ``basis="canonical"``: each eigenspace (eigenvalues within :data:`EIGENVALUE_TIE`) gets the basis
    that pivoted Gram-Schmidt makes of its projector's columns, the column with the largest diagonal
    first (ties to the lower node index), each vector positive at its pivot node. The projector is
    the same whatever basis the solver returned, so the features are a function of the graph and its
    node order. On a simple eigenvalue this is the old rule: the largest-magnitude entry positive.
    ``basis="solver"``: the solver's vectors with that sign rule (what cards before the canonical
    basis were trained on; not unique where eigenvalues repeat or entries tie).

    Missing columns (N ≤ dim) are zero. Dense ``eigh`` up to 2,000 nodes, else ``eigsh`` on the
    sparse normalised adjacency; for the canonical basis one connected component at a time, since
    ``eigsh`` finds one vector per eigenspace and alike components repeat their eigenvalues (on
    D&D's three graphs over 2,000 nodes the result matches a dense ``eigh``'s to 3e-5). Kept on the
    graph when it was handed to :func:`remember_eigenvectors`.
    """
    if basis not in EIGENBASES:
        raise ValueError(f"unknown eigenbasis {basis!r}; choose one of {', '.join(EIGENBASES)}")
    memo = graph.__dict__.get(_MEMO)
    key = (int(dim), id(graph.edges), id(graph.edge_weight), basis)
    if memo is not None and key in memo:
        return memo[key]
    out = _laplacian_eigenvectors(graph, dim, canonical=basis == "canonical")
    if memo is not None:
        out.setflags(write=False)
        memo[key] = out
    return out


def _laplacian_eigenvectors(graph: Graph, dim: int, canonical: bool = True, eigh=None) -> np.ndarray:
    """:func:`laplacian_eigenvectors` without the memo. ``eigh``: the dense symmetric eigensolver
    (matrix -> ascending eigenvalues, eigenvectors as columns; default ``np.linalg.eigh``), e.g.
    ``lambda a: scipy.linalg.eigh(a, driver="evr")`` to compare LAPACK's drivers."""
    eigh = eigh or np.linalg.eigh
    n = graph.num_nodes
    out = np.zeros((n, dim), dtype=np.float32)
    if n < 2 or dim == 0:
        return out
    adjacency = graph.sparse_adjacency()
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    inverse_sqrt = np.where(degree > 0, 1.0 / np.sqrt(np.maximum(degree, 1e-12)), 0.0)
    normalised = adjacency.multiply(inverse_sqrt[:, None]).multiply(inverse_sqrt[None, :]).tocsr()
    count = min(dim + 1, n)
    if n <= 2000:
        values, vectors = eigh(normalised.toarray().astype(np.float64))
        values, vectors = values[::-1], vectors[:, ::-1]  # largest of D^-1/2 A D^-1/2 = smallest of L
    elif canonical:
        values, vectors = _top_eigenpairs_by_component(normalised, count, eigh)
    else:
        values, vectors = _top_eigenpairs(normalised, count, n, whole_spaces=False)
    if canonical:
        vectors = _canonical_columns(values, vectors, count)
    else:
        vectors = vectors[:, :count]
        signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])])
        signs[signs == 0] = 1.0
        vectors = vectors * signs
    vectors = vectors[:, 1:count]
    out[:, : vectors.shape[1]] = (vectors * np.sqrt(n)).astype(np.float32)
    return out


def _top_eigenpairs(normalised, count: int, n: int, whole_spaces: bool) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` largest eigenpairs by ``eigsh``, in descending order; with ``whole_spaces``, more
    until the eigenspace at the cut is complete (as far as ``eigsh`` finds its multiplicity: within one
    connected component, where repeated low eigenvalues are rare)."""
    from scipy.sparse.linalg import eigsh

    k = count
    while True:
        values, vectors = eigsh(normalised.astype(np.float64), k=k, which="LA", v0=np.ones(n))
        order = np.argsort(-values)
        values, vectors = values[order], vectors[:, order]
        if not whole_spaces or k >= n - 1 or values[count - 1] - values[-1] > EIGENVALUE_TIE * len(values):
            return values, vectors
        k = min(n - 1, k + max(8, k))


def _top_eigenpairs_by_component(normalised, count: int, eigh=np.linalg.eigh) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` largest eigenpairs (and the rest of the eigenspace at the cut), in descending
    order, one connected component at a time: ``eigsh`` started from one vector finds one vector of
    each eigenspace, so alike components (whose eigenvalues repeat across them) must be solved apart.
    Components of up to 2,000 nodes by dense ``eigh`` (all their eigenpairs)."""
    from scipy.sparse.csgraph import connected_components

    n = normalised.shape[0]
    found, labels = connected_components(normalised, directed=False)
    values, columns = [], []
    for component in range(found):
        nodes = np.flatnonzero(labels == component)
        block = normalised[nodes][:, nodes]
        if len(nodes) <= 2000:
            part_values, part_vectors = eigh(block.toarray().astype(np.float64))
        else:
            part_values, part_vectors = _top_eigenpairs(block, count, len(nodes), whole_spaces=True)
        padded = np.zeros((n, len(part_values)))
        padded[nodes] = part_vectors
        values.append(part_values)
        columns.append(padded)
    values, vectors = np.concatenate(values), np.concatenate(columns, axis=1)
    order = np.argsort(-values, kind="stable")
    keep = order[values[order] >= values[order[min(count, len(order)) - 1]] - EIGENVALUE_TIE * len(order)]
    return values[keep], vectors[:, keep]


def _canonical_columns(values: np.ndarray, vectors: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` columns of the canonical basis of ``vectors`` (eigenvalues in descending order)."""
    columns, start = [], 0
    while start < len(values) and len(columns) < count:
        stop = start + 1
        while stop < len(values) and values[stop - 1] - values[stop] <= EIGENVALUE_TIE:
            stop += 1
        columns.extend(_canonical_space(vectors[:, start:stop], count - len(columns)))
        start = stop
    return np.stack(columns, axis=1)


def _canonical_space(space: np.ndarray, needed: int) -> list[np.ndarray]:
    """Pivoted Gram-Schmidt on the columns of the projector ``space @ space.T``: the first ``needed``
    vectors of a basis of the space that does not depend on which orthonormal ``space`` the solver
    returned (each vector depends only on the ones before it, so stopping early changes none)."""
    residual = space @ space.T
    basis = []
    for _ in range(min(needed, space.shape[1])):
        weight = np.einsum("ij,ij->j", residual, residual)
        pivot = int(np.flatnonzero(weight >= weight.max() * (1.0 - PIVOT_TIE))[0])
        vector = residual[:, pivot] / np.sqrt(weight[pivot])
        residual = residual - np.outer(vector, vector @ residual)
        basis.append(vector)
    return basis


def default_feature_spec(dataset: GraphDataset) -> FeatureSpec:
    """Node labels and attributes (concatenated) when present, else degree.

    The reference code changed over its history: an early ``benchmark_task`` used the node
    attributes when a dataset has them, the later ``benchmark_task_val`` the one-hot node labels.
    Both together keep what each version saw; on ENZYMES the labels alone score ~15 points lower
    (bench/results/features-labels/).

    A node-label file with a single value (COLLAB converted from the DGCNN format tags every
    node 0) says nothing about the nodes, so it counts as absent.
    """
    k, d = dataset.num_node_labels, dataset.node_attribute_dim
    k = k if k > 1 else 0
    if k and d:
        return FeatureSpec("labels+attributes", num_node_labels=k, attribute_dim=d)
    if k:
        return FeatureSpec("labels", num_node_labels=k)
    if d:
        return FeatureSpec("attributes", attribute_dim=d)
    return FeatureSpec("degree", max_degree=20)
