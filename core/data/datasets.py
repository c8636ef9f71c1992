"""TU Dortmund graph-kernel datasets: one reader, one place to find them, one download.

The TU format (https://chrsmrrs.github.io/datasets/docs/format/) is a set of text files
``NAME_A.txt`` (one ``node_id, node_id`` line per directed adjacency entry, 1-based global
ids), ``NAME_graph_indicator.txt`` (graph id per node), ``NAME_graph_labels.txt`` (class per
graph), and optionally ``NAME_node_labels.txt`` and ``NAME_node_attributes.txt``. Edge files
are ignored.

:func:`read_tu` reads a folder or a ``.zip`` of these files, whole-file and vectorised
(D&D's 1.69M adjacency lines take well under a second), and validates every cross-file
invariant with a message naming the file and the 1-based line. :func:`load_dataset` finds a
named dataset locally or downloads it once into the cache.

Example
-------
>>> dataset = load_dataset("ENZYMES", download=False)      # doctest: +SKIP
>>> dataset.num_classes, dataset[12].name                   # doctest: +SKIP
(6, 'ENZYMES #12')
"""

from __future__ import annotations

import math
import os
import struct
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import NoReturn

import numpy as np

from core.data.graphs import Graph, GraphDataset
from core.data.synthetic import SYNTHETIC_NAME

DEFAULT_MAX_BYTES = 2 * 1024**3
TU_URL = "https://www.chrsmrrs.com/graphkerneldatasets/{name}.zip"

KNOWN_DATASETS: dict[str, str] = {
    "ENZYMES": "600 protein tertiary structures, 6 enzyme classes; 3 node labels, 18 attributes",
    "PROTEINS": "1,113 proteins, enzyme or not; 3 node labels, 1 attribute",
    "DD": "1,178 proteins (D&D), enzyme or not; 82 node labels; up to 5,748 nodes",
    "COLLAB": "5,000 ego-networks of researchers, 3 fields; no node features",
    "REDDIT-MULTI-12K": "11,929 Reddit discussion threads, 11 subreddits; no node features",
    "MUTAG": "188 nitroaromatic compounds, mutagenic or not; 7 node labels",
    "IMDB-BINARY": "1,000 actor ego-networks, action or romance; no node features",
}
DATASET_ALIASES: dict[str, str] = {"D&D": "DD"}

_REQUIRED = ("A", "graph_indicator", "graph_labels")
_SEPARATOR = np.zeros(256, dtype=bool)
_SEPARATOR[list(b" \t\n,")] = True
_OPTIONAL = ("node_labels", "node_attributes", "edge_labels")


class DatasetError(ValueError):
    """A dataset could not be read, found or downloaded; the message says what to do."""


class TUFormatError(DatasetError):
    """A TU file is malformed (message: file, 1-based line, what is wrong)."""


class DamagedDatasetError(TUFormatError):
    """A dataset that reads but is plainly damaged (e.g. a truncated edge file); pass
    ``accept_damaged=True`` (CLI ``--accept-damaged-data``) to use it anyway."""


class DatasetNotFoundError(DatasetError):
    """A dataset is not on disk (message: where to put it and where to get it).

    ``hint``: how the caller could fetch it instead, the message's last clause (the Python API's
    ``download=True`` by default; a command line names its own flag, e.g. "run without --no-download").
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint

    def __str__(self) -> str:
        return f"{self.message}; or {self.hint}" if self.hint else self.message


# ---------------------------------------------------------------------------- names and places
def canonical_name(name: str) -> str:
    """The TU name for ``name``: aliases resolved ("D&D" -> "DD"), known names matched case-insensitively.

    >>> canonical_name("d&d"), canonical_name("enzymes"), canonical_name("MyOwnSet")
    ('DD', 'ENZYMES', 'MyOwnSet')
    """
    for alias, target in DATASET_ALIASES.items():
        if name.upper() == alias.upper():
            return target
    for known in KNOWN_DATASETS:
        if name.upper() == known.upper():
            return known
    return name


def tu_url(name: str) -> str:
    """Download address of a TU dataset zip on the TU Dortmund site."""
    return TU_URL.format(name=canonical_name(name))


def default_cache_dir() -> Path:
    """``$DIFFPOOL_CACHE/TU``, by default ``~/.cache/diffpool-explorer/TU``; downloads land here."""
    root = os.environ.get("DIFFPOOL_CACHE") or "~/.cache/diffpool-explorer"
    return Path(root).expanduser() / "TU"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Where datasets are looked for: ``data_dir`` if given, else ``$DIFFPOOL_DATA``, else the cache."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    from_env = os.environ.get("DIFFPOOL_DATA")
    if from_env:
        return Path(from_env).expanduser()
    return default_cache_dir()


def _search_dirs(data_dir: str | os.PathLike | None) -> list[Path]:
    dirs = [resolve_data_dir(data_dir)]
    if default_cache_dir() not in dirs:
        dirs.append(default_cache_dir())
    return dirs


def _find_local(name: str, dirs: list[Path]) -> Path | None:
    for directory in dirs:
        if (directory / name).is_dir():
            return directory / name
        if (directory / f"{name}.zip").is_file():
            return directory / f"{name}.zip"
    return None


def available_datasets(data_dir: str | os.PathLike | None = None) -> list[str]:
    """Known TU datasets present locally (as ``<dir>/<NAME>/`` or ``<dir>/<NAME>.zip``).

    Looks in :func:`resolve_data_dir` and the download cache. The generated
    ``"synthetic-hierarchy"`` is always loadable and is not listed.
    """
    dirs = _search_dirs(data_dir)
    return [name for name in KNOWN_DATASETS if _find_local(name, dirs) is not None]


# ---------------------------------------------------------------------------- file access
class _TUFiles:
    """The files of one TU dataset inside a folder or a zip, read with a byte cap."""

    def __init__(self, source: Path, name: str | None, max_bytes: int):
        self.source = source
        self.max_bytes = max_bytes
        self.zip: zipfile.ZipFile | None = None
        if source.is_dir():
            members = {p.name: p for p in source.iterdir() if p.is_file()}
            if name is not None and not _indicators(members) and (source / name).is_dir():
                members = {p.name: p for p in (source / name).iterdir() if p.is_file()}
            self.members: dict[str, object] = members
        elif source.is_file():
            try:
                self.zip = zipfile.ZipFile(source)
            except (zipfile.BadZipFile, IndexError, EOFError, struct.error) as error:  # damaged archive
                raise DatasetError(
                    f"{source} is not a readable zip ({error}); delete it and download it again, "
                    "or unzip it into a folder of TU text files"
                ) from None
            self.members = {}
            for info in self.zip.infolist():
                base = info.filename.rsplit("/", 1)[-1]
                if info.is_dir() or info.filename.startswith("__MACOSX/") or base.startswith("._"):
                    continue
                self.members[info.filename] = info
        else:
            raise DatasetNotFoundError(f"{source} does not exist; pass a TU dataset folder or .zip")
        self.name, self.prefix = self._choose(name)

    def _choose(self, name: str | None) -> tuple[str, str]:
        indicators = _indicators(self.members)
        where = f"{self.source}"
        if not indicators:
            raise TUFormatError(
                f"{where}: no *_graph_indicator.txt found; a TU dataset needs NAME_A.txt, "
                "NAME_graph_indicator.txt and NAME_graph_labels.txt"
            )
        if name is not None:
            matches = [(n, p) for n, p in indicators if n == name]
            if not matches:
                found = ", ".join(sorted({n for n, _ in indicators}))
                raise TUFormatError(f"{where}: no {name}_graph_indicator.txt (found datasets: {found})")
            return matches[0]
        if len({n for n, _ in indicators}) > 1:
            found = ", ".join(sorted({n for n, _ in indicators}))
            raise DatasetError(f"{where} holds several TU datasets ({found}); pass name= to pick one")
        return indicators[0]

    def filename(self, kind: str) -> str:
        return f"{self.name}_{kind}.txt"

    def has(self, kind: str) -> bool:
        return self.prefix + self.filename(kind) in self.members

    def read(self, kind: str) -> bytes:
        key = self.prefix + self.filename(kind)
        if key not in self.members:
            raise TUFormatError(
                f"{self.source}: required file {key} is missing; a TU dataset needs "
                + ", ".join(self.filename(k) for k in _REQUIRED)
            )
        member = self.members[key]
        if self.zip is None:
            size = os.path.getsize(member)
            if size > self.max_bytes:
                raise DatasetError(f"{member} is {size:,} bytes, over max_bytes={self.max_bytes:,}; raise max_bytes to read it")
            return Path(member).read_bytes()
        # Count what is actually inflated: a zip header's file_size can lie (zip bomb).
        chunks, total = [], 0
        try:
            with self.zip.open(member) as stream:
                while True:
                    chunk = stream.read(min(1 << 22, self.max_bytes + 1 - total))
                    if not chunk:
                        break
                    total += len(chunk)
                    if total > self.max_bytes:
                        raise DatasetError(
                            f"{self.source}:{key} inflates to more than max_bytes={self.max_bytes:,} bytes; "
                            "refusing to read it (a zip bomb or a much larger dataset than expected). "
                            "If you trust the file, pass a larger max_bytes"
                        )
                    chunks.append(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
            raise DatasetError(
                f"{self.source}:{key} cannot be unpacked ({error}); delete the zip and download it again"
            ) from None
        return b"".join(chunks)

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _indicators(members: dict) -> list[tuple[str, str]]:
    """(NAME, prefix) for each ``prefix/NAME_graph_indicator.txt`` among member names."""
    found = []
    for key in sorted(members):
        prefix, _, base = key.rpartition("/")
        if base.endswith("_graph_indicator.txt"):
            found.append((base[: -len("_graph_indicator.txt")], prefix + "/" if prefix else ""))
    return found


# ---------------------------------------------------------------------------- numeric parsing
def _parse_table(data: bytes, filename: str, dtype: type, columns: int | None) -> np.ndarray:
    """Parse a whole comma/whitespace separated numeric file.

    Returns ``dtype [L, columns]`` for L lines (trailing blank lines ignored); ``columns=None``
    takes the column count from the first line. Raises TUFormatError naming the first bad line.
    """
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    data = data.rstrip()
    if not data:
        return np.zeros((0, columns or 0), dtype=dtype)
    bytes_view = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(bytes_view == ord("\n"))
    num_lines = len(newlines) + 1
    # Count tokens per line (a token starts where a separator is followed by a non-separator),
    # so a line with too few or too many values is caught even when the total happens to fit.
    separator = _SEPARATOR[bytes_view]
    token_starts = np.flatnonzero(~separator & np.concatenate([[True], separator[:-1]]))
    per_line = np.bincount(np.searchsorted(newlines, token_starts), minlength=num_lines)
    if columns is None:
        columns = max(int(per_line[0]), 1)
    bad = np.flatnonzero(per_line != columns)
    if len(bad):
        _diagnose(data, filename, dtype, columns, first=int(bad[0]))
    try:
        values = np.fromstring(data.replace(b",", b" "), dtype=dtype, sep=" ")
    except ValueError:
        _diagnose(data, filename, dtype, columns)
    if values.size != num_lines * columns:
        _diagnose(data, filename, dtype, columns)
    return values.reshape(num_lines, columns)


def _diagnose(data: bytes, filename: str, dtype: type, columns: int, first: int = 0) -> NoReturn:
    """Slow path, only on error: find the first bad line from index ``first`` and raise."""
    kind = "an integer" if np.issubdtype(dtype, np.integer) else "a number"
    lines = data.split(b"\n")
    for index in range(first, len(lines)):
        tokens = lines[index].replace(b",", b" ").split()
        where = f"{filename}, line {index + 1}"
        if not tokens:
            raise TUFormatError(f"{where}: empty line; remove it (expected {columns} value(s) per line)")
        if len(tokens) != columns:
            raise TUFormatError(
                f"{where}: {len(tokens)} value(s), expected {columns} per line: {lines[index][:80].decode('latin-1')!r}"
            )
        for token in tokens:
            try:
                int(token) if kind == "an integer" else float(token)
            except ValueError:
                raise TUFormatError(
                    f"{where}: {token[:40].decode('latin-1')!r} is not {kind}; fix or remove that line"
                ) from None
    raise TUFormatError(f"{filename}: could not be parsed as {columns} numeric column(s) per line")


def _line_count_error(files: _TUFiles, kind: str, found: int, expected: int, per: str) -> TUFormatError:
    name = files.filename(kind)
    if found < expected:
        detail = f"it ends after line {found}; line {found + 1} is missing"
    else:
        detail = f"line {expected + 1} is one too many"
    return TUFormatError(
        f"{name}: {found:,} lines but {expected:,} expected (one per {per}); {detail}. "
        "The files do not belong together or one is truncated: re-download the dataset"
    )


def _read_label_column(files: _TUFiles, key: str, expected: int, per: str) -> tuple[np.ndarray, int]:
    """A one-integer-per-line label file: (labels as indices 0..K-1, K); one line per ``per``."""
    raw = _parse_table(files.read(key), files.filename(key), np.int64, 1)[:, 0]
    if len(raw) != expected:
        raise _line_count_error(files, key, len(raw), expected, per)
    values, labels = _map_to_index(raw)
    return labels, len(values)


def _map_to_index(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique originals, int64 index of each value into them)."""
    unique, inverse = np.unique(values, return_inverse=True)
    return unique, inverse.astype(np.int64).reshape(-1)


# ---------------------------------------------------------------------------- reader
def read_tu(
    source: str | os.PathLike,
    name: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    accept_damaged: bool = False,
) -> GraphDataset:
    """Read a TU dataset from a folder or a ``.zip`` (files at the top or under ``NAME/``).

    Parameters
    ----------
    source: a folder holding ``NAME_*.txt`` (or a ``NAME/`` subfolder when ``name`` is given),
        or a zip holding them.
    name: dataset name; inferred from the single ``*_graph_indicator.txt`` when omitted.
    max_bytes: the most bytes read from one file (for a zip: counted as inflated, so a
        zip bomb is refused with :class:`DatasetError`).

    Returns a :class:`GraphDataset`: graph labels mapped to 0..C-1 by sorted original value
    (``class_names`` keeps the originals as strings), node labels likewise to 0..k-1, edges
    symmetrised and deduplicated per graph (self-loops kept), ``graph.name = "NAME #i"``.
    ``dataset.meta`` records ``a_lines`` (adjacency lines read), ``num_nodes``, ``self_loops``
    and ``check`` (:func:`check_dataset`'s counts; ``check["summary"]`` is the one-line report).

    Raises
    ------
    TUFormatError: a malformed or inconsistent file (message: file and 1-based line).
    DamagedDatasetError: the edge file is plainly truncated (see :func:`check_dataset`), unless
        ``accept_damaged``.
    DatasetNotFoundError: ``source`` does not exist.
    """
    source = Path(source).expanduser()
    files = _TUFiles(source, canonical_name(name) if name else None, max_bytes)
    try:
        dataset = _read_files(files)
        a_file = files.filename("A")
    finally:
        files.close()
    check = check_dataset(dataset)
    dataset.meta["check"] = check
    if check["truncated"] and not accept_damaged:
        raise DamagedDatasetError(
            f"{dataset.name}: {a_file} looks truncated: {check['truncated']}. Re-download the dataset; "
            "or pass accept_damaged=True (CLI: --accept-damaged-data) to use it as it is. "
            f"Check: {check['summary']}"
        )
    return dataset


# ---------------------------------------------------------------------------- sanity check
#: A graph is "isolated-node-heavy" when more than this fraction of its nodes have no edge.
ISOLATED_HEAVY_FRACTION = 0.5


def check_dataset(dataset: GraphDataset) -> dict:
    """Counts of anomalies in a loaded dataset, a one-line summary, and a truncation verdict.

    Returns a dict: ``graphs``, ``edgeless`` (graphs with no edge), ``trailing_edgeless`` (the
    run of edgeless graphs at the end: where a cut edge file shows, since TU edges are listed
    graph by graph), ``isolated_heavy`` (graphs with > 50 % isolated nodes), ``isolated_nodes``,
    ``single_node``, ``self_loops``, ``merged_entries`` (graphs whose edge lines had duplicates
    or missing reverse directions), ``classes_without_graphs`` (class ids never used: labels
    that do not match the class list), ``summary`` (one line) and ``truncated`` (why the edge
    file looks cut, or "" when it does not).

    The verdict is "truncated" when the edgeless graphs form a trailing run of at least
    max(2, 1 % of the graphs) while fewer than half of the other graphs are edgeless (a dataset
    of edgeless graphs on purpose has them everywhere), or when every graph is edgeless.
    """
    graphs = list(dataset.graphs)
    count = len(graphs)
    edge_counts = np.array([g.num_edges for g in graphs], dtype=np.int64)
    edgeless = edge_counts == 0
    trailing = 0
    while trailing < count and edgeless[count - 1 - trailing]:
        trailing += 1
    isolated_heavy = isolated_nodes = single_node = merged = 0
    for graph in graphs:
        if graph.num_nodes == 1:
            single_node += 1
        isolated = int(np.count_nonzero(graph.degrees() == 0)) if graph.num_nodes else 0
        isolated_nodes += isolated
        if graph.num_nodes >= 2 and isolated > ISOLATED_HEAVY_FRACTION * graph.num_nodes:
            isolated_heavy += 1
        if any("duplicate lines" in note for note in graph.notes):
            merged += 1
    used = {int(g.label) for g in graphs if g.label is not None}
    unused = sorted(set(range(len(dataset.class_names or []))) - used)
    self_loops = int((getattr(dataset, "meta", None) or {}).get("self_loops", 0))
    others = count - trailing
    truncated = ""
    if count >= 2 and int(edgeless.sum()) == count:
        truncated = f"all {count} graphs have no edges (the edge file is empty or unreadable)"
    elif trailing >= max(2, math.ceil(0.01 * count)) and int(edgeless[:others].sum()) < 0.5 * max(others, 1):
        truncated = (f"the last {trailing} of {count} graphs have no edges (edges stop at graph {others}) while "
                     f"{int(edgeless[:others].sum())} of the {others} before them are edgeless")
    parts = [f"{count} graphs", f"{int(edgeless.sum())} edgeless"]
    if trailing:
        parts.append(f"{trailing} of them at the end")
    parts += [f"{isolated_heavy} isolated-node-heavy (>{ISOLATED_HEAVY_FRACTION:.0%} isolated)",
              f"{isolated_nodes} isolated nodes", f"{single_node} single-node", f"{self_loops} self-loops",
              f"{merged} with merged edge lines", f"{len(unused)} unused classes"]
    summary = f"{dataset.name}: " + ", ".join(parts) + (" - LOOKS TRUNCATED" if truncated else "")
    return {
        "graphs": count, "edgeless": int(edgeless.sum()), "trailing_edgeless": trailing,
        "isolated_heavy": isolated_heavy, "isolated_nodes": isolated_nodes, "single_node": single_node,
        "self_loops": self_loops, "merged_entries": merged, "classes_without_graphs": unused,
        "truncated": truncated, "summary": summary,
    }


def _read_files(files: _TUFiles) -> GraphDataset:
    name = files.name
    indicator_file = files.filename("graph_indicator")
    indicator = _parse_table(files.read("graph_indicator"), indicator_file, np.int64, 1)[:, 0]
    num_nodes = len(indicator)
    if num_nodes == 0:
        raise TUFormatError(f"{indicator_file}: empty; it must list one graph id per node")
    # Graph ids must run 1, 1, ..., 2, 2, ..., G: start at 1 and step by 0 or 1.
    if indicator[0] != 1:
        raise TUFormatError(f"{indicator_file}, line 1: graph id {indicator[0]}, expected 1 (ids start at 1)")
    steps = np.diff(indicator)
    bad = np.flatnonzero((steps != 0) & (steps != 1))
    if len(bad):
        line = int(bad[0]) + 2
        raise TUFormatError(
            f"{indicator_file}, line {line}: graph id {indicator[line - 1]} follows {indicator[line - 2]}; "
            "graph ids must be contiguous per graph and numbered 1..G without gaps"
        )
    graph_of_node = indicator - 1
    num_graphs = int(indicator[-1])
    node_starts = np.searchsorted(graph_of_node, np.arange(num_graphs + 1))

    labels_file = files.filename("graph_labels")
    raw_graph_labels = _parse_table(files.read("graph_labels"), labels_file, np.int64, 1)[:, 0]
    if len(raw_graph_labels) != num_graphs:
        raise _line_count_error(files, "graph_labels", len(raw_graph_labels), num_graphs, f"graph in {indicator_file}")
    class_values, graph_labels = _map_to_index(raw_graph_labels)

    node_labels = None
    num_node_labels = 0
    if files.has("node_labels"):
        node_labels, num_node_labels = _read_label_column(files, "node_labels", num_nodes, f"node in {indicator_file}")

    node_attributes = None
    attribute_dim = 0
    if files.has("node_attributes"):
        attributes = _parse_table(files.read("node_attributes"), files.filename("node_attributes"), np.float64, None)
        if len(attributes) != num_nodes:
            raise _line_count_error(files, "node_attributes", len(attributes), num_nodes, f"node in {indicator_file}")
        node_attributes = attributes.astype(np.float32)
        attribute_dim = node_attributes.shape[1]

    a_file = files.filename("A")
    adjacency = _parse_table(files.read("A"), a_file, np.int64, 2) - 1
    a_lines = len(adjacency)
    out_of_range = np.flatnonzero(((adjacency < 0) | (adjacency >= num_nodes)).any(axis=1))
    if len(out_of_range):
        row = int(out_of_range[0])
        raise TUFormatError(
            f"{a_file}, line {row + 1}: node id pair ({adjacency[row, 0] + 1}, {adjacency[row, 1] + 1}) "
            f"out of range 1..{num_nodes:,} ({indicator_file} has {num_nodes:,} nodes)"
        )
    source_graph = graph_of_node[adjacency[:, 0]]
    target_graph = graph_of_node[adjacency[:, 1]]
    spanning = np.flatnonzero(source_graph != target_graph)
    if len(spanning):
        row = int(spanning[0])
        raise TUFormatError(
            f"{a_file}, line {row + 1}: edge ({adjacency[row, 0] + 1}, {adjacency[row, 1] + 1}) joins graph "
            f"{source_graph[row] + 1} and graph {target_graph[row] + 1} (per {indicator_file}); "
            "every edge must stay inside one graph"
        )
    edge_labels = None
    num_edge_labels = 0
    if files.has("edge_labels"):
        edge_labels, num_edge_labels = _read_label_column(files, "edge_labels", a_lines, f"line of {a_file}")
    if np.any(np.diff(source_graph) < 0):
        order = np.argsort(source_graph, kind="stable")
        adjacency, source_graph = adjacency[order], source_graph[order]
        edge_labels = None if edge_labels is None else edge_labels[order]
    edge_starts = np.searchsorted(source_graph, np.arange(num_graphs + 1))

    graphs = []
    self_loops = 0
    for index in range(num_graphs):
        first, last = node_starts[index], node_starts[index + 1]
        lines = adjacency[edge_starts[index] : edge_starts[index + 1]] - first
        graph = Graph.from_edge_list(
            int(last - first),
            lines,
            node_labels=None if node_labels is None else node_labels[first:last],
            node_attributes=None if node_attributes is None else node_attributes[first:last],
            label=int(graph_labels[index]),
            name=f"{name} #{index}",
        )
        if edge_labels is not None:
            _attach_edge_labels(graph, lines, edge_labels[edge_starts[index] : edge_starts[index + 1]], a_file)
        loops = int(np.count_nonzero(graph.edges[:, 0] == graph.edges[:, 1]))
        self_loops += loops
        if len(lines) != 2 * graph.num_edges - loops:
            graph.notes.append(
                f"{a_file} lists {len(lines)} entries for {graph.num_edges} undirected edges "
                f"({loops} self-loops): duplicate lines and missing reverse directions were merged"
            )
        graphs.append(graph)

    dataset = GraphDataset(
        name=name,
        graphs=graphs,
        class_names=[str(value) for value in class_values],
        num_node_labels=num_node_labels,
        node_attribute_dim=attribute_dim,
        num_edge_labels=num_edge_labels,
        source=str(files.source),
    )
    # Not a GraphDataset field (core/data/graphs.py is shared); an instance attribute for the curious.
    dataset.meta = {"format": "TU", "a_lines": a_lines, "num_nodes": num_nodes, "self_loops": self_loops}
    return dataset


def _attach_edge_labels(graph: Graph, lines: np.ndarray, labels: np.ndarray, a_file: str) -> None:
    """Set ``graph.edge_labels`` (one per undirected edge, aligned with ``graph.edges``) from the
    labels of its A lines (``lines``: int [L, 2] local node pairs, ``labels``: int [L]).

    Like the edge weights, the first line of a pair gives its label; when the reverse direction
    or a duplicate line carries another label, the graph's notes say so.
    """
    n = max(graph.num_nodes, 1)
    keys = np.minimum(lines[:, 0], lines[:, 1]) * n + np.maximum(lines[:, 0], lines[:, 1])
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    label_of_key = labels[first]
    graph.edge_labels = label_of_key[np.searchsorted(unique, graph.edges[:, 0] * n + graph.edges[:, 1])]
    disagree = int(np.count_nonzero(labels != label_of_key[inverse.reshape(-1)]))
    if disagree:
        graph.notes.append(f"{disagree} line(s) of {a_file} carry another edge label than the first line of "
                           "the same edge; the first line's label was kept")


# ---------------------------------------------------------------------------- named datasets
def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: bool = True,
    url: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    accept_damaged: bool = False,
) -> GraphDataset:
    """Load a named dataset: a TU dataset from disk (downloading it once if needed) or the synthetic one.

    Looks for ``<dir>/<NAME>/`` or ``<dir>/<NAME>.zip`` in :func:`resolve_data_dir` (explicit
    ``data_dir`` > ``$DIFFPOOL_DATA`` > cache) and then the cache. If absent and ``download``,
    fetches ``url`` (default :func:`tu_url`) into :func:`default_cache_dir` as ``<NAME>.zip``.

    ``"synthetic-hierarchy"`` returns :func:`core.data.synthetic.make_synthetic_hierarchy` ().
    A TU dataset is checked (:func:`check_dataset`); a plainly truncated one raises
    :class:`DamagedDatasetError` unless ``accept_damaged``.
    """
    if name.lower() == SYNTHETIC_NAME:
        from core.data.synthetic import make_synthetic_hierarchy

        return make_synthetic_hierarchy()
    name = canonical_name(name)
    dirs = _search_dirs(data_dir)
    local = _find_local(name, dirs)
    if local is None:
        address = url or tu_url(name)
        if not download:
            looked = "; ".join(f"{d / name}/ or {d / name}.zip" for d in dirs)
            raise DatasetNotFoundError(
                f"dataset {name!r} not found (looked for {looked}). Download {address} and put the zip, "
                f"or its unzipped {name}/ folder, into {dirs[0]}", hint="call with download=True")
        if url is None and name not in KNOWN_DATASETS:
            known = ", ".join(KNOWN_DATASETS)
            raise DatasetNotFoundError(
                f"unknown dataset {name!r} and not found in {dirs[0]}; known: {known}, {SYNTHETIC_NAME}. "
                "For another TU dataset pass url= or put its folder/zip in the data directory"
            )
        local = download_dataset(name, address, progress=progress)
    return read_tu(local, name=name, max_bytes=max_bytes, accept_damaged=accept_damaged)


def download_dataset(name: str, url: str | None = None, cache_dir: Path | None = None, progress: bool = True) -> Path:
    """Download ``url`` (default :func:`tu_url`) to ``<cache>/<NAME>.zip``; returns that path.

    Writes to a temporary file beside the target and renames it atomically, so an interrupted
    download never leaves a half zip under the final name.
    """
    from tqdm import tqdm

    name = canonical_name(name)
    url = url or tu_url(name)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / f"{name}.zip"
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=cache_dir)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"{name}.zip", disable=not progress) as bar:
                while True:
                    chunk = response.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
                    bar.update(len(chunk))
        if not zipfile.is_zipfile(temporary):
            raise DatasetError(f"{url} did not return a zip file; download it by hand and put it at {target}")
        os.replace(temporary, target)
    except (urllib.error.URLError, OSError) as error:
        raise DatasetError(
            f"downloading {name} from {url} failed ({error}); download it by hand and put the zip at {target}, "
            f"or unzip it into {cache_dir / name}/"
        ) from error
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return target


__all__ = [
    "DEFAULT_MAX_BYTES",
    "DATASET_ALIASES",
    "DatasetError",
    "DatasetNotFoundError",
    "KNOWN_DATASETS",
    "SYNTHETIC_NAME",
    "TUFormatError",
    "available_datasets",
    "canonical_name",
    "default_cache_dir",
    "download_dataset",
    "load_dataset",
    "read_tu",
    "resolve_data_dir",
    "tu_url",
]
