"""Stacked training: M DiffPool models of one shape trained as one batched computation.

Why: a DiffPool training step on ENZYMES-sized batches is a few hundred tiny tensor operations,
and on a CPU their fixed cost (dispatch, allocation, autograd bookkeeping) outweighs the
arithmetic. A stack of M models runs the *same* operations once with a leading model axis, so
that fixed cost is shared: every weight is held as ``[M, *shape]`` and every product is a
batched matmul over the M models (and their graphs).

Shapes: ``M`` models, ``B`` graphs per model per step (padded: a model whose batch is smaller
gets empty graphs), ``N`` padded nodes (the largest graph of any model's batch), ``F`` input
features, ``C`` clusters, ``D`` embedding width. ``node_mask: bool [M, B, N]`` marks real nodes,
``graph_mask: bool [M, B]`` real graphs.

Each model has its own batches, learning rate, weight decay, auxiliary-loss weights, dropout,
readout, Adam state, gradient clipping (per model, like ``clip_grad_norm_`` on that model
alone), validation-based epoch choice and early stopping; a model that stops is removed from
the stack, so it costs nothing afterwards. What must be shared is the *shape* (the same
:class:`~core.model.DiffPoolConfig` apart from :data:`PER_MODEL_FIELDS`).

Equivalence with training alone: padding never reaches a model's numbers (masked batch norm,
masked readout, auxiliary losses over real entries only — ``aux_normalization="real"``, the
default; ``"pyg"`` divides by the padded size and is refused), and each model's loss is its
own mean, so the gradient of the summed loss is each model's own gradient. What differs is
float rounding (other kernels, another summation order); ``tests/core/test_stacked.py``
checks a stack of 3 against 3 models trained alone on the same batches in float64: parameters
agree within 1e-9 after six Adam steps (~1e-11 measured). In float32 no tight parameter
tolerance holds for any two implementations: Adam divides each gradient by its running RMS, so
a parameter whose true gradient is ~0 moves by up to ``lr`` per step in the direction of its
rounding noise, and over epochs training amplifies such differences — the same model with its
dense and with its sparse adjacency drifts apart by the same order (training losses within ~5 %
after 8 ENZYMES epochs; ``bench/results/train_throughput-cpu-stacked-drift.md``). A float32
stack is therefore the same training up to rounding, not the same numbers after many epochs.
Dropout draws other random numbers than a model alone, so with dropout > 0 a stacked run is
statistically, not numerically, the same.

Parameters live in one flat tensor ``[M, P]`` (P = parameters per model) and their gradients
in another: one Adam update, one gradient-norm and one clipping operation serve all the
parameters of all the models. Only the dense adjacency is supported (stacks are for small
graphs; D&D-sized batches belong to the sparse path of a model alone).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from core.data.adjacency import SparseAdjacency
from core.data.batching import PreparedGraph, size_batches
from core.model.diffpool import (ENTROPY_EPS, LEARNED_ASSIGNMENT, DiffPool, DiffPoolConfig, _squared_link_error,
                                 padding_bias, row_softmax, structure_loss_per_graph)
from core.train.loop import FitResult, epoch_batches

# Config fields that may differ between the models of one stack (everything else is the shape).
PER_MODEL_FIELDS = ("link_loss_weight", "entropy_loss_weight", "dropout", "readout")
BATCH_NORM_EPS = 1e-5
BATCH_NORM_MOMENTUM = 0.1
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
# Largest padded graph a stack accepts: the adjacency is dense, [M, B, N, N] per step.
MAX_STACK_NODES = 1_000


class StackError(ValueError):
    """Models or settings that cannot be stacked (the message says which and why)."""


# ---------------------------------------------------------------------------- batches
@dataclass
class StackBatch:
    """One step's batches of all models, padded to common ``[M, B, N]``.

    x: [M, B, N, F].  adj: [M, B, N, N] dense, or a :class:`~core.data.adjacency.SparseAdjacency` over
    the M·B graphs (graph ``m·B + b``; O(E) products).  node_mask: bool [M, B, N].  graph_mask: bool [M, B].
    labels: long [M, B] (0 for padded graphs).  graphs: float [M] real graphs per model.
    fixed: per pooling level [M, B, n_l, C_l] row-stochastic assignments (fixed variants) or None.
    node_counts: real nodes per model (host ints; decide batch-norm fallbacks without a sync).
    """

    x: Tensor
    adj: Tensor | SparseAdjacency
    node_mask: Tensor
    graph_mask: Tensor
    labels: Tensor
    graphs: Tensor
    node_counts: list[int]
    graph_counts: list[int]
    fixed: list[Tensor] | None = None


def collate_stack(batches: list[list[PreparedGraph]], device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.float32, adjacency: str = "sparse") -> StackBatch:
    """Pad one batch per model (an empty list: that model sits this step out) into a :class:`StackBatch`.

    ``adjacency``: ``"sparse"`` (default) holds the input adjacency as an edge list, so the
    first level's products cost O(E) and the padding a stack adds (every model's batch padded to
    the largest graph of any model's batch) costs only O(N) per graph; ``"dense"``: [M, B, N, N].
    """
    if adjacency not in ("sparse", "dense"):
        raise StackError(f"adjacency must be 'sparse' or 'dense', got {adjacency!r}")
    models = len(batches)
    width_b = max(1, max(len(b) for b in batches))
    width_n = max([g.num_nodes for b in batches for g in b] or [1])
    if width_n > MAX_STACK_NODES:
        raise StackError(f"a batch holds a graph of {width_n} nodes; stacks use dense adjacencies and accept at most "
                         f"{MAX_STACK_NODES} (train such datasets one model at a time, with the sparse adjacency)")
    first = next(g for b in batches for g in b)
    features = first.features.shape[1]
    x = np.zeros((models, width_b, width_n, features), dtype=np.float32)
    sparse = adjacency == "sparse"
    adj = None if sparse else np.zeros((models, width_b, width_n, width_n), dtype=np.float32)
    rows, cols, weights = [], [], []
    node_mask = np.zeros((models, width_b, width_n), dtype=bool)
    graph_mask = np.zeros((models, width_b), dtype=bool)
    labels = np.zeros((models, width_b), dtype=np.int64)
    fixed = None
    if first.fixed:
        fixed = [np.zeros((models, width_b, width_n if level == 0 else f.shape[0], f.shape[1]), dtype=np.float32)
                 for level, f in enumerate(first.fixed)]
    for m, batch in enumerate(batches):
        for b, g in enumerate(batch):
            n = g.num_nodes
            x[m, b, :n] = g.features
            node_mask[m, b, :n] = True
            if sparse:
                offset = (m * width_b + b) * width_n
                rows.append(g.edges[0] + offset)
                cols.append(g.edges[1] + offset)
                weights.append(g.weights)
            else:
                adj[m, b, g.edges[0], g.edges[1]] = g.weights
            graph_mask[m, b] = True
            labels[m, b] = g.label
            for level, f in enumerate(g.fixed if fixed is not None else []):
                fixed[level][m, b, :f.shape[0]] = f

    def tensor(array: np.ndarray, cast: bool = False) -> Tensor:
        t = torch.from_numpy(array)
        return t.to(device=device, dtype=dtype) if cast else t.to(device)

    if sparse:
        row, col, weight = (np.concatenate(part) for part in (rows, cols, weights))
        # One entry per (row, col), as the dense tensor holds (repeated edges are not summed).
        _, first = np.unique(row * (models * width_b * width_n) + col, return_index=True)
        adj_value = SparseAdjacency(torch.from_numpy(row[first]), torch.from_numpy(col[first]),
                                    torch.from_numpy(weight[first]).to(dtype), models * width_b, width_n).to(device)
    else:
        adj_value = tensor(adj, True)
    return StackBatch(
        x=tensor(x, True), adj=adj_value, node_mask=tensor(node_mask), graph_mask=tensor(graph_mask),
        labels=tensor(labels), graphs=torch.tensor([float(len(b)) for b in batches], device=device, dtype=dtype),
        node_counts=[sum(g.num_nodes for g in b) for b in batches], graph_counts=[len(b) for b in batches],
        fixed=None if fixed is None else [tensor(f, True) for f in fixed],
    )


# ---------------------------------------------------------------------------- the stack
def _check_stackable(configs: list[DiffPoolConfig]) -> None:
    if not configs:
        raise StackError("a stack needs at least one model")
    shape = {k: v for k, v in configs[0].to_dict().items() if k not in PER_MODEL_FIELDS}
    for i, config in enumerate(configs[1:], start=1):
        other = {k: v for k, v in config.to_dict().items() if k not in PER_MODEL_FIELDS}
        if other != shape:
            differs = sorted(k for k in shape if shape[k] != other.get(k))
            raise StackError(f"model {i} differs from model 0 in {', '.join(differs)}: only "
                             f"{', '.join(PER_MODEL_FIELDS)} may differ within a stack")
    if configs[0].input_norm:
        raise StackError("stacking does not implement input_norm (a batch norm of the input features); "
                         "train these models one at a time")
    if configs[0].assign_only_dim:
        raise StackError("stacking does not implement assign_only_dim (positional columns for the assignment "
                         "GNN only); train these models one at a time")
    if configs[0].aux_normalization != "real":
        raise StackError("stacking needs aux_normalization='real': 'pyg' divides the auxiliary losses by the "
                         "padded batch size, which a stack changes")


class StackedDiffPool:
    """M :class:`~core.model.DiffPool` models of one shape as stacked tensors (see the module docstring).

    ``flat``: float [M, P] every parameter of every model (leaf, ``requires_grad``); ``params``
    maps each of DiffPool's parameter names to a view ``[M, *shape]`` of it, ``flat_grad`` holds
    the gradients the same way. ``buffers``: batch-norm running statistics, ``[M, *shape]``.
    """

    def __init__(self, models: list[DiffPool], device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        self.configs = [m.config for m in models]
        _check_stackable(self.configs)
        self.config = self.configs[0]
        self.device, self.dtype = torch.device(device), dtype
        named = list(models[0].named_parameters())
        self.layout: list[tuple[str, tuple[int, ...], int, int]] = []
        offset = 0
        for name, p in named:
            self.layout.append((name, tuple(p.shape), offset, offset + p.numel()))
            offset += p.numel()
        self.flat = torch.stack([
            torch.cat([p.detach().reshape(-1) for _, p in m.named_parameters()]) for m in models
        ]).to(device=device, dtype=dtype)
        self.buffers = {name: torch.stack([dict(m.named_buffers())[name].detach() for m in models]).to(device)
                        for name, _ in models[0].named_buffers()}
        for name, value in self.buffers.items():
            if value.is_floating_point():
                self.buffers[name] = value.to(dtype)
        self.link_weight = torch.tensor([c.link_loss_weight for c in self.configs], device=device, dtype=dtype)
        self.entropy_weight = torch.tensor([c.entropy_loss_weight for c in self.configs], device=device, dtype=dtype)
        self.dropouts = [float(c.dropout) for c in self.configs]
        self.readouts = [c.readout for c in self.configs]
        self.training = True
        self._bind()

    # -- parameters
    def _bind(self) -> None:
        """(Re)create the leaf tensor, its gradient buffer and the per-name views into both."""
        self.flat = self.flat.detach().requires_grad_(True)
        self.flat_grad = torch.zeros_like(self.flat)
        self.flat.grad = self.flat_grad
        models = self.flat.shape[0]
        self.params = {name: self.flat[:, start:end].view(models, *shape)
                       for name, shape, start, end in self.layout}

    @property
    def size(self) -> int:
        """M, the number of models in the stack."""
        return self.flat.shape[0]

    def select(self, keep: list[int]) -> None:
        """Keep only the models at positions ``keep`` (in that order)."""
        index = torch.as_tensor(keep, device=self.device, dtype=torch.long)
        self.flat = self.flat.detach().index_select(0, index)
        self.buffers = {k: v.index_select(0, index) for k, v in self.buffers.items()}
        self.link_weight = self.link_weight.index_select(0, index)
        self.entropy_weight = self.entropy_weight.index_select(0, index)
        self.dropouts = [self.dropouts[i] for i in keep]
        self.readouts = [self.readouts[i] for i in keep]
        self.configs = [self.configs[i] for i in keep]
        self._bind()

    def state_dict_of(self, position: int, flat_row: Tensor | None = None,
                      buffers: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        """A :class:`DiffPool` state dict of model ``position`` (or of a saved ``flat_row`` / ``buffers``)."""
        row = self.flat[position].detach() if flat_row is None else flat_row
        state = {name: row[start:end].view(shape).clone() for name, shape, start, end in self.layout}
        source = self.buffers if buffers is None else buffers
        for name, value in source.items():
            state[name] = (value[position] if buffers is None else value).clone()
        return state

    def snapshot(self, position: int) -> tuple[Tensor, dict[str, Tensor]]:
        """A copy of model ``position``'s parameters ([P]) and buffers, for :meth:`to_model`."""
        return (self.flat[position].detach().clone(),
                {k: v[position].clone() for k, v in self.buffers.items()})

    def to_model(self, position: int, saved: tuple[Tensor, dict[str, Tensor]] | None = None,
                 config: DiffPoolConfig | None = None) -> DiffPool:
        """Model ``position`` (or a :meth:`snapshot` of a model with ``config``) as a float32
        :class:`DiffPool` in eval mode, on the stack's device."""
        model = DiffPool(config or self.configs[position])
        state = self.state_dict_of(position) if saved is None else self.state_dict_of(0, *saved)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        return model.to(self.device).eval()

    def train(self, mode: bool = True) -> "StackedDiffPool":
        self.training = mode
        return self

    def eval(self) -> "StackedDiffPool":
        return self.train(False)

    # -- layers
    def _linear(self, name: str, x: Tensor) -> Tensor:
        """x: [M, R, F_in] -> [M, R, F_out] with each model's own weight [F_out, F_in] (and bias)."""
        weight = self.params[name + ".weight"].transpose(1, 2)
        bias = self.params.get(name + ".bias")
        if bias is None:
            return torch.bmm(x, weight)
        return torch.baddbmm(bias.unsqueeze(1), x, weight)

    def _batch_norm(self, name: str, x: Tensor, weight: Tensor, counts: list[int], active: Tensor | None) -> Tensor:
        """Batch norm over each model's real rows. x: [M, R, D], weight: [M, R, 1] (1 = real row).

        As :class:`core.model.MaskedBatchNorm`: biased variance to normalise, unbiased for the
        running estimate; a model with fewer than 2 real rows (training) uses its running
        statistics. ``active``: bool [M], models whose running statistics may move this step.
        """
        gamma, beta = self.params[name + ".weight"].unsqueeze(1), self.params[name + ".bias"].unsqueeze(1)
        running_mean, running_var = self.buffers[name + ".running_mean"], self.buffers[name + ".running_var"]
        if not self.training:
            scale = gamma * torch.rsqrt(running_var.unsqueeze(1) + BATCH_NORM_EPS)
            return torch.addcmul(beta - running_mean.unsqueeze(1) * scale, x, scale)
        count = torch.tensor(counts, device=x.device, dtype=x.dtype).clamp(min=1).view(-1, 1, 1)
        mean = (x * weight).sum(dim=1, keepdim=True) / count
        centered = (x - mean) * weight
        var = (centered * centered).sum(dim=1, keepdim=True) / count
        too_few = [c < 2 for c in counts]
        with torch.no_grad():
            unbiased = var * (count / (count - 1).clamp(min=1))
            moves = torch.tensor([not f for f in too_few], device=x.device)
            if active is not None:
                moves = moves & active
            step = (BATCH_NORM_MOMENTUM * moves.to(x.dtype)).view(-1, 1)
            running_mean.add_(step * (mean.squeeze(1) - running_mean))
            running_var.add_(step * (unbiased.squeeze(1) - running_var))
            self.buffers[name + ".num_batches_tracked"].add_(moves.long())
        if any(too_few):
            fallback = torch.tensor(too_few, device=x.device).view(-1, 1, 1)
            mean = torch.where(fallback, running_mean.unsqueeze(1), mean)
            var = torch.where(fallback, running_var.unsqueeze(1), var)
            centered = (x - mean) * weight
        return centered * (gamma * torch.rsqrt(var + BATCH_NORM_EPS)) + beta

    def _dropout(self, x: Tensor) -> Tensor:
        if not self.training or not any(p > 0 for p in self.dropouts):
            return x
        keep = 1.0 - torch.tensor(self.dropouts, device=x.device, dtype=x.dtype).view(-1, 1, 1)
        return x * (torch.rand_like(x) < keep).to(x.dtype) / keep

    def _block(self, name: str, x: Tensor, adj_mean: Tensor, weight: Tensor, counts: list[int],
               active: Tensor | None) -> Tensor:
        """A GraphSAGE block: x [M, B, n, F], adj_mean [M·B, n, n] (or sparse), weight [M, B·n, 1] -> [M, B, n, D]."""
        models, graphs, nodes = x.shape[:3]
        layers = self.config.num_layers
        outputs = []
        for i in range(layers):
            if not isinstance(adj_mean, SparseAdjacency):
                adj_mean = adj_mean.reshape(models * graphs, nodes, nodes)
            aggregated = (adj_mean @ x.reshape(models * graphs, nodes, x.shape[-1])).reshape(models, graphs * nodes, -1)
            flat_x = x.reshape(models, graphs * nodes, x.shape[-1])
            h = self._linear(f"{name}.convs.{i}.lin_rel", aggregated)
            h = h + torch.bmm(flat_x, self.params[f"{name}.convs.{i}.lin_root.weight"].transpose(1, 2))
            if self.config.normalize_embedding:
                h = F.normalize(h, p=2.0, dim=-1)
            if i < layers - 1:
                h = F.relu(h)
                if self.config.batch_norm:
                    h = self._batch_norm(f"{name}.norms.{i}.norm", h, weight, counts, active)
                h = self._dropout(h)
            h = h * weight
            outputs.append(h)
            x = h.reshape(models, graphs, nodes, -1)
        return torch.cat(outputs, dim=-1).reshape(models, graphs, nodes, -1)

    def _readout(self, z: Tensor, mask: Tensor, graph_mask: Tensor) -> Tensor:
        """[M, B, n, D] -> [M, B, D] by each model's readout over real rows; empty graphs give 0."""
        results = {}
        for how in sorted(set(self.readouts)):
            if how == "max":
                value = (z + padding_bias(mask, z.dtype)).max(dim=2).values
                value = torch.where(graph_mask.unsqueeze(-1), value, torch.zeros((), dtype=z.dtype, device=z.device))
            else:
                value = (z * mask.unsqueeze(-1).to(z.dtype)).sum(dim=2)
                if how == "mean":
                    value = value / mask.sum(dim=2, keepdim=True).clamp(min=1).to(z.dtype)
            results[how] = value
        if len(results) == 1:
            return next(iter(results.values()))
        chosen = torch.stack([results[how] for how in self.readouts])  # [M(choice), M, B, D]
        index = torch.arange(len(self.readouts), device=z.device)
        return chosen[index, index]

    def forward(self, batch: StackBatch) -> tuple[Tensor, Tensor, Tensor]:
        """Logits [M, B, classes] and the summed auxiliary losses per model (link [M], entropy [M])."""
        return self._forward(batch)[:3]

    def _forward(self, batch: StackBatch) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """:meth:`forward` plus DMoN's structure loss per model ([M], summed over levels; None when
        ``structure_loss_weight`` is 0), averaged over each model's real graphs like
        :func:`core.model.diffpool.structure_loss` over one model's batch."""
        c = self.config
        models, graphs, nodes = batch.node_mask.shape
        active = None if all(batch.graph_counts) else torch.tensor([g > 0 for g in batch.graph_counts],
                                                                   device=self.device)
        mask = batch.node_mask
        weight = mask.to(self.dtype).reshape(models, graphs * nodes, 1)
        counts = batch.node_counts
        adj = batch.adj
        if isinstance(adj, SparseAdjacency):
            adj_mean = adj.mean()
        else:
            adj = adj.reshape(models * graphs, nodes, nodes)
            adj_mean = adj / adj.sum(dim=-1, keepdim=True).clamp(min=1)
        z = self._block("embed_blocks.0", batch.x, adj_mean, weight, counts, active)
        vectors = [self._readout(z, mask, batch.graph_mask)]
        link_total = torch.zeros(models, device=self.device, dtype=self.dtype)
        entropy_total = torch.zeros_like(link_total)
        structure_total = torch.zeros_like(link_total) if c.structure_loss_weight > 0 else None
        graph_weight = batch.graph_mask.to(self.dtype)
        assign_input = batch.x
        for level, clusters in enumerate(c.cluster_counts):
            if c.variant in LEARNED_ASSIGNMENT:
                hidden = self._block(f"assign_blocks.{level}", assign_input, adj_mean, weight, counts, active)
                logits = self._linear(f"assign_heads.{level}", hidden.reshape(models, graphs * nodes, -1))
                assignment = row_softmax(logits) * weight
            else:
                assignment = batch.fixed[level].reshape(models, graphs * nodes, clusters) * weight
            assignment = assignment.reshape(models * graphs, nodes, clusters)
            z_flat = z.reshape(models * graphs, nodes, -1)
            assignment_t = assignment.transpose(1, 2)
            pooled = assignment_t @ z_flat
            # Auxiliary losses over real entries only ("real" normalisation; see DiffPoolConfig).
            real_nodes = mask.sum(dim=-1).to(self.dtype)  # [M, B]
            if isinstance(adj, SparseAdjacency):
                coarsened = assignment_t @ (adj @ assignment)
                scale = adj.graph_max().clamp(min=1)
            else:
                coarsened = assignment_t @ adj @ assignment
                scale = adj.amax(dim=(1, 2)).clamp(min=1)
            squared_error = _squared_link_error(adj, assignment, coarsened, scale).reshape(models, -1).sum(dim=1)
            link = squared_error / (real_nodes * real_nodes).sum(dim=1).clamp(min=1)
            row_entropy = (-assignment * torch.log(assignment + ENTROPY_EPS)).reshape(models, -1).sum(dim=1)
            entropy = row_entropy / real_nodes.sum(dim=1).clamp(min=1)
            if c.variant != "diffpool-nolp":
                link_total = link_total + link
            entropy_total = entropy_total + entropy
            if structure_total is not None:
                per_graph = structure_loss_per_graph(adj, assignment, coarsened,
                                                     mask.reshape(models * graphs, nodes)).reshape(models, graphs)
                structure_total = structure_total + (per_graph * graph_weight).sum(dim=1) / batch.graphs.clamp(min=1)
            # The coarsened level has no padded nodes, only padded graphs.
            nodes = clusters
            mask = batch.graph_mask.unsqueeze(-1).expand(models, graphs, clusters)
            weight = mask.to(self.dtype).reshape(models, graphs * clusters, 1)
            counts = [g * clusters for g in batch.graph_counts]
            adj = coarsened
            adj_mean = adj / adj.sum(dim=-1, keepdim=True).clamp(min=1)
            assign_input = pooled.reshape(models, graphs, clusters, -1)
            z = self._block(f"embed_blocks.{level + 1}", assign_input, adj_mean, weight, counts, active)
            vectors.append(self._readout(z, mask, batch.graph_mask))
        h = torch.cat(vectors, dim=-1)
        linears = sorted({int(key.split(".")[1]) for key in self.params if key.startswith("classifier.")})
        for i, index in enumerate(linears):
            h = self._linear(f"classifier.{index}", h)
            if i < len(linears) - 1:
                h = F.relu(h)
        return h, link_total, entropy_total, structure_total

    def losses(self, batch: StackBatch) -> tuple[Tensor, Tensor]:
        """Per-model training loss [M] (cross-entropy mean over its real graphs + weighted auxiliary
        losses, as :meth:`DiffPool.loss`) and the logits [M, B, classes]."""
        logits, link, entropy, structure = self._forward(batch)
        models, graphs = batch.graph_mask.shape
        ce = F.cross_entropy(logits.reshape(models * graphs, -1), batch.labels.reshape(-1), reduction="none")
        ce = (ce.reshape(models, graphs) * batch.graph_mask.to(self.dtype)).sum(dim=1) / batch.graphs.clamp(min=1)
        loss = ce
        if self.config.variant in LEARNED_ASSIGNMENT:
            loss = loss + self.link_weight * link + self.entropy_weight * entropy
            if structure is not None:
                loss = loss + self.config.structure_loss_weight * structure
        return loss, logits


# ---------------------------------------------------------------------------- optimiser
class StackedAdam:
    """Adam (as ``torch.optim.Adam``, L2 weight decay) on a stack's flat parameters, one learning rate per model.

    ``step(active)`` updates only the models in ``active`` (bool [M]; None = all): the others
    keep their parameters, moments and step count, as if they had not been asked to step.
    Gradient clipping per model: :meth:`clip` scales each model's gradient to norm ≤ ``max_norm``
    like ``torch.nn.utils.clip_grad_norm_`` on that model alone.
    """

    def __init__(self, stack: StackedDiffPool, lr: list[float], weight_decay: list[float] | None = None) -> None:
        self.stack = stack
        models = stack.size
        self.lr = torch.tensor(lr, device=stack.device, dtype=stack.dtype).view(models, 1)
        self.weight_decay = torch.tensor(weight_decay or [0.0] * models, device=stack.device,
                                         dtype=stack.dtype).view(models, 1)
        self.exp_avg = torch.zeros_like(stack.flat, requires_grad=False)
        self.exp_avg_sq = torch.zeros_like(self.exp_avg)
        self.steps = torch.zeros((models, 1), device=stack.device, dtype=stack.dtype)
        self.any_decay = bool((self.weight_decay != 0).any())

    def select(self, keep: list[int]) -> None:
        index = torch.as_tensor(keep, device=self.stack.device, dtype=torch.long)
        for name in ("lr", "weight_decay", "exp_avg", "exp_avg_sq", "steps"):
            setattr(self, name, getattr(self, name).index_select(0, index))

    def zero_grad(self) -> None:
        self.stack.flat_grad.zero_()

    @torch.no_grad()
    def clip(self, max_norm: float) -> Tensor:
        """Scale each model's gradient to norm ≤ ``max_norm``; returns the norms before clipping ([M])."""
        norms = torch.linalg.vector_norm(self.stack.flat_grad, dim=1, keepdim=True)
        self.stack.flat_grad.mul_((max_norm / (norms + 1e-6)).clamp(max=1.0))
        return norms.squeeze(1)

    @torch.no_grad()
    def step(self, active: list[bool] | None = None) -> None:
        params, grad = self.stack.flat, self.stack.flat_grad
        beta1, beta2 = ADAM_BETAS
        if active is not None and not all(active):
            rows = torch.tensor([i for i, a in enumerate(active) if a], device=params.device, dtype=torch.long)
            self._update(rows)
            return
        self.steps += 1
        if self.any_decay:
            grad = grad + self.weight_decay * params
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias1 = 1 - beta1 ** self.steps
        bias2_sqrt = (1 - beta2 ** self.steps).sqrt()
        denom = (self.exp_avg_sq.sqrt() / bias2_sqrt).add_(ADAM_EPS)
        params.addcdiv_(self.exp_avg * (-self.lr / bias1), denom)

    def _update(self, rows: Tensor) -> None:
        """The Adam step for the models at ``rows`` only (a step where some models have no batch)."""
        beta1, beta2 = ADAM_BETAS
        params, grad = self.stack.flat, self.stack.flat_grad
        p, g = params.index_select(0, rows), grad.index_select(0, rows)
        m, v = self.exp_avg.index_select(0, rows), self.exp_avg_sq.index_select(0, rows)
        steps = self.steps.index_select(0, rows) + 1
        g = g + self.weight_decay.index_select(0, rows) * p
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        denom = (v.sqrt() / (1 - beta2 ** steps).sqrt()).add_(ADAM_EPS)
        p = p - self.lr.index_select(0, rows) / (1 - beta1 ** steps) * m / denom
        params.index_copy_(0, rows, p)
        self.exp_avg.index_copy_(0, rows, m)
        self.exp_avg_sq.index_copy_(0, rows, v)
        self.steps.index_copy_(0, rows, steps)


# ---------------------------------------------------------------------------- training
@dataclass
class StackMember:
    """One model of a stack: its data, shape and the settings it may have to itself.

    ``init_seed``: ``torch.manual_seed`` before the model is built (``core.train`` uses
    ``settings.seed + fold``); ``batch_seed``: epoch e's batches are drawn with ``batch_seed + e``
    (``core.train`` uses ``settings.seed``). With these, a member reproduces ``core.train``'s fit
    of the same fold (within float tolerance).
    """

    train: list[PreparedGraph]
    val: list[PreparedGraph]
    test: list[PreparedGraph]
    config: DiffPoolConfig
    lr: float = 1e-3
    weight_decay: float = 0.0
    init_seed: int = 0
    batch_seed: int = 0
    name: str = ""


def aligned_plans(plans: list[list[list[int]]], sizes: list[list[int]], seed: int) -> list[list[list[int]]]:
    """Reorder each model's epoch so that step ``s`` gives every model a batch of similar size.

    Each model's batches are ranked by their largest graph, then all models take their ranks in
    one shared random order: every model still sees each of its batches once, in a uniformly
    random order, but the stack pads each step to graphs of about one size (ENZYMES, 10 models:
    mean padded width 44 instead of 88 nodes).
    """
    longest = max(len(plan) for plan in plans)
    order = np.random.default_rng(seed).permutation(longest)
    aligned = []
    for plan, size in zip(plans, sizes):
        ranked = sorted(plan, key=lambda batch: max(size[i] for i in batch))
        # Spread a shorter plan's ranks over the longest one's so equal ranks mean equal sizes.
        slots = np.floor(np.arange(len(ranked)) * longest / max(len(ranked), 1)).astype(int)
        by_slot = dict(zip(slots.tolist(), ranked))
        aligned.append([by_slot[k] for k in order if k in by_slot])
    return aligned


def initial_models(members: list[StackMember]) -> list[DiffPool]:
    """Each member's freshly initialised model, seeded as ``core.train`` seeds a fit."""
    models = []
    for member in members:
        torch.manual_seed(member.init_seed)
        np.random.seed(member.init_seed)
        models.append(DiffPool(member.config))
    return models


@torch.no_grad()
def stack_accuracy(stack: StackedDiffPool, sets: list[list[PreparedGraph]], batch_size: int = 64) -> list[float | None]:
    """Accuracy of each model of ``stack`` (eval mode) on its own graph set (None for an empty set)."""
    stack.eval()
    plans = [size_batches([g.num_nodes for g in graphs], batch_size) if graphs else [] for graphs in sets]
    correct = torch.zeros(stack.size, device=stack.device)
    for step in range(max((len(p) for p in plans), default=0)):
        batches = [[graphs[i] for i in plan[step]] if step < len(plan) else [] for graphs, plan in zip(sets, plans)]
        batch = collate_stack(batches, stack.device, stack.dtype)
        logits, _, _ = stack.forward(batch)
        correct += ((logits.argmax(dim=-1) == batch.labels) & batch.graph_mask).sum(dim=1)
    counts = correct.tolist()
    return [counts[m] / len(graphs) if graphs else None for m, graphs in enumerate(sets)]


def train_stack(
    members: list[StackMember],
    epochs: int,
    batch_size: int = 20,
    clip: float = 2.0,
    batching: str = "bucket",
    patience: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    on_epoch: Callable[[int, int, dict], bool | None] | None = None,
    align: bool = False,
    adjacency: str = "sparse",
) -> list[FitResult]:
    """Train every member for up to ``epochs`` epochs as one stack, as ``core.train`` trains one alone.

    Per member and epoch: its own batches (``core.train.epoch_batches`` with its
    ``batch_seed + epoch``), one Adam step per batch after clipping its gradient to ``clip``,
    then validation and test accuracy; the model of the best validation epoch (ties -> earlier)
    is kept; with ``patience`` a member stops once its best epoch is ``patience`` epochs old.
    ``on_epoch(member, epoch, row)`` may return False to stop that member. A stopped member
    leaves the stack. Returns one :class:`core.train.FitResult` per member, in order (``seconds``:
    the stack's time divided by the number of members).

    ``align=False`` (default) keeps each member's batch order exactly as ``core.train`` draws it,
    so the stack reproduces training alone (within float rounding). ``align=True`` reorders each
    member's epoch by :func:`aligned_plans`: the same batches, in another uniformly random order,
    chosen so that the members' batches of one step have similar sizes — less padding, a
    statistically equivalent but not identical run.
    """
    device = torch.device(device)
    models = initial_models(members)
    stack = StackedDiffPool(models, device=device, dtype=dtype)
    optimizer = StackedAdam(stack, [m.lr for m in members], [m.weight_decay for m in members])
    live = list(range(len(members)))
    histories: list[list[dict]] = [[] for _ in members]
    best = [(-math.inf, 0, None) for _ in members]  # (val acc, epoch, snapshot)
    stopped = ["completed"] * len(members)
    start = time.perf_counter()
    sizes = [[g.num_nodes for g in m.train] for m in members]
    for epoch in range(1, epochs + 1):
        epoch_start = time.perf_counter()
        stack.train()
        plans = [epoch_batches(sizes[i], batch_size, members[i].batch_seed + epoch, batching) for i in live]
        if align:
            plans = aligned_plans(plans, [sizes[i] for i in live], seed=members[live[0]].batch_seed + epoch)
        loss_sum = torch.zeros(stack.size, device=device, dtype=torch.float64)
        correct_sum = torch.zeros(stack.size, device=device, dtype=torch.float64)
        for step in range(max(len(p) for p in plans)):
            batches = [[members[i].train[j] for j in plan[step]] if step < len(plan) else []
                       for i, plan in zip(live, plans)]
            batch = collate_stack(batches, device, dtype, adjacency)
            optimizer.zero_grad()
            loss, logits = stack.losses(batch)
            loss.sum().backward()
            if clip and clip > 0:
                optimizer.clip(clip)
            optimizer.step([len(b) > 0 for b in batches])
            loss_sum += loss.detach().double() * batch.graphs.double()
            correct_sum += ((logits.argmax(dim=-1) == batch.labels) & batch.graph_mask).sum(dim=1).double()
        losses, corrects = loss_sum.tolist(), correct_sum.tolist()
        val = stack_accuracy(stack, [members[i].val for i in live])
        test = stack_accuracy(stack, [members[i].test for i in live])
        seconds = time.perf_counter() - epoch_start
        leaving = []
        for position, i in enumerate(live):
            seen = max(len(members[i].train), 1)
            row = {"epoch": epoch, "train_loss": losses[position] / seen, "train_acc": corrects[position] / seen,
                   "val_acc": val[position], "test_acc": test[position], "seconds": seconds / len(live)}
            histories[i].append(row)
            if val[position] is None or val[position] > best[i][0]:
                best[i] = (-math.inf if val[position] is None else val[position], epoch, stack.snapshot(position))
            if on_epoch is not None and on_epoch(i, epoch, dict(row)) is False:
                stopped[i] = "callback"
            elif patience and val[position] is not None and epoch - best[i][1] >= patience:
                stopped[i] = "early-stopping"
            if stopped[i] != "completed":
                leaving.append(position)
        if leaving:
            keep = [p for p in range(len(live)) if p not in leaving]
            live = [live[p] for p in keep]
            if not live:
                break
            stack.select(keep)
            optimizer.select(keep)
    seconds = time.perf_counter() - start
    results = []
    for i, member in enumerate(members):
        _, best_epoch, saved = best[i]
        model = stack.to_model(0, saved, member.config) if saved is not None else models[i].to(device).eval()
        chosen = histories[i][best_epoch - 1] if histories[i] else {}
        results.append(FitResult(model=model, history=histories[i], best_epoch=best_epoch,
                                 val_acc=chosen.get("val_acc"), test_acc=chosen.get("test_acc"),
                                 seconds=seconds / len(members), stopped=stopped[i]))
    return results


# ---------------------------------------------------------------------------- cross-validation
def cross_validate_stacked(
    dataset,
    settings,
    progress: bool = True,
    command: str | None = None,
    align: bool = False,
) -> dict:
    """:func:`core.train.cross_validate` with the folds still to run trained as one stack.

    Same splits, seeds, initial weights, batches, protocol, fold files, checkpoint and summary as
    the unstacked run: with ``align=False`` a fold trained in the stack is the same training as
    that fold alone up to float rounding (which long float32 runs amplify, see the module
    docstring), so the fold files share the unstacked run's cache key and either run resumes
    the other. ``align=True`` (:func:`aligned_plans`: less padding, faster) changes the batch
    order, so its fold files get a key of their own (``<fingerprint>-aligned``) and are never
    mistaken for the unstacked run's. Each fold's ``seconds`` is the stack's time divided by
    its size; ``stack`` records the size. Refused (:class:`core.train.TrainingError`) under
    ``torchrun``, with ``snapshot_every`` and for datasets with graphs beyond
    :data:`MAX_STACK_NODES` nodes. ``settings.adjacency`` is ignored: a stack always uses the
    edge list (same values).
    """
    from tqdm.auto import tqdm

    from core.model.checkpoint import checkpoint_paths
    from core.train import distributed
    from core.train.crossval import (
        _add_cv_to_card,
        _load_cached_fold,
        _summary,
        _write_json,
        checkpoint_stem,
        fold_entry,
        record_fold,
    )
    from core.train.loop import _training_device
    from core.train.settings import TrainingError, feature_spec_for, model_config_for
    from core.train.splits import stratified_folds, stratified_holdout, stratified_subset

    if distributed.current_context().is_distributed:
        raise TrainingError("stacked folds run in one process; launch without torchrun")
    if settings.snapshot_every > 0:
        raise TrainingError("stacked folds record no assignment snapshots; drop --snapshot-every "
                                     "or train without stacking")
    if settings.input_norm:
        raise TrainingError("stacked folds do not implement --input-norm; train these folds without --stack-folds")
    if settings.positional_assign_only:
        raise TrainingError("stacked folds do not implement --positional-assign-only; train these folds without "
                            "--stack-folds")
    if dataset.max_nodes > MAX_STACK_NODES:
        raise TrainingError(
            f"{dataset.name}'s largest graph has {dataset.max_nodes} nodes; stacks hold dense per-node tensors "
            f"for graphs of at most {MAX_STACK_NODES}: train its folds without stacking")
    device = _training_device(settings.device, distributed.current_context())
    start = time.perf_counter()
    spec = feature_spec_for(dataset, settings.features, eigenbasis=settings.eigenbasis)
    config = model_config_for(dataset, spec, settings)
    labels_all = dataset.labels
    pool = stratified_subset(labels_all, settings.subset) if settings.subset else np.arange(len(dataset))
    labels = labels_all[pool]
    splits = stratified_folds(labels, settings.folds, settings.seed)
    fold_ids = settings.only_folds or list(range(settings.folds))[: settings.fold_limit or settings.folds]
    out_dir = Path(settings.out_dir) if settings.out_dir else None
    stem = checkpoint_stem(out_dir, dataset, settings) if out_dir else None
    fingerprint = settings.fingerprint() + ("-aligned" if align else "")

    cached: dict[int, dict] = {}
    if out_dir is not None:
        for fold in fold_ids:
            entry = _load_cached_fold(out_dir, fold, settings)
            if entry is None and align:
                entry = _load_aligned_fold(out_dir, fold, fingerprint, stem if fold == 0 else None)
            if entry is not None:
                cached[fold] = entry
    to_run = [f for f in fold_ids if f not in cached]
    members, indices = [], {}
    if to_run:
        needed = sorted({int(pool[p]) for f in to_run for part in splits[f] for p in part})
        prepared = dict(zip(needed, prepare_graphs_for(dataset, spec, config, settings, needed)))
        for fold in to_run:
            train_pos, test_pos = splits[fold]
            if settings.uses_validation:
                kept, held = stratified_holdout(labels[train_pos], settings.val_fraction,
                                                         settings.seed + fold)
                fit_pos, val_pos = train_pos[kept], train_pos[held]
            else:
                fit_pos, val_pos = train_pos, train_pos[:0]
            fit_idx, val_idx, test_idx = ([int(i) for i in pool[p]] for p in (fit_pos, val_pos, test_pos))
            indices[fold] = (fit_idx, val_idx, test_idx)
            members.append(StackMember(
                train=[prepared[i] for i in fit_idx], val=[prepared[i] for i in val_idx],
                test=[prepared[i] for i in test_idx], config=config, lr=settings.lr,
                weight_decay=settings.weight_decay, init_seed=settings.seed + fold, batch_seed=settings.seed,
                name=f"fold {fold}"))
    bar = tqdm(total=len(to_run) * settings.epochs, desc=f"{dataset.name} {settings.variant} ×{len(to_run)} stacked",
               unit="model-epoch", file=sys.stderr, disable=not progress, dynamic_ncols=True)

    def advance(member: int, epoch: int, row: dict) -> bool:
        bar.update(1)
        return True

    try:
        fitted = train_stack(members, settings.epochs, settings.batch_size, settings.clip, settings.batching,
                             settings.patience, device, on_epoch=advance, align=align) if members else []
    finally:
        bar.close()
    results: dict[int, dict] = {f: dict(cached[f], cached=True) for f in cached}
    for fold, result in zip(to_run, fitted):
        fit_idx, val_idx, test_idx = indices[fold]
        entry = fold_entry(fingerprint, fold, result, device, indices[fold],
                           stack={"models": len(to_run), "aligned_batches": align})
        if out_dir is not None:
            record_fold(out_dir, stem, entry, result, spec, dataset, settings, device, command)
        results[fold] = dict(entry, cached=False)
    ordered = [results[f] for f in fold_ids]
    summary = _summary(dataset, settings, ordered, device, time.perf_counter() - start, command, stem)
    summary["stacked"] = {"models": len(to_run), "aligned_batches": align}
    if out_dir is not None and settings.only_folds is None:
        _write_json(out_dir / "summary.json", summary)
        if stem is not None and all(p.is_file() for p in checkpoint_paths(stem)):
            _add_cv_to_card(stem, summary)
    return summary


def prepare_graphs_for(dataset, spec, config: DiffPoolConfig, settings, indices: list[int]) -> list[PreparedGraph]:
    """The dataset graphs at ``indices`` prepared as ``core.train`` prepares them."""
    from core.data.batching import prepare_graphs

    return prepare_graphs([dataset.graphs[i] for i in indices], spec, config.variant, config.cluster_counts,
                          settings.seed, indices)


def _load_aligned_fold(out_dir: Path, fold: int, fingerprint: str, checkpoint_stem_: Path | None) -> dict | None:
    """A fold file written by an aligned stacked run with these settings, else None."""
    import json

    from core.model.checkpoint import checkpoint_paths
    from core.train.crossval import FOLD_CACHE_VERSION, _fold_path

    path = _fold_path(out_dir, fold)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if data.get("version") != FOLD_CACHE_VERSION or data.get("fingerprint") != fingerprint:
        return None
    if checkpoint_stem_ is not None and not all(p.is_file() for p in checkpoint_paths(checkpoint_stem_)):
        return None
    return data
