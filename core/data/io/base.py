"""What every reader shares: the error type, size limits, reading a source (bytes, path, upload) within
the limits, gunzip with a cap, and the graph builder that merges duplicates and symmetrises."""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Union

import numpy as np

from core.data.graphs import Graph

if TYPE_CHECKING:
    pass



Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

EDGE_LIST_EXTENSIONS = (".txt", ".edgelist", ".tsv")
SUPPORTED_EXTENSIONS = (
    ".txt", ".edgelist", ".tsv", ".csv", ".npy", ".graphml", ".gml", ".json", ".gexf", ".net", ".mtx", ".zip",
)
#: Largest edge weight a file may give: weights are stored as float32, where anything larger is inf.
MAX_WEIGHT = float(np.finfo(np.float32).max)
# Loading any of these means unpickling, which can run arbitrary code from the file.
PICKLE_EXTENSIONS = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
# First-line words that mark an edge-list header even when node ids are not numbers.
HEADER_WORDS = {
    "source", "target", "src", "dst", "from", "to", "node1", "node2", "node_1", "node_2",
    "head", "tail", "id1", "id2", "source_id", "target_id", "u", "v", "weight",
}


class GraphInputError(ValueError):
    """An uploaded graph file that cannot be read; the message says what, where and what to do."""


@dataclass(frozen=True)
class ReadLimits:
    """Size limits for :func:`read_graph`.

    max_nodes: most nodes a graph may have.
    max_edges: most undirected edges (after merging duplicates) a graph may have.
    max_bytes: most bytes of input, counted after decompression (.gz, and passed on for .zip).
    """

    max_nodes: int = 200_000
    max_edges: int = 2_000_000
    max_bytes: int = 256 * 1024 * 1024


def _limit_hint(limit: str, value: int) -> str:
    return f"limit {limit}={value}; pass ReadLimits({limit}=...) to raise it"


def _supported_list() -> str:
    return ", ".join(SUPPORTED_EXTENSIONS) + " (each optionally + .gz)"


def _is_finite_number(value) -> bool:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return math.isfinite(float(value))


# ---------------------------------------------------------------------------- raw input
def _read_source(source: Source, filename: str | None, limits: ReadLimits) -> tuple[bytes, str]:
    """The raw bytes (at most ``max_bytes``) and the file name that picks the format."""
    too_big = f"the input is larger than max_bytes={limits.max_bytes} bytes ({_limit_hint('max_bytes', limits.max_bytes)})"
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not filename:
            raise GraphInputError(
                "cannot tell the format of raw bytes: pass filename=... (e.g. the uploaded file's name)"
            )
        raw = bytes(source)
        if len(raw) > limits.max_bytes:
            raise GraphInputError(f"{Path(filename).name}: {too_big}")
        return raw, filename
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = filename or path.name
        if not path.is_file():
            raise GraphInputError(f"{path}: no such file")
        if path.stat().st_size > limits.max_bytes:
            raise GraphInputError(f"{name}: {too_big}")
        with open(path, "rb") as handle:
            raw = handle.read(limits.max_bytes + 1)
        if len(raw) > limits.max_bytes:  # the file grew while we looked
            raise GraphInputError(f"{name}: {too_big}")
        return raw, name
    if hasattr(source, "read"):
        name = filename or getattr(source, "name", None)
        if not name:
            raise GraphInputError("cannot tell the format of the stream: pass filename=...")
        raw = source.read(limits.max_bytes + 1)
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        if len(raw) > limits.max_bytes:
            raise GraphInputError(f"{Path(name).name}: {too_big}")
        return bytes(raw), str(name)
    raise GraphInputError(f"cannot read a graph from {type(source).__name__}: pass a path, bytes or a file object")


def _gunzip_capped(raw: bytes, name: str, max_bytes: int) -> bytes:
    """Decompress gzip data, stopping as soon as more than ``max_bytes`` come out.

    The gzip header's size field is not trusted (a "gzip bomb" lies); memory use stays below
    ``max_bytes`` plus one chunk.
    """
    chunks: list[bytes] = []
    total = 0
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            while True:
                chunk = stream.read(min(1 << 20, max_bytes + 1 - total))
                if not chunk:
                    break
                total += len(chunk)
                if total > max_bytes:
                    raise GraphInputError(
                        f"{name}: decompresses to more than max_bytes={max_bytes} bytes; refused before "
                        f"reading further ({_limit_hint('max_bytes', max_bytes)})"
                    )
                chunks.append(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise GraphInputError(f"{name}: not a valid gzip file ({exc})") from exc
    return b"".join(chunks)


def _decode_utf8(raw: bytes, name: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise GraphInputError(
            f"{name}: not valid UTF-8 at byte offset {exc.start} (line {line}): {exc.reason}; "
            "save the file as UTF-8 text"
        ) from exc
    return text[1:] if text.startswith("\ufeff") else text


# ---------------------------------------------------------------------------- assembling a graph
class _GraphBuilder:
    """Collects named nodes and edges while a reader walks a file, enforcing the limits."""

    def __init__(self, name: str, limits: ReadLimits):
        self.name = name
        self.limits = limits
        self.index: dict[str, int] = {}
        self.names: list[str] = []
        self.sources = array("q")
        self.targets = array("q")
        self.weights = array("d")  # NaN where an edge carried no weight
        self.any_weight = False
        self.attributes: dict[str, dict[int, object]] = {}
        self.notes: list[str] = []

    def node(self, node_name: str, where: str) -> int:
        index = self.index.get(node_name)
        if index is None:
            if len(self.names) >= self.limits.max_nodes:
                raise GraphInputError(
                    f"{self.name}: {where}: more than {self.limits.max_nodes} nodes "
                    f"({_limit_hint('max_nodes', self.limits.max_nodes)})"
                )
            index = len(self.names)
            self.index[node_name] = index
            self.names.append(node_name)
        return index

    def new_node(self, node_name: str, where: str) -> int:
        """Declare a node that must not exist yet (formats that list nodes)."""
        if node_name in self.index:
            raise GraphInputError(f"{self.name}: {where}: node id {node_name!r} is declared twice")
        return self.node(node_name, where)

    def attribute(self, index: int, key: str, value) -> None:
        self.attributes.setdefault(key, {})[index] = value

    def edge(self, source: int, target: int, weight: float | None, where: str) -> None:
        if len(self.sources) >= 2 * self.limits.max_edges:
            raise GraphInputError(
                f"{self.name}: {where}: more than {2 * self.limits.max_edges} edge records "
                f"({_limit_hint('max_edges', self.limits.max_edges)})"
            )
        if weight is None:
            self.weights.append(math.nan)
        else:
            self.weights.append(_check_weight(weight, self.name, where))
            self.any_weight = True
        self.sources.append(source)
        self.targets.append(target)

    def build(self, directed: bool) -> Graph:
        if not self.names:
            raise GraphInputError(f"{self.name}: no nodes and no edges found")
        count = len(self.names)
        node_data = {
            key: [values.get(i) for i in range(count)] for key, values in self.attributes.items()
        }
        weights = np.frombuffer(self.weights, dtype=np.float64) if self.any_weight else None
        return _assemble(
            count,
            np.frombuffer(self.sources, dtype=np.int64),
            np.frombuffer(self.targets, dtype=np.int64),
            weights,
            names=self.names,
            node_data=node_data,
            name=self.name,
            notes=self.notes,
            mode="directed" if directed else "undirected",
            limits=self.limits,
        )


def _check_weight(value, name: str, where: str) -> float:
    if isinstance(value, (bool, np.bool_)):
        raise GraphInputError(f"{name}: {where}: weight {value!r} is not a number")
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise GraphInputError(f"{name}: {where}: weight {value!r} is not a number") from None
    if not math.isfinite(weight) or weight <= 0:
        raise GraphInputError(f"{name}: {where}: weight must be finite and > 0, found {value!r}")
    if weight > MAX_WEIGHT:
        raise GraphInputError(f"{name}: {where}: weight {value!r} is larger than {MAX_WEIGHT:.3g}, the largest "
                              "float32 (edge weights are stored as float32)")
    return weight


def _as_list_attribute(builder: "_GraphBuilder", key: str) -> None:
    """Make ``key`` list-valued on every node that has it (a lone value becomes a 1-item list).

    Formats give several values per node in their own way (GML repeats the key, GEXF has
    ``liststring`` types, JSON uses arrays); once one node has several, all nodes get lists so
    the attribute has one shape (see :mod:`core.analysis.overlap` for using it as ground truth).
    """
    values = builder.attributes.get(key, {})
    for index, value in values.items():
        if value is not None and not isinstance(value, list):
            values[index] = [value]


def _list_note(keys: list[str], how: str) -> str:
    return (f"attribute(s) {', '.join(keys)} {how}: kept as a list of values per node "
            "(e.g. overlapping communities)")


def _assemble(
    num_nodes: int,
    sources: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray | None,
    *,
    names: list[str],
    node_data: dict[str, list],
    name: str,
    notes: list[str],
    mode: str,
    limits: ReadLimits,
) -> Graph:
    """Merge edge records into a :class:`Graph` and describe what was merged in ``notes``.

    mode: "undirected" (repeats of a pair in either order are duplicates), "directed"
    (a->b and b->a are merged by symmetrising; exact repeats are duplicates) or "matrix"
    (records come from both triangles of an adjacency matrix).
    """
    low = np.minimum(sources, targets)
    high = np.maximum(sources, targets)
    unique_pairs = np.unique(low * num_nodes + high).size
    if unique_pairs > limits.max_edges:
        raise GraphInputError(
            f"{name}: {unique_pairs} edges, more than {limits.max_edges} "
            f"({_limit_hint('max_edges', limits.max_edges)})"
        )
    notes = list(notes)
    if mode == "directed":
        unique_directed = np.unique(sources * num_nodes + targets).size
        reciprocal = unique_directed - unique_pairs
        duplicates = len(sources) - unique_directed
        notes.append(
            "the file declares a directed graph; it was made undirected (a->b read as a-b)"
            + (f", {reciprocal} reciprocal pair(s) a->b / b->a merged into one edge (the first weight kept)" if reciprocal else "")
        )
    else:
        duplicates = len(sources) - unique_pairs if mode == "undirected" else 0
    if duplicates:
        notes.append(f"{duplicates} duplicate edge(s) merged (the first weight kept)")

    if weights is not None:
        missing = np.isnan(weights)
        if missing.any():
            notes.append(f"{int(missing.sum())} edge(s) without a weight got weight 1")
            weights = np.where(missing, 1.0, weights)
    graph = Graph.from_edge_list(
        num_nodes,
        np.stack([sources, targets], axis=1),
        weights,
        node_names=list(names),
        node_data=node_data,
        name=name,
    )
    loops = graph.edges[graph.edges[:, 0] == graph.edges[:, 1], 0]
    if len(loops):
        shown = ", ".join(repr(names[i]) for i in loops[:5]) + (", ..." if len(loops) > 5 else "")
        notes.append(f"{len(loops)} self-loop(s) kept (on {shown})")
    graph.notes = notes
    return graph
