"""The trace: the plain record of what each pooling level did to one graph.

This is the contract between the model and every view. Views read traces (and analysis
functions over traces); they never reach into a model's layers. All arrays are numpy
(float32 unless stated), detached and on the CPU, sized to the graph's *real* nodes (no
padding).

Shapes, for a graph with ``n_0 = N`` nodes and pooling levels ``l = 0 .. L-1`` mapping
``n_l`` nodes to ``n_{l+1}`` clusters:

=======================  ======================  ==================================================
field                    shape                   meaning
=======================  ======================  ==================================================
assignment               [n_l, n_{l+1}]          S, soft assignment; rows sum to 1
coarsened_adjacency      [n_{l+1}, n_{l+1}]      A' = Sᵀ A S (diagonal = intra-cluster weight)
pooled_features          [n_{l+1}, d]            X' = Sᵀ Z
node_embeddings          [n_l, d]                Z, embeddings of the level's nodes before pooling
node_entropy             [n_l]                   H(S_i) = -Σ_k S_ik log S_ik, in nats (max log n_{l+1})
link_loss                scalar                  ‖A - S Sᵀ‖_F / (n_l²) for this graph
entropy_loss             scalar                  mean_i H(S_i)
assignment_scores        [n_l, n_{l+1}] or None  s, the pre-softmax assignment scores (S = softmax(s)
                                                 row-wise); None where S is not a softmax of scores
                                                 (fixed assignments) or the producer did not record them
=======================  ======================  ==================================================

For the sparse first level of very large uploaded graphs ``adjacency`` may be a scipy sparse
matrix; everything else stays dense (n_{l+1} is small).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


#: Above this many nodes a trace's input ``adjacency`` is a scipy CSR matrix when the model ran on a
#: sparse batch (D&D's largest graphs); at or below it, always a dense float32 array.
DENSE_TRACE_MAX_NODES = 1000


@dataclass
class LevelTrace:
    """What one pooling level did to one graph (see the module docstring for shapes)."""

    assignment: np.ndarray
    coarsened_adjacency: np.ndarray
    pooled_features: np.ndarray
    node_embeddings: np.ndarray
    node_entropy: np.ndarray
    link_loss: float
    entropy_loss: float
    assignment_scores: np.ndarray | None = None

    @property
    def num_nodes(self) -> int:
        return int(self.assignment.shape[0])

    @property
    def num_clusters(self) -> int:
        return int(self.assignment.shape[1])

    @property
    def hard_assignment(self) -> np.ndarray:
        """int64 [n_l] most likely cluster of each node."""
        return self.assignment.argmax(axis=1).astype(np.int64)

    @property
    def cluster_mass(self) -> np.ndarray:
        """float32 [n_{l+1}] Σ_i S_ik, the soft number of nodes in each cluster."""
        return self.assignment.sum(axis=0)


@dataclass
class GraphTrace:
    """Everything one forward pass knows about one graph.

    Attributes
    ----------
    levels: one :class:`LevelTrace` per pooling level (empty for the ``graphsage`` variant).
    adjacency: [N, N] input adjacency A (dense numpy, or scipy sparse for huge graphs).
    final_embeddings: [n_L, d] node embeddings after the last pooling level.
    graph_embedding: [g] the readout vector fed to the prediction MLP.
    logits: [C] class scores, or None for a self-supervised fit (no classifier).
    label: true class index, or None.
    graph_index: index of the graph in its dataset, or None.
    meta: free-form extras (variant name, graph name, ...).
    """

    levels: list[LevelTrace]
    adjacency: object
    final_embeddings: np.ndarray
    graph_embedding: np.ndarray
    logits: np.ndarray | None = None
    label: int | None = None
    graph_index: int | None = None
    meta: dict = field(default_factory=dict)

    @property
    def probabilities(self) -> np.ndarray | None:
        """[C] softmax of the logits."""
        if self.logits is None:
            return None
        shifted = self.logits - self.logits.max()
        exp = np.exp(shifted)
        return exp / exp.sum()

    @property
    def predicted(self) -> int | None:
        """Predicted class index, or None without logits."""
        return None if self.logits is None else int(np.argmax(self.logits))

    @property
    def num_levels(self) -> int:
        return len(self.levels)


# ---------------------------------------------------------------------------- stored traces
#: Beside a shipped checkpoint ``NAME``: ``NAME.first-trace.npz``, the trace of graph 0 of the
#: model's dataset, so the app draws its first figure without importing torch (~1.1 s).
STORED_TRACE_SUFFIX = ".first-trace.npz"
STORED_TRACE_FORMAT = "diffpool-explorer-trace/1"
_LEVEL_ARRAYS = ("assignment", "coarsened_adjacency", "pooled_features", "node_embeddings", "node_entropy",
                 "assignment_scores")
_GRAPH_ARRAYS = ("adjacency", "final_embeddings", "graph_embedding", "logits")


def checkpoint_digest(stem: str | Path) -> str:
    """SHA-256 (hex) of a checkpoint's weights and card files: what a stored trace was computed from."""
    digest = hashlib.sha256()
    for suffix in (".safetensors", ".json"):
        digest.update(Path(str(stem) + suffix).read_bytes())
    return digest.hexdigest()


def stored_trace_key(stem: str | Path, dataset_name: str, graph_index: int, graph) -> dict:
    """The key a stored trace of ``graph`` (graph ``graph_index`` of ``dataset_name``) under the
    checkpoint ``stem`` is saved and looked up with: both files' digest and the graph's content."""
    return {"checkpoint": checkpoint_digest(stem), "dataset": str(dataset_name), "graph_index": int(graph_index),
            "graph": graph.content_digest()}


def save_trace(path: str | Path, trace: GraphTrace, key: dict) -> None:
    """Write ``trace`` to an ``.npz`` (plain arrays and JSON text: nothing pickled) under ``key``.

    ``key`` says what the trace was computed from (checkpoint digest, dataset, graph index, graph
    digest): :func:`load_trace` returns the trace only to a caller that asks with the same key.
    """
    if not isinstance(trace.adjacency, np.ndarray):
        raise TypeError("only traces with a dense input adjacency can be stored")
    arrays: dict[str, np.ndarray] = {}
    for name in _GRAPH_ARRAYS:
        value = getattr(trace, name)
        if value is not None:
            arrays[name] = np.asarray(value)
    levels = []
    for number, level in enumerate(trace.levels):
        for name in _LEVEL_ARRAYS:
            value = getattr(level, name)
            if value is not None:
                arrays[f"level{number}.{name}"] = np.asarray(value)
        levels.append({"link_loss": float(level.link_loss), "entropy_loss": float(level.entropy_loss)})
    header = {"format": STORED_TRACE_FORMAT, "key": key, "levels": levels, "label": trace.label,
              "graph_index": trace.graph_index, "meta": trace.meta}
    arrays["header"] = np.array(json.dumps(header, sort_keys=True, default=str))
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def load_trace(path: str | Path, key: dict) -> GraphTrace | None:
    """The trace stored at ``path`` if it was computed under ``key``; None when the file is absent,
    unreadable, of another format, or stored under another key (a retrained model, another graph).
    Never unpickles. The returned trace's ``meta["source"]`` is ``"stored"``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            if header.get("format") != STORED_TRACE_FORMAT or header.get("key") != key:
                return None
            arrays = {name: data[name] for name in data.files if name != "header"}
    except (OSError, ValueError, KeyError):
        return None
    levels = [
        LevelTrace(**{name: arrays.get(f"level{number}.{name}") for name in _LEVEL_ARRAYS},
                   link_loss=float(scalars["link_loss"]), entropy_loss=float(scalars["entropy_loss"]))
        for number, scalars in enumerate(header["levels"])
    ]
    meta = dict(header.get("meta") or {})
    meta["source"] = "stored"
    return GraphTrace(levels=levels, label=header.get("label"), graph_index=header.get("graph_index"), meta=meta,
                      **{name: arrays.get(name) for name in _GRAPH_ARRAYS})
