"""Reference DiffPool built from PyTorch Geometric's dense operators (bench/test only).

The same architecture as :class:`core.model.DiffPool` (variant ``diffpool``, one or more
pooling levels) written the way PyG's ``examples/proteins_diff_pool.py`` does it: every graph
is padded to the dataset's largest graph (``ToDense``), the whole dataset is held as dense
tensors ``x: [G, N_max, F]``, ``adj: [G, N_max, N_max]``, ``mask: bool [G, N_max]`` and a
batch is a selection of rows of them.

- a block is ``num_layers`` ``DenseSAGEConv`` (ReLU, then ``BatchNorm1d`` over the channels of
  the real nodes, after every conv but the last); its output is all convs' outputs concatenated;
- level ``l``: embedding block -> ``Z``; assignment block + ``Linear`` -> logits ->
  ``torch_geometric.nn.dense_diff_pool``;
- readout: max over the real nodes of every level's ``Z``, concatenated, MLP ``[50]`` -> classes;
- loss: cross-entropy + link loss + entropy loss.

Batch norm uses the real nodes only (as ``core.model.MaskedBatchNorm``) so the two models
compute the same function; :meth:`PyGDiffPool.load_from_core` copies the weights of a
``core.model.DiffPool`` so that the equality can be checked. (PyG's example normalises over all
``B·N_max`` rows, padding included; that costs the same and changes only the statistics.)

Never imported from ``core/``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import DenseSAGEConv, dense_diff_pool
from torch_geometric.nn.dense.linear import Linear as PyGLinear


class DenseBlock(nn.Module):
    """``num_layers`` DenseSAGEConv; returns the concatenation of all outputs ([B, N, D])."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 3) -> None:
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.convs = nn.ModuleList(DenseSAGEConv(dims[i], dims[i + 1]) for i in range(num_layers))
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden_dim) for _ in range(num_layers - 1))

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor | None) -> Tensor:
        outputs = []
        for i, conv in enumerate(self.convs):
            x = conv(x, adj, mask)
            if i < len(self.convs) - 1:
                x = F.relu(x)
                if mask is None:
                    x = self.norms[i](x.reshape(-1, x.shape[-1])).reshape(x.shape)
                else:
                    normed = torch.zeros_like(x)
                    normed[mask] = self.norms[i](x[mask])
                    x = normed
            outputs.append(x)
        return torch.cat(outputs, dim=-1)


class PyGDiffPool(nn.Module):
    """DiffPool on dataset-padded dense batches with PyG's DenseSAGEConv and dense_diff_pool."""

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        max_nodes: int,
        hidden_dim: int = 30,
        num_layers: int = 3,
        num_pooling: int = 1,
        assign_ratio: float = 0.1,
        pred_hidden_dims: tuple[int, ...] = (50,),
    ) -> None:
        super().__init__()
        counts, previous = [], max_nodes
        for _ in range(num_pooling):
            previous = max(2, int(previous * assign_ratio))
            counts.append(previous)
        self.cluster_counts = counts
        width = hidden_dim * num_layers
        self.embed_blocks = nn.ModuleList(
            DenseBlock(input_dim if level == 0 else width, hidden_dim, hidden_dim, num_layers)
            for level in range(num_pooling + 1)
        )
        self.assign_blocks = nn.ModuleList(
            DenseBlock(input_dim if level == 0 else width, hidden_dim, clusters, num_layers)
            for level, clusters in enumerate(counts)
        )
        self.assign_heads = nn.ModuleList(
            nn.Linear(hidden_dim * (num_layers - 1) + clusters, clusters) for clusters in counts
        )
        layers, previous = [], width * (num_pooling + 1)
        for hidden in pred_hidden_dims:
            layers += [nn.Linear(previous, hidden), nn.ReLU()]
            previous = hidden
        layers.append(nn.Linear(previous, num_classes))
        self.classifier = nn.Sequential(*layers)
        # Xavier (ReLU gain) and zero bias everywhere, as core.model.DiffPool initialises.
        for module in self.modules():
            if isinstance(module, (nn.Linear, PyGLinear)):
                nn.init.xavier_uniform_(module.weight, gain=nn.init.calculate_gain("relu"))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x: [B, N, F], adj: [B, N, N], mask: bool [B, N] -> (logits [B, K], link loss, entropy loss)."""
        z = self.embed_blocks[0](x, adj, mask)
        vectors = [z.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(dim=1).values]
        link_total = entropy_total = x.new_zeros(())
        assign_input, level_mask = x, mask
        for level in range(len(self.cluster_counts)):
            s = self.assign_heads[level](self.assign_blocks[level](assign_input, adj, level_mask))
            x_pooled, adj, link_loss, entropy_loss = dense_diff_pool(z, adj, s, level_mask)
            link_total, entropy_total = link_total + link_loss, entropy_total + entropy_loss
            assign_input, level_mask = x_pooled, None
            z = self.embed_blocks[level + 1](x_pooled, adj, None)
            vectors.append(z.max(dim=1).values)
        return self.classifier(torch.cat(vectors, dim=-1)), link_total, entropy_total

    def loss(self, logits: Tensor, link_loss: Tensor, entropy_loss: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(logits, labels) + link_loss + entropy_loss

    @torch.no_grad()
    def load_from_core(self, model: nn.Module) -> "PyGDiffPool":
        """Copy the weights of a ``core.model.DiffPool`` (variant ``diffpool``) into this model.

        Ours puts the bias on ``lin_rel``, PyG's DenseSAGEConv on ``lin_root``; the sum is the same.
        """
        def copy_block(target: DenseBlock, source: nn.Module) -> None:
            for conv, theirs in zip(target.convs, source.convs):
                conv.lin_rel.weight.copy_(theirs.lin_rel.weight)
                conv.lin_root.weight.copy_(theirs.lin_root.weight)
                conv.lin_root.bias.copy_(theirs.lin_rel.bias)
            for norm, theirs in zip(target.norms, source.norms):
                norm.load_state_dict(theirs.norm.state_dict())

        for mine, theirs in zip(self.embed_blocks, model.embed_blocks):
            copy_block(mine, theirs)
        for mine, theirs in zip(self.assign_blocks, model.assign_blocks):
            copy_block(mine, theirs)
        for mine, theirs in zip(self.assign_heads, model.assign_heads):
            mine.load_state_dict(theirs.state_dict())
        self.classifier.load_state_dict(model.classifier.state_dict())
        return self


def dense_dataset(prepared: list, max_nodes: int, device: torch.device | str = "cpu") -> dict[str, Tensor]:
    """Pad every prepared graph to ``max_nodes`` (PyG's ``ToDense``): x [G, N, F], adj [G, N, N], mask, y."""
    from core.data.batching import collate

    batch = collate(prepared, device, pad_to=max_nodes)
    return {"x": batch.x, "adj": batch.adj, "mask": batch.mask, "y": batch.labels}
