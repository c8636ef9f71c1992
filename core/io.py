"""Read one uploaded graph file into a :class:`~core.graphs.Graph`; export cluster results.

``read_graph`` is the one reader entry point. The format comes from the file name:

=====================================  ==============================================
extension                              read as
=====================================  ==============================================
``.txt`` ``.edgelist`` ``.tsv``        edge list ``source target [weight]``
``.csv``                               edge list, or a square numeric adjacency matrix
``.npy``                               square numeric adjacency matrix (never unpickled)
``.graphml``                           GraphML (parsed with defusedxml)
``.gml``                               GML
``.json``                              networkx node-link JSON ("links" or "edges")
``.gexf``                              GEXF, Gephi's format (defusedxml; ``core.io_formats``)
``.net``                               Pajek network, with ``*Partition``/``*Vector`` blocks
``.mtx``                               Matrix Market (SuiteSparse, SNAP), square matrices
``.zip``                               a whole TU dataset -> returns a GraphDataset
any of the above + ``.gz``             gzip, decompressed with a size cap
=====================================  ==============================================

SNAP edge lists (``#`` comment header, tab-separated ids) are edge lists.

Every problem raises :class:`GraphInputError` (a ``ValueError``) saying what is wrong, where
(line, entry, element) and, for limits, how to raise them. What the reader changed (made the
graph undirected, merged duplicate edges, kept self-loops, skipped a header line) is listed in
``graph.notes`` for the user.

Node ids are kept as strings in ``graph.node_names`` (first-seen order) and renumbered
0..N-1; every node attribute the file carried goes to ``graph.node_data[attribute]`` (a list of
N values, ``None`` where a node lacks it; an attribute with several values per node - a GML key
repeated in a node, a JSON array, a GEXF ``list*`` type - is a list on every node that has it,
see :mod:`core.overlap`). ``node_attributes`` is left ``None``:
:func:`numeric_node_attributes` lists the attributes the app may offer as features.

Example
-------
>>> g = read_graph(b"# friends\\nann bob\\nbob cy\\n", filename="friends.txt")
>>> g.num_nodes, g.num_edges, g.node_names
(3, 2, ['ann', 'bob', 'cy'])
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import re
import struct
import tempfile
import tokenize
import zipfile
import zlib
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Union

import numpy as np

from core.graphs import Graph

if TYPE_CHECKING:
    from core.graphs import GraphDataset

__all__ = [
    "GraphInputError",
    "ReadLimits",
    "read_graph",
    "numeric_node_attributes",
    "assignments_to_csv",
    "graph_to_graphml",
    "SUPPORTED_EXTENSIONS",
]

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

EDGE_LIST_EXTENSIONS = (".txt", ".edgelist", ".tsv")
SUPPORTED_EXTENSIONS = (
    ".txt", ".edgelist", ".tsv", ".csv", ".npy", ".graphml", ".gml", ".json", ".gexf", ".net", ".mtx", ".zip",
)
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


# ---------------------------------------------------------------------------- entry point
def read_graph(source: Source, filename: str | None = None, limits: ReadLimits | None = None) -> "Graph | GraphDataset":
    """Read a graph file (a path, raw bytes, or a file-like object such as a Streamlit upload).

    Parameters
    ----------
    source: path (str / Path), bytes, or an object with ``.read()`` (its ``.name`` is used as the
        file name unless ``filename`` is given).
    filename: the file name whose extension picks the format; wins over the path's name.
        Required for bytes.
    limits: :class:`ReadLimits` (defaults when None).

    Returns
    -------
    A :class:`Graph` named after the file, or - for a TU-format ``.zip`` - the
    :class:`~core.graphs.GraphDataset` returned by ``core.datasets.read_tu``.

    Raises
    ------
    GraphInputError: for every problem with the input (format, content, limits, security).
    """
    limits = limits or ReadLimits()
    raw, name = _read_source(source, filename, limits)
    display_name = Path(name).name
    suffixes = [s.lower() for s in Path(display_name).suffixes]
    extension = suffixes[-1] if suffixes else ""

    refused = [s for s in suffixes if s in PICKLE_EXTENSIONS]
    if refused:
        raise GraphInputError(
            f"{display_name}: {refused[0]} files are refused for security: they are Python pickles, and "
            "loading one can run arbitrary code hidden in the file. Save the graph in a data-only format "
            f"instead: {_supported_list()} - e.g. nx.write_graphml(G, 'graph.graphml') or "
            "np.save('adjacency.npy', A)."
        )
    if extension == ".gz":
        inner = suffixes[-2] if len(suffixes) >= 2 else ""
        if inner not in SUPPORTED_EXTENSIONS:
            raise GraphInputError(
                f"{display_name}: cannot tell the format inside the .gz file from its name "
                f"({inner or 'no inner extension'}); name it like 'graph.edgelist.gz'. Supported: {_supported_list()}"
            )
        raw = _gunzip_capped(raw, display_name, limits.max_bytes)
        extension = inner
    elif extension not in SUPPORTED_EXTENSIONS:
        raise GraphInputError(
            f"{display_name}: unsupported file type '{extension or '(no extension)'}'; supported: {_supported_list()}"
        )

    if extension == ".zip":
        return _read_tu_zip(source, raw, display_name, limits)
    if not raw:
        raise GraphInputError(f"{display_name}: the file is empty")

    if extension == ".npy":
        graph = _read_npy(raw, display_name, limits)
    elif extension == ".graphml":
        graph = _read_graphml(raw, display_name, limits)
    elif extension == ".gexf":
        from core.io_formats import read_gexf  # lazy: io_formats builds on this module

        graph = read_gexf(raw, display_name, limits)
    else:
        text = _decode_utf8(raw, display_name)
        if not text.strip():
            raise GraphInputError(f"{display_name}: the file is empty (only whitespace)")
        if extension == ".gml":
            graph = _read_gml(text, display_name, limits)
        elif extension == ".json":
            graph = _read_node_link_json(text, display_name, limits)
        elif extension in (".net", ".mtx"):
            from core.io_formats import read_matrix_market, read_pajek

            reader = read_pajek if extension == ".net" else read_matrix_market
            graph = reader(text, display_name, limits)
        elif extension == ".csv":
            graph = _read_csv(text, display_name, limits)
        else:
            separator = "\t" if extension == ".tsv" else None
            graph = _read_edge_list(text, display_name, limits, separator)
    graph.name = display_name
    return graph


def numeric_node_attributes(graph: Graph) -> list[str]:
    """Names in ``graph.node_data`` whose value is a finite number (not a bool) on every node.

    >>> g = Graph.from_edge_list(2, [(0, 1)], node_data={"age": [3, 4.5], "city": ["a", "b"]})
    >>> numeric_node_attributes(g)
    ['age']
    """
    names = []
    for key, values in graph.node_data.items():
        if len(values) != graph.num_nodes or not values:
            continue
        if all(_is_finite_number(v) for v in values):
            names.append(key)
    return names


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
    return weight


def _as_list_attribute(builder: "_GraphBuilder", key: str) -> None:
    """Make ``key`` list-valued on every node that has it (a lone value becomes a 1-item list).

    Formats give several values per node in their own way (GML repeats the key, GEXF has
    ``liststring`` types, JSON uses arrays); once one node has several, all nodes get lists so
    the attribute has one shape (see :mod:`core.overlap` for using it as ground truth).
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


# ---------------------------------------------------------------------------- edge lists / CSV
def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _split(line: str, separator: str | None) -> list[str]:
    if separator is None:
        return line.split()
    if separator == "," and '"' in line:
        fields = next(csv.reader([line]))
    else:
        fields = line.split(separator)
    fields = [f.strip() for f in fields]
    while fields and not fields[-1]:  # trailing separators
        fields.pop()
    return fields


def _data_lines(text: str):
    """(line number, stripped line) for every line that is not blank or a #/% comment."""
    for number, line in enumerate(io.StringIO(text), start=1):
        stripped = line.strip()
        if stripped and stripped[0] not in "#%":
            yield number, stripped


def _pick_separator(line: str, preferred: str | None) -> str | None:
    if preferred and preferred in line:
        return preferred
    if "\t" in line:
        return "\t"
    if "," in line:
        return ","
    return None


def _is_header(fields: list[str], next_fields: list[str] | None) -> bool:
    if len(fields) == 3 and not _is_number(fields[2]):
        return True
    if len(fields) >= 2 and fields[0].lower() in HEADER_WORDS and fields[1].lower() in HEADER_WORDS:
        return True
    return (
        len(fields) >= 2
        and next_fields is not None
        and len(next_fields) >= 2
        and not _is_number(fields[0])
        and not _is_number(fields[1])
        and _is_number(next_fields[0])
        and _is_number(next_fields[1])
    )


def _numeric_grid_shape(text: str, separator: str | None, limit: int = 10_000) -> tuple[int, int] | None:
    """(rows, columns) when the data lines look like a numeric matrix (every row all numbers, one
    width, >= 3 columns), else None. Looks at the first ``limit`` rows only."""
    width = None
    rows = 0
    for _, line in _data_lines(text):
        fields = _split(line, separator)
        if len(fields) < 3 or not all(_is_number(f) for f in fields) or (width is not None and len(fields) != width):
            return None
        width = len(fields)
        rows += 1
        if rows >= limit:
            break
    return (rows, width) if width else None


def _not_square_message(name: str, shape: tuple[int, int]) -> str:
    rows, columns = shape
    return (f"{name}: the file is a numeric table of {rows} rows x {columns} columns: not an edge list "
            f"(2-3 columns with weights > 0), and not an adjacency matrix, which must be square "
            f"(N rows x N columns, saved as .csv or .npy)")


def _read_edge_list(text: str, name: str, limits: ReadLimits, preferred_separator: str | None) -> Graph:
    """Lines ``source target [weight]``; whitespace, comma or tab separated; undirected.

    A numeric table that fails as an edge list (zero "weights", four columns) is reported as a
    matrix that is not square rather than by its first bad field.
    """
    try:
        return _parse_edge_list(text, name, limits, preferred_separator)
    except GraphInputError as error:
        first = next(_data_lines(text), None)
        shape = _numeric_grid_shape(text, _pick_separator(first[1], preferred_separator)) if first else None
        if shape is not None and shape[0] != shape[1]:
            reason = str(error).removeprefix(f"{name}: ")
            raise GraphInputError(f"{_not_square_message(name, shape)}; read as an edge list: {reason}") from None
        raise


def _parse_edge_list(text: str, name: str, limits: ReadLimits, preferred_separator: str | None) -> Graph:
    builder = _GraphBuilder(name, limits)
    lines = _data_lines(text)
    first = next(lines, None)
    if first is None:
        raise GraphInputError(f"{name}: no edges found (only blank or comment lines)")
    separator = _pick_separator(first[1], preferred_separator)
    second = next(lines, None)
    first_fields = _split(first[1], separator)
    second_fields = _split(second[1], separator) if second else None

    pending = [first, second] if second else [first]
    columns = None
    if _is_header(first_fields, second_fields):
        if len(first_fields) not in (2, 3):
            raise GraphInputError(
                f"{name}: line {first[0]}: header has {len(first_fields)} columns; an edge list has 2 or 3 "
                "(source, target[, weight])"
            )
        columns = len(first_fields)
        builder.notes.append(f"line {first[0]} {first[1]!r} read as a header")
        pending = pending[1:]

    def all_lines():
        yield from pending
        yield from lines

    for number, line in all_lines():
        fields = _split(line, separator)
        where = f"line {number}"
        if len(fields) not in (2, 3):
            hint = ""
            if any(f.startswith("{") for f in fields):
                hint = "; this looks like nx.write_edgelist(data=True) output - write with data=['weight'] instead"
            raise GraphInputError(
                f"{name}: {where}: expected 2 or 3 fields (source, target[, weight]), found {len(fields)} "
                f"in {line[:80]!r}{hint}"
            )
        if columns is None:
            columns = len(fields)
        elif len(fields) != columns:
            raise GraphInputError(
                f"{name}: {where}: found {len(fields)} fields but the file's edges have {columns} "
                f"(every line must have a weight, or none)"
            )
        if not fields[0] or not fields[1]:
            raise GraphInputError(f"{name}: {where}: empty node id in {line[:80]!r}")
        weight = fields[2] if columns == 3 else None
        source = builder.node(fields[0], where)
        target = builder.node(fields[1], where)
        builder.edge(source, target, weight, where)
    if not builder.sources:
        raise GraphInputError(f"{name}: no edges found (only a header line)")
    return builder.build(directed=False)


def _read_csv(text: str, name: str, limits: ReadLimits) -> Graph:
    """A square all-numeric CSV is an adjacency matrix; anything else an edge list."""
    lines = _data_lines(text)
    first = next(lines, None)
    if first is None:
        raise GraphInputError(f"{name}: no edges found (only blank or comment lines)")
    separator = _pick_separator(first[1], ",")
    width = len(_split(first[1], separator))
    numeric_first = all(_is_number(f) for f in _split(first[1], separator))
    if not numeric_first:
        return _read_edge_list(text, name, limits, ",")
    if width <= 3:
        # Few numeric columns: a matrix only when the row count equals the column count.
        rows = 1 + sum(1 for _ in zip(range(width), lines))
        if rows != width:
            return _read_edge_list(text, name, limits, ",")
        rows_fields = [_split(line, separator) for _, line in _data_lines(text)]
        if not all(len(r) == width and all(_is_number(f) for f in r) for r in rows_fields):
            return _read_edge_list(text, name, limits, ",")
    return _read_csv_matrix(text, name, limits, separator, width)


def _read_csv_matrix(text: str, name: str, limits: ReadLimits, separator: str | None, width: int) -> Graph:
    if width > limits.max_nodes:
        raise GraphInputError(
            f"{name}: adjacency matrix with {width} columns has more than {limits.max_nodes} nodes "
            f"({_limit_hint('max_nodes', limits.max_nodes)})"
        )
    rows: list[list[float]] = []
    for number, line in _data_lines(text):
        fields = _split(line, separator)
        if len(fields) != width:
            raise GraphInputError(
                f"{name}: line {number}: adjacency matrix row has {len(fields)} entries, expected {width} "
                "(ragged matrix: every row needs one entry per node)"
            )
        row = []
        for column, field in enumerate(fields, start=1):
            try:
                value = float(field)
            except ValueError:
                raise GraphInputError(
                    f"{name}: line {number}, column {column}: matrix entry {field!r} is not a number"
                ) from None
            if not math.isfinite(value) or value < 0:
                raise GraphInputError(
                    f"{name}: line {number}, column {column}: matrix entry {field!r} must be finite and >= 0"
                )
            row.append(value)
        rows.append(row)
        if len(rows) > width:
            break
    if len(rows) != width:
        raise GraphInputError(
            f"{name}: the numeric CSV has {len(rows) if len(rows) <= width else 'more than ' + str(width)} rows "
            f"and {width} columns: an adjacency matrix must be square (or use 2-3 columns for an edge list)"
        )
    graph = _graph_from_matrix(np.asarray(rows, dtype=np.float64), name, limits)
    graph.notes.insert(0, f"read as a {width}x{width} adjacency matrix (square numeric CSV)")
    return graph


def _graph_from_matrix(matrix: np.ndarray, name: str, limits: ReadLimits) -> Graph:
    """An undirected graph from a square non-negative matrix; non-zero entries are edges."""
    count = matrix.shape[0]
    if count > limits.max_nodes:
        raise GraphInputError(
            f"{name}: {count} nodes, more than {limits.max_nodes} ({_limit_hint('max_nodes', limits.max_nodes)})"
        )
    if count == 0:
        raise GraphInputError(f"{name}: the adjacency matrix is empty (0x0)")
    bad = ~np.isfinite(matrix) | (matrix < 0)
    if bad.any():
        i, j = (int(x) for x in np.argwhere(bad)[0])
        raise GraphInputError(f"{name}: entry [{i}, {j}] = {float(matrix[i, j])!r}: entries must be finite and >= 0")
    rows, cols = np.nonzero(matrix)  # row-major: for i < j, [i, j] comes before [j, i]
    weights = matrix[rows, cols].astype(np.float64)
    notes = []
    if not np.array_equal(matrix, matrix.T):
        notes.append("the matrix is not symmetric; read as undirected, the upper-triangle entry [i, j] (i < j) kept where both are non-zero")
    graph = _assemble(
        count,
        rows.astype(np.int64),
        cols.astype(np.int64),
        None if np.all(weights == 1) else weights,
        names=[str(i) for i in range(count)],
        node_data={},
        name=name,
        notes=notes,
        mode="matrix",
        limits=limits,
    )
    return graph


# ---------------------------------------------------------------------------- .npy
def _read_npy(raw: bytes, name: str, limits: ReadLimits) -> Graph:
    """A 2-D square numeric array; the header is checked against the data before loading."""
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise GraphInputError(f"{name}: unsupported .npy format version {version}; save with np.save")
    except GraphInputError:
        raise
    except (ValueError, EOFError, SyntaxError, tokenize.TokenError, MemoryError) as exc:
        # numpy parses the header as a Python literal; a damaged one fails inside the tokenizer.
        raise GraphInputError(f"{name}: not a valid .npy file ({exc})") from exc
    if dtype.hasobject:
        raise GraphInputError(
            f"{name}: refused: the array has an object dtype, which can only be loaded by unpickling "
            "(security risk). Save a numeric array: np.save(path, A.astype(float))"
        )
    if dtype.kind not in "biuf":
        raise GraphInputError(f"{name}: the array dtype {dtype} is not numeric (bool, int or float)")
    if len(shape) != 2 or shape[0] != shape[1]:
        raise GraphInputError(f"{name}: an adjacency matrix must be 2-D and square, found shape {tuple(shape)}")
    if shape[0] > limits.max_nodes:
        raise GraphInputError(
            f"{name}: {shape[0]} nodes, more than {limits.max_nodes} ({_limit_hint('max_nodes', limits.max_nodes)})"
        )
    expected = shape[0] * shape[1] * dtype.itemsize
    available = len(raw) - stream.tell()
    if available != expected:
        raise GraphInputError(
            f"{name}: the header promises {expected} bytes of data for shape {tuple(shape)} but the file holds "
            f"{available} (truncated or corrupt .npy)"
        )
    try:
        matrix = np.load(io.BytesIO(raw), allow_pickle=False)
    except ValueError as exc:
        raise GraphInputError(f"{name}: could not load the array ({exc})") from exc
    return _graph_from_matrix(np.asarray(matrix, dtype=np.float64), name, limits)


# ---------------------------------------------------------------------------- GraphML
def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _parse_boolean(text: str) -> bool:
    """XML booleans: true/false/1/0 (any case); ValueError otherwise."""
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(f"{text!r} is not a boolean")


def _graphml_value(text: str, attr_type: str):
    if attr_type == "boolean":
        return _parse_boolean(text)
    if attr_type in ("int", "long"):
        return int(text.strip())
    if attr_type in ("float", "double"):
        return float(text.strip())
    return text


def _parse_xml(raw: bytes, name: str, format_name: str):
    """The root element of an XML file, parsed with defusedxml (entities and external references refused)."""
    import defusedxml.ElementTree as safe_etree
    from defusedxml import DefusedXmlException

    try:
        return safe_etree.fromstring(raw)
    except DefusedXmlException as exc:
        raise GraphInputError(
            f"{name}: refused for security: the XML declares entities or external references ({exc}); "
            "these allow 'billion laughs' memory bombs and reading other files. Remove the <!DOCTYPE>/"
            f"<!ENTITY> declarations ({format_name} never needs them)"
        ) from exc
    except safe_etree.ParseError as exc:
        raise GraphInputError(f"{name}: not well-formed XML: {exc}") from exc
    except (LookupError, ValueError) as exc:  # e.g. <?xml encoding="atf-8"?>: an unknown encoding
        raise GraphInputError(f"{name}: unreadable XML declaration or encoding: {exc}; save the file as UTF-8") from exc


def _read_graphml(raw: bytes, name: str, limits: ReadLimits) -> Graph:
    """GraphML via defusedxml: entity declarations and external references are refused."""
    root = _parse_xml(raw, name, "GraphML")
    if _local(root.tag) != "graphml":
        raise GraphInputError(f"{name}: the root element is <{_local(root.tag)}>, expected <graphml>")

    keys: dict[str, dict] = {}
    used_names: set[tuple[str, str]] = set()
    for key in root:
        if _local(key.tag) != "key":
            continue
        key_id = key.get("id")
        if not key_id:
            raise GraphInputError(f"{name}: a <key> element has no 'id' attribute")
        domain = key.get("for", "all")
        attr_name = key.get("attr.name") or key_id
        if (domain, attr_name) in used_names:
            attr_name = f"{attr_name} ({key_id})"
        used_names.add((domain, attr_name))
        attr_type = key.get("attr.type", "string")
        default = None
        for child in key:
            if _local(child.tag) == "default" and child.text is not None:
                try:
                    default = _graphml_value(child.text, attr_type)
                except ValueError as exc:
                    raise GraphInputError(f"{name}: <key id={key_id!r}>: default {child.text!r} is not {attr_type} ({exc})") from None
        keys[key_id] = {"domain": domain, "name": attr_name, "type": attr_type, "default": default}

    graphs = [child for child in root if _local(child.tag) == "graph"]
    if not graphs:
        raise GraphInputError(f"{name}: no <graph> element found")
    builder = _GraphBuilder(name, limits)
    if len(graphs) > 1:
        builder.notes.append(f"the file holds {len(graphs)} graphs; only the first was read")
    graph_element = graphs[0]
    directed = graph_element.get("edgedefault", "undirected") == "directed"
    node_keys = {k: v for k, v in keys.items() if v["domain"] in ("node", "all")}
    weight_key = next((k for k, v in keys.items() if v["domain"] in ("edge", "all") and v["name"] == "weight"), None)

    def read_data(element, where: str, allowed: dict) -> dict[str, object]:
        values = {}
        for data in element:
            if _local(data.tag) != "data":
                continue
            key_id = data.get("key")
            spec = allowed.get(key_id)
            if spec is None:
                raise GraphInputError(
                    f"{name}: {where}: <data key={key_id!r}> has no <key> declared for this kind of element"
                )
            if data.text is None or (len(data) and not data.text.strip()):
                continue  # structured data (e.g. yFiles graphics): not an attribute value
            try:
                values[key_id] = _graphml_value(data.text, spec["type"])
            except ValueError:
                raise GraphInputError(
                    f"{name}: {where}: attribute {spec['name']!r} = {data.text!r} is not of type {spec['type']}"
                ) from None
        return values

    node_count = edge_count = 0
    edge_keys = {k: v for k, v in keys.items() if v["domain"] in ("edge", "all")}
    for element in graph_element:
        kind = _local(element.tag)
        if kind == "node":
            node_count += 1
            node_id = element.get("id")
            where = f"<node> #{node_count}"
            if node_id is None:
                raise GraphInputError(f"{name}: {where}: no 'id' attribute")
            where = f"<node id={node_id!r}>"
            if any(_local(child.tag) == "graph" for child in element):
                raise GraphInputError(f"{name}: {where}: nested graphs are not supported")
            index = builder.new_node(node_id, where)
            values = read_data(element, where, node_keys)
            for key_id, spec in node_keys.items():
                builder.attribute(index, spec["name"], values.get(key_id, spec["default"]))
        elif kind == "edge":
            edge_count += 1
            source, target = element.get("source"), element.get("target")
            where = f"<edge> #{edge_count} ({source!r} -> {target!r})"
            for end, value in (("source", source), ("target", target)):
                if value is None:
                    raise GraphInputError(f"{name}: {where}: no '{end}' attribute")
                if value not in builder.index:
                    raise GraphInputError(f"{name}: {where}: {end} {value!r} is not a declared <node>")
            if element.get("directed") == "true":
                directed = True
            values = read_data(element, where, edge_keys)
            weight = None
            if weight_key is not None:
                weight = values.get(weight_key, keys[weight_key]["default"])
            builder.edge(builder.index[source], builder.index[target], weight, where)
        elif kind == "hyperedge":
            raise GraphInputError(f"{name}: <hyperedge> is not supported (DiffPool needs pairwise edges)")
    return builder.build(directed)


# ---------------------------------------------------------------------------- GML
def _read_gml(text: str, name: str, limits: ReadLimits) -> Graph:
    """GML via networkx's parser (which evaluates nothing).

    Node names are the ``label`` values when every node has a distinct one (the GML ids then
    go to ``node_data["id"]``); otherwise the ids.
    """
    import networkx as nx

    try:
        parsed = nx.parse_gml(text, label=None)
    except nx.NetworkXError as exc:
        if "is duplicated" in str(exc) and str(exc).startswith("edge"):
            # A simple-graph GML with a repeated edge: re-read as a multigraph so the
            # duplicates are merged and reported like every other format.
            parsed = _parse_gml_as_multigraph(text, name)
        else:
            raise GraphInputError(f"{name}: GML error: {exc} (positions are (line, column))") from exc
    except (ValueError, TypeError, RecursionError, IndexError, KeyError, AttributeError) as exc:
        # networkx's tokenizer trips on some damaged multi-line strings (IndexError) and records.
        raise GraphInputError(f"{name}: GML error: {type(exc).__name__}: {exc}") from exc
    if parsed.number_of_nodes() > limits.max_nodes:
        raise GraphInputError(
            f"{name}: {parsed.number_of_nodes()} nodes, more than {limits.max_nodes} "
            f"({_limit_hint('max_nodes', limits.max_nodes)})"
        )
    labels = [data.get("label") for _, data in parsed.nodes(data=True)]
    use_labels = all(label is not None for label in labels) and len({str(x) for x in labels}) == len(labels)
    builder = _GraphBuilder(name, limits)
    skipped: set[str] = set()
    repeated: set[str] = set()  # keys a node repeats (GML's way to give several values)
    index_of = {}
    for position, (node, data) in enumerate(parsed.nodes(data=True)):
        node_name = str(data["label"]) if use_labels else str(node)
        index = builder.new_node(node_name, f"node #{position} (id {node!r})")
        index_of[node] = index
        for key, value in data.items():
            if use_labels and key == "label":
                continue
            if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, (list, dict)) for v in value)):
                skipped.add(key)  # nested records (e.g. yEd's graphics [ x 1 y 2 ]) are drawing data
                continue
            if isinstance(value, list):
                repeated.add(key)
            builder.attribute(index, key, value)
    for key in repeated - skipped:
        _as_list_attribute(builder, key)
    edges = parsed.edges(data=True)
    for position, (source, target, data) in enumerate(edges):
        builder.edge(index_of[source], index_of[target], data.get("weight"), f"edge #{position} ({source!r} - {target!r})")
    if skipped:
        builder.notes.append(f"nested attribute(s) ignored: {', '.join(sorted(skipped))}")
    if repeated:
        builder.notes.append(_list_note(sorted(repeated), "repeated per node"))
    if use_labels:
        builder.attributes["id"] = dict(enumerate(str(n) for n in parsed.nodes))
    return builder.build(parsed.is_directed())


def _parse_gml_as_multigraph(text: str, name: str):
    import networkx as nx

    patched, count = re.subn(r"\bgraph\s*\[", "graph [ multigraph 1 ", text, count=1)
    try:
        if not count:
            raise nx.NetworkXError("input contains no graph")
        return nx.parse_gml(patched, label=None)
    except (nx.NetworkXError, ValueError, TypeError, RecursionError, IndexError, KeyError, AttributeError) as exc:
        raise GraphInputError(f"{name}: GML error: {exc}") from exc


# ---------------------------------------------------------------------------- node-link JSON
def _json_node_name(value, name: str, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise GraphInputError(f"{name}: {where}: node id {value!r} must be a string or a number")


def _read_node_link_json(text: str, name: str, limits: ReadLimits) -> Graph:
    """networkx node-link JSON: {"directed": ..., "nodes": [{"id": ...}], "links"|"edges": [...]}."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GraphInputError(f"{name}: line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from exc
    except RecursionError:
        raise GraphInputError(f"{name}: the JSON is nested too deeply") from None
    shape_hint = (
        'expected networkx node-link JSON: an object with a "nodes" list of {"id": ...} objects and a '
        '"links" (or "edges") list of {"source": ..., "target": ...} objects, as written by '
        "json.dump(nx.node_link_data(G), f)"
    )
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise GraphInputError(f"{name}: not node-link JSON: {shape_hint}")
    if "links" in data and "edges" in data:
        raise GraphInputError(f'{name}: both "links" and "edges" are present; keep only one')
    link_key = "links" if "links" in data else "edges"
    links = data.get(link_key, [])
    if not isinstance(links, list):
        raise GraphInputError(f'{name}: "{link_key}" must be a list; {shape_hint}')

    builder = _GraphBuilder(name, limits)
    repeated: set[str] = set()
    for position, node in enumerate(data["nodes"]):
        where = f"nodes[{position}]"
        if not isinstance(node, dict) or "id" not in node:
            raise GraphInputError(f'{name}: {where}: expected an object with an "id"; {shape_hint}')
        index = builder.new_node(_json_node_name(node["id"], name, where), where)
        for key, value in node.items():
            if key != "id":
                if isinstance(value, list) and not any(isinstance(v, (list, dict)) for v in value):
                    repeated.add(key)
                builder.attribute(index, key, value)
    for key in repeated:
        _as_list_attribute(builder, key)
    if repeated:
        builder.notes.append(_list_note(sorted(repeated), "given as arrays"))
    for position, link in enumerate(links):
        where = f"{link_key}[{position}]"
        if not isinstance(link, dict):
            raise GraphInputError(f"{name}: {where}: expected an object with \"source\" and \"target\"")
        ends = []
        for end in ("source", "target"):
            if end not in link:
                raise GraphInputError(f'{name}: {where}: no "{end}"')
            node_name = _json_node_name(link[end], name, where)
            if node_name not in builder.index:
                raise GraphInputError(
                    f"{name}: {where}: {end} {link[end]!r} is not the id of any node (node-link JSON refers to "
                    "nodes by id, not by position)"
                )
            ends.append(builder.index[node_name])
        builder.edge(ends[0], ends[1], link.get("weight"), where)
    return builder.build(bool(data.get("directed", False)))


# ---------------------------------------------------------------------------- TU zip
def _read_tu_zip(source, raw: bytes, name: str, limits: ReadLimits) -> "GraphDataset":
    """Delegate a TU-format zip to ``core.datasets.read_tu`` (from a temp file for bytes)."""
    from core.datasets import read_tu  # lazy: datasets is the heavier, separate module

    def call(path):
        try:
            return read_tu(path, max_bytes=limits.max_bytes)
        except GraphInputError:
            raise
        except zipfile.BadZipFile as exc:
            raise GraphInputError(f"{name}: not a valid zip file ({exc})") from exc
        except (ValueError, OSError, KeyError, EOFError, IndexError, NotImplementedError, RuntimeError, zlib.error,
                struct.error) as exc:
            # zipfile lets a damaged archive surface as any of these (RuntimeError: encrypted member).
            # A temp file's path means nothing to the user; show the upload's name instead.
            reason = str(exc).replace(str(path), name)
            raise GraphInputError(f"{name}: not a readable TU dataset zip ({reason})") from exc

    is_plain_path = isinstance(source, (str, os.PathLike)) and str(source).lower().endswith(".zip")
    if is_plain_path:
        return call(Path(source))
    if not raw:
        raise GraphInputError(f"{name}: the file is empty")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / (Path(name).name[: -len(".gz")] if name.lower().endswith(".gz") else Path(name).name)
        path.write_bytes(raw)
        return call(path)


# ---------------------------------------------------------------------------- exports
def assignments_to_csv(node_names: list[str], assignment: np.ndarray) -> str:
    """CSV text of a soft cluster assignment.

    assignment: float [N, K], row i = node i's cluster probabilities.
    Columns: node, hard_cluster (argmax), confidence (max probability), p_0 .. p_{K-1}.

    >>> print(assignments_to_csv(["a"], np.array([[0.25, 0.75]])), end="")
    node,hard_cluster,confidence,p_0,p_1
    a,1,0.75,0.25,0.75
    """
    assignment = np.asarray(assignment, dtype=np.float64)
    if assignment.ndim != 2 or assignment.shape[0] != len(node_names):
        raise ValueError(
            f"assignment must be [N, K] with N = len(node_names) = {len(node_names)}, got shape {assignment.shape}"
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["node", "hard_cluster", "confidence", *[f"p_{k}" for k in range(assignment.shape[1])]])
    hard = assignment.argmax(axis=1) if assignment.shape[1] else np.zeros(len(node_names), dtype=int)
    for name, cluster, row in zip(node_names, hard, assignment):
        confidence = row.max() if row.size else 0.0
        writer.writerow([name, int(cluster), f"{confidence:.6g}", *[f"{p:.6g}" for p in row]])
    return out.getvalue()


def _column_for_graphml(values: list) -> list:
    """One GraphML-writable type per attribute (bool, int, float or str); None stays missing."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, (bool, np.bool_)) for v in present):
        return [None if v is None else bool(v) for v in values]
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in present):
        return [None if v is None else int(v) for v in values]
    if all(_is_finite_number(v) or isinstance(v, (float, np.floating)) for v in present):
        return [None if v is None else float(v) for v in values]
    return [None if v is None else (v if isinstance(v, str) else json.dumps(v, default=str)) for v in values]


def graph_to_graphml(graph: Graph, clusters: dict[str, np.ndarray]) -> bytes:
    """GraphML bytes of ``graph`` with each clustering as an integer node attribute.

    clusters: attribute name -> int [N] hard clusters, or float [N, K] assignment (stored as its
    argmax). Node ids are the node names (when unique; otherwise "0".."N-1" plus a ``name``
    attribute); ``graph.node_data`` attributes and edge weights are written too.
    """
    import networkx as nx

    names = graph.names()
    unique = len(set(names)) == len(names)
    ids = names if unique else [str(i) for i in range(graph.num_nodes)]
    columns = {key: _column_for_graphml(values) for key, values in graph.node_data.items() if len(values) == graph.num_nodes}
    for key, values in clusters.items():
        values = np.asarray(values)
        if values.ndim == 2:
            values = values.argmax(axis=1)
        if values.shape != (graph.num_nodes,):
            raise ValueError(f"clustering {key!r} must be [N] or [N, K] with N={graph.num_nodes}, got shape {np.shape(values)}")
        if key in columns:
            raise ValueError(f"clustering {key!r} has the name of an existing node attribute; rename it")
        columns[key] = [int(v) for v in values]
    if not unique:
        columns["name"] = list(names)

    nx_graph = nx.Graph()
    for i, node_id in enumerate(ids):
        nx_graph.add_node(node_id, **{k: col[i] for k, col in columns.items() if col[i] is not None})
    weighted = graph.edge_weight is not None
    for (i, j), weight in zip(graph.edges, graph.weights()):
        attributes = {"weight": float(weight)} if weighted else {}
        nx_graph.add_edge(ids[int(i)], ids[int(j)], **attributes)
    buffer = io.BytesIO()
    nx.write_graphml(nx_graph, buffer)
    return buffer.getvalue()
