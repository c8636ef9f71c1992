"""Text and array formats: edge lists (whitespace, comma, tab; headers, weights, comments), dense
matrices (.csv, .npy without pickle)."""

from __future__ import annotations

import csv
import io
import math
import re
import tokenize
from typing import TYPE_CHECKING

import numpy as np

from core.data.graphs import Graph

if TYPE_CHECKING:
    pass
from core.data.io.base import (HEADER_WORDS, MAX_WEIGHT, GraphInputError, ReadLimits, _assemble, _GraphBuilder,
                               _limit_hint)


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
        try:
            fields = next(csv.reader([line]))
        except csv.Error as error:  # e.g. a stray carriage return inside a quoted field
            raise GraphInputError(f"malformed quoted field in line {line[:60]!r}: {error}") from None
    else:
        fields = line.split(separator)
    fields = [f.strip() for f in fields]
    while fields and not fields[-1]:  # trailing separators
        fields.pop()
    if separator == ";":  # "1,5" is one and a half where ";" separates fields
        fields = [f.replace(",", ".") if _DECIMAL_COMMA.fullmatch(f) else f for f in fields]
    return fields


def _data_lines(text: str):
    """(line number, stripped line) for every line that is not blank or a #/% comment; a comment after
    the data (``2 0  # note``: a ``#`` after whitespace, so a node named ``C#`` stays) is dropped."""
    for number, line in enumerate(io.StringIO(text), start=1):
        stripped = _INLINE_COMMENT.split(line.strip(), maxsplit=1)[0].rstrip()
        if stripped and stripped[0] not in "#%":
            yield number, stripped


_INLINE_COMMENT = re.compile(r"\s#")
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")


def _pick_separator(line: str, preferred: str | None) -> str | None:
    if ";" in line and len(line.split()) == 1:  # a spreadsheet's CSV where the comma is the decimal mark
        return ";"
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
    if [f.lower() for f in first_fields[:2]] == ["id", "label"]:
        raise GraphInputError(
            f"{name}: line {first[0]} {first[1]!r} is the header of a node table (Gephi's Id, Label columns), "
            "not of an edge list: upload the edges table (Source, Target[, Weight]) instead")
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
    large = matrix > MAX_WEIGHT
    if large.any():
        i, j = (int(x) for x in np.argwhere(large)[0])
        raise GraphInputError(f"{name}: entry [{i}, {j}] = {float(matrix[i, j])!r} is larger than {MAX_WEIGHT:.3g}, "
                              "the largest float32 (edge weights are stored as float32)")
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
