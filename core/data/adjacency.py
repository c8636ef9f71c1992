"""The input adjacency of a padded batch as an edge list, for DiffPool's first level.

Dense DiffPool multiplies by a [B, N, N] adjacency: O(B·N²·K) per product, most of it on
zeros for sparse graphs (D&D: ~290 nodes, ~1,400 directed edges per graph) and on padding.
:class:`SparseAdjacency` holds the same block-diagonal matrix as ``E`` weighted entries, and
:meth:`DiffPool.forward <core.model.DiffPool.forward>` accepts it wherever a dense first-level
adjacency goes: every product ``A @ H`` costs O(E·K), the coarsened ``Sᵀ A S`` costs
O(E·C + N·C²), and the link loss is expanded so that no N×N matrix is formed (see
:func:`core.model.pool_with_assignment`). Later levels (C×C) stay dense.

Shapes: ``B`` graphs, ``N`` padded nodes per graph. Entry ``e`` is ``A[b, i, j] = weights[e]``
stored as flat positions ``rows[e] = b·N + i`` and ``cols[e] = b·N + j``.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor


class SparseAdjacency:
    """Block-diagonal batch adjacency ``A: [B, N, N]`` stored as flat (row, col, weight) entries.

    ``x @ A`` is not defined; ``A @ x`` for ``x: [B, N, K]`` is (:meth:`matmul`). Duplicate
    (row, col) entries add up, as in a sparse COO matrix.
    """

    __slots__ = ("rows", "cols", "weights", "batch_size", "num_nodes", "_csr")

    #: How :meth:`matmul` multiplies on the CPU: ``"csr"`` (one sparse CSR × dense product) or ``"gather"``
    #: (gather the messages, sum them into rows: what it did before; bench/adjacency_formats.py times both).
    product = "csr"

    def __init__(self, rows: Tensor, cols: Tensor, weights: Tensor, batch_size: int, num_nodes: int) -> None:
        if not (rows.shape == cols.shape == weights.shape and rows.dim() == 1):
            raise ValueError(
                f"rows, cols and weights must be 1-D of one length, got {tuple(rows.shape)}, "
                f"{tuple(cols.shape)}, {tuple(weights.shape)}"
            )
        self.rows, self.cols, self.weights = rows.long(), cols.long(), weights
        self.batch_size, self.num_nodes = int(batch_size), int(num_nodes)
        self._csr: dict[tuple[torch.dtype, bool], Tensor] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dense(cls, adjacency: Tensor) -> "SparseAdjacency":
        """The non-zero entries of a dense ``[B, N, N]`` adjacency."""
        batch, i, j = adjacency.nonzero(as_tuple=True)
        size = adjacency.shape[1]
        return cls(batch * size + i, batch * size + j, adjacency[batch, i, j], adjacency.shape[0], size)

    def to_dense(self) -> Tensor:
        """The dense ``[B, N, N]`` tensor."""
        n = self.num_nodes
        dense = self.weights.new_zeros((self.batch_size * n, n))
        dense.index_put_((self.rows, self.cols % n), self.weights, accumulate=True)
        return dense.reshape(self.batch_size, n, n)

    def to(self, device: torch.device | str) -> "SparseAdjacency":
        return SparseAdjacency(self.rows.to(device), self.cols.to(device), self.weights.to(device),
                               self.batch_size, self.num_nodes)

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> torch.Size:
        return torch.Size((self.batch_size, self.num_nodes, self.num_nodes))

    @property
    def dtype(self) -> torch.dtype:
        return self.weights.dtype

    @property
    def device(self) -> torch.device:
        return self.weights.device

    @property
    def graph_of_entry(self) -> Tensor:
        """int64 [E]: the graph ``b`` each entry belongs to."""
        return torch.div(self.rows, self.num_nodes, rounding_mode="floor")

    # ------------------------------------------------------------------ algebra
    def matmul(self, x: Tensor) -> Tensor:
        """``A @ x`` for ``x: [B, N, K]`` -> ``[B, N, K]`` in O(E·K).

        On the CPU one sparse CSR × dense product (built once per adjacency and dtype, :meth:`csr`):
        forward and backward ~3.5× faster on one thread than gathering the messages (``index_select``)
        and summing them into rows (``index_add_``), at D&D's batch sizes; the same sums up to float
        rounding (tests/core/test_adjacency.py). Elsewhere, and for entries that need gradients, the gather.
        """
        if x.shape[:2] != (self.batch_size, self.num_nodes):
            raise ValueError(f"cannot multiply a {tuple(self.shape)} adjacency by x of shape {tuple(x.shape)}")
        flat = x.reshape(self.batch_size * self.num_nodes, x.shape[-1])
        # The gather path: differentiable in the entries too, and the one used on GPUs (where both are
        # launch-bound and the CSR product's backward was not tested: no GPU in the sessions that wrote it).
        if self.weights.requires_grad or SparseAdjacency.product == "gather" or x.device.type != "cpu":
            messages = flat.index_select(0, self.cols) * self.weights.unsqueeze(-1).to(x.dtype)
            return flat.new_zeros(flat.shape).index_add_(0, self.rows, messages).reshape(x.shape)
        return _CsrProduct.apply(self.csr(x.dtype), self.csr(x.dtype, transposed=True), flat).reshape(x.shape)

    __matmul__ = matmul

    def csr(self, dtype: torch.dtype | None = None, transposed: bool = False) -> Tensor:
        """The flat block-diagonal matrix ``[B·N, B·N]`` (or its transpose) as a torch sparse CSR tensor
        (duplicates kept: the product sums them, as a COO matrix would); cached per dtype. The
        transpose serves the product's backward, which would otherwise transpose (sort) on every call."""
        dtype = dtype or self.weights.dtype
        if (dtype, transposed) not in self._csr:
            size = self.batch_size * self.num_nodes
            rows, cols = (self.cols, self.rows) if transposed else (self.rows, self.cols)
            weights = self.weights.to(dtype)
            key = rows * size + cols
            if key.numel() > 1 and bool((key[1:] < key[:-1]).any()):  # batches come sorted; others may not
                order = torch.argsort(key)
                rows, cols, weights = rows[order], cols[order], weights[order]
            crow = torch.zeros(size + 1, dtype=torch.long, device=rows.device)
            crow[1:] = torch.bincount(rows, minlength=size).cumsum(0)
            with warnings.catch_warnings():  # "sparse CSR support is in beta": the product used here is stable
                warnings.simplefilter("ignore", UserWarning)
                self._csr[dtype, transposed] = torch.sparse_csr_tensor(crow, cols, weights, size=(size, size),
                                                                       check_invariants=False)
        return self._csr[dtype, transposed]

    def row_sums(self) -> Tensor:
        """``A.sum(-1)``: [B, N]."""
        sums = self.weights.new_zeros(self.batch_size * self.num_nodes).index_add_(0, self.rows, self.weights)
        return sums.reshape(self.batch_size, self.num_nodes)

    def mean(self) -> "SparseAdjacency":
        """Row-normalised ``A / max(rowsum, 1)`` (GraphSAGE mean aggregation), like
        :func:`core.model.mean_adjacency` for a dense tensor."""
        degree = self.row_sums().reshape(-1).clamp(min=1)
        return SparseAdjacency(self.rows, self.cols, self.weights / degree[self.rows], self.batch_size, self.num_nodes)

    def graph_max(self) -> Tensor:
        """Largest entry of each graph, at least 0: [B]."""
        out = self.weights.new_zeros(self.batch_size)
        return out.scatter_reduce(0, self.graph_of_entry, self.weights, reduce="amax", include_self=True)

    def graph_square_sums(self, scale: Tensor | None = None) -> Tensor:
        """``Σ_ij (A_bij / scale_b)²`` per graph: [B] (``scale`` [B], default 1)."""
        graph = self.graph_of_entry
        values = self.weights if scale is None else self.weights / scale[graph]
        return values.new_zeros(self.batch_size).index_add_(0, graph, values * values)


class _CsrProduct(torch.autograd.Function):
    """``A @ x`` for a constant sparse CSR ``A`` [M, M] and a dense ``x`` [M, K]; the backward multiplies
    by the transpose given with it (built once per batch adjacency) instead of transposing ``A`` anew."""

    @staticmethod
    def forward(ctx, matrix: Tensor, transposed: Tensor, x: Tensor) -> Tensor:
        ctx.transposed = transposed
        return torch.sparse.mm(matrix, x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return None, None, torch.sparse.mm(ctx.transposed, grad)
