"""Readers for the exchange formats of network tools: GEXF (Gephi), Pajek ``.net``, Matrix Market ``.mtx``.

Called by :func:`core.io.read_graph` (the one entry point; it picks the reader from the file
name, handles ``.gz`` and decoding) and sharing its guarantees: limits enforced while reading
(a header that announces more nodes or entries than :class:`~core.io.ReadLimits` allow is refused
before anything is allocated), every problem a :class:`~core.io.GraphInputError` naming the line,
element or field, and nothing evaluated (GEXF goes through defusedxml, which refuses entity
declarations and external references).

What each keeps:

- **GEXF**: node ids or labels as names (labels when every node has a distinct one; the ids
  then go to ``node_data["id"]``), every declared node attribute (``<attvalue>``, with the
  declared type; ``list*`` types become lists: ``"a|b"`` or ``"[a, b]"``), edge weights.
- **Pajek**: vertex labels as names (same rule), ``*Edges``/``*Arcs`` and their ``*Edgeslist``/
  ``*Arcslist`` forms with weights, and ``*Partition NAME`` / ``*Vector NAME`` blocks (a
  ``.clu``/``.vec`` body: ``*Vertices N`` then one value per vertex) as node attributes ``NAME``.
- **Matrix Market**: ``coordinate`` (``pattern``, ``integer``, ``real``; ``general``,
  ``symmetric``) and ``array`` matrices; square only; values are edge weights (must be > 0;
  explicit zeros are dropped with a note).
"""

from __future__ import annotations

import math
import re
from array import array

import numpy as np

from core.data.graphs import Graph
from core.data.io.base import (
    GraphInputError,
    ReadLimits,
    _as_list_attribute,
    _GraphBuilder,
    _limit_hint,
    _list_note,
)
from core.data.io.markup import _local, _parse_boolean, _parse_xml

__all__ = ["read_gexf", "read_pajek", "read_matrix_market"]


def _too_many_nodes(name: str, where: str, count: int, limits: ReadLimits) -> GraphInputError:
    return GraphInputError(
        f"{name}: {where}: {count} nodes, more than {limits.max_nodes} ({_limit_hint('max_nodes', limits.max_nodes)})"
    )


def _names_from_labels(builder: _GraphBuilder, ids: list[str], labels: list[str | None]) -> None:
    """Use the labels as node names when every node has a distinct one (the ids go to ``id``)."""
    if labels and all(label is not None for label in labels) and len(set(labels)) == len(labels):
        builder.names = list(labels)
        builder.index = {label: i for i, label in enumerate(labels)}
        builder.attributes["id"] = dict(enumerate(ids))
    elif any(label is not None for label in labels):
        builder.attributes["label"] = {i: label for i, label in enumerate(labels) if label is not None}


# ---------------------------------------------------------------------------- GEXF
_GEXF_SCALAR = {"integer": int, "long": int, "short": int, "byte": int, "float": float, "double": float}


def _gexf_value(text: str, kind: str):
    kind = kind.lower()
    if kind.startswith("list"):
        body = text.strip()
        if body.startswith("[") and body.endswith("]"):
            body = body[1:-1]
            parts = [p.strip().strip("'\"") for p in body.split(",")] if body.strip() else []
        else:
            parts = [p.strip() for p in body.split("|")] if body else []
        return [_gexf_value(p, kind[4:] or "string") for p in parts]
    if kind in _GEXF_SCALAR:
        value = _GEXF_SCALAR[kind](text.strip())
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{text!r} is not finite")
        return value
    if kind == "boolean":
        return _parse_boolean(text)
    return text


def read_gexf(raw: bytes, name: str, limits: ReadLimits) -> Graph:
    """GEXF 1.1-1.3 (static graphs) via defusedxml; dynamic ``<spells>`` are ignored with a note."""
    root = _parse_xml(raw, name, "GEXF")
    if _local(root.tag) != "gexf":
        raise GraphInputError(f"{name}: the root element is <{_local(root.tag)}>, expected <gexf>")
    graph_element = next((child for child in root if _local(child.tag) == "graph"), None)
    if graph_element is None:
        raise GraphInputError(f"{name}: no <graph> element inside <gexf>")
    directed = graph_element.get("defaultedgetype", "undirected") == "directed"

    node_attributes: dict[str, dict] = {}
    edge_weight_ids: set[str] = set()
    for block in graph_element:
        if _local(block.tag) != "attributes":
            continue
        domain = block.get("class", "node")
        for attribute in block:
            if _local(attribute.tag) != "attribute":
                continue
            attribute_id = attribute.get("id")
            if attribute_id is None:
                raise GraphInputError(f"{name}: an <attribute> of class {domain!r} has no 'id'")
            title = attribute.get("title") or attribute_id
            kind = attribute.get("type", "string")
            default = None
            for child in attribute:
                if _local(child.tag) == "default" and child.text is not None:
                    try:
                        default = _gexf_value(child.text, kind)
                    except ValueError:
                        raise GraphInputError(
                            f"{name}: <attribute id={attribute_id!r}>: default {child.text!r} is not {kind}"
                        ) from None
            if domain == "node":
                node_attributes[attribute_id] = {"title": title, "type": kind, "default": default}
            elif domain == "edge" and title == "weight":
                edge_weight_ids.add(attribute_id)

    def section(tag: str) -> list:
        return [child for block in graph_element if _local(block.tag) == tag + "s"
                for child in block if _local(child.tag) == tag]

    builder = _GraphBuilder(name, limits)
    ids: list[str] = []
    labels: list[str | None] = []
    lists: set[str] = set()
    dynamic = False
    for position, element in enumerate(section("node")):
        node_id = element.get("id")
        where = f"<node> #{position + 1}" if node_id is None else f"<node id={node_id!r}>"
        if node_id is None:
            raise GraphInputError(f"{name}: {where}: no 'id' attribute")
        if any(_local(child.tag) == "nodes" for child in element):
            raise GraphInputError(f"{name}: {where}: nested nodes (hierarchical GEXF) are not supported")
        index = builder.new_node(node_id, where)
        ids.append(node_id)
        labels.append(element.get("label"))
        values = {}
        for block in element:
            if _local(block.tag) == "spells":
                dynamic = True
            if _local(block.tag) != "attvalues":
                continue
            for attvalue in block:
                if _local(attvalue.tag) != "attvalue":
                    continue
                key = attvalue.get("for", attvalue.get("id"))
                spec = node_attributes.get(key)
                if spec is None:
                    raise GraphInputError(f"{name}: {where}: <attvalue for={key!r}> names no declared node <attribute>")
                if attvalue.get("start") or attvalue.get("end") or attvalue.get("startopen") or attvalue.get("endopen"):
                    dynamic = True
                text = attvalue.get("value")
                if text is None:
                    raise GraphInputError(f"{name}: {where}: <attvalue for={key!r}> has no 'value'")
                try:
                    values[key] = _gexf_value(text, spec["type"])
                except ValueError:
                    raise GraphInputError(
                        f"{name}: {where}: attribute {spec['title']!r} = {text!r} is not of type {spec['type']}"
                    ) from None
        for key, spec in node_attributes.items():
            value = values.get(key, spec["default"])
            if isinstance(value, list):
                lists.add(spec["title"])
            builder.attribute(index, spec["title"], value)
    for position, element in enumerate(section("edge")):
        source, target = element.get("source"), element.get("target")
        where = f"<edge> #{position + 1} ({source!r} -> {target!r})"
        for end, value in (("source", source), ("target", target)):
            if value is None:
                raise GraphInputError(f"{name}: {where}: no '{end}' attribute")
            if value not in builder.index:
                raise GraphInputError(f"{name}: {where}: {end} {value!r} is not the id of a <node>")
        if element.get("type") == "directed":
            directed = True
        weight = element.get("weight")
        for block in element:
            if _local(block.tag) == "attvalues":
                for attvalue in block:
                    if attvalue.get("for") in edge_weight_ids:
                        weight = attvalue.get("value")
        builder.edge(builder.index[source], builder.index[target], weight, where)
    for title in lists:
        _as_list_attribute(builder, title)
    if lists:
        builder.notes.append(_list_note(sorted(lists), "declared as list types"))
    if dynamic:
        builder.notes.append("time intervals (dynamic GEXF) ignored: every node, edge and value read as static")
    _names_from_labels(builder, ids, labels)
    return builder.build(directed)


# ---------------------------------------------------------------------------- Pajek
_PAJEK_TOKENS = re.compile(r'"[^"]*"|\S+')


def _pajek_fields(line: str) -> list[str]:
    return _PAJEK_TOKENS.findall(line)


def read_pajek(text: str, name: str, limits: ReadLimits) -> Graph:
    """Pajek ``.net``: ``*Vertices N``, vertex lines ``id ["label"] [x y z ...]``, ``*Edges`` /
    ``*Arcs`` lines ``i j [weight]``, ``*Edgeslist`` / ``*Arcslist`` lines ``i j k ...``, and
    ``*Partition NAME`` / ``*Vector NAME`` blocks as node attributes. ``%`` starts a comment line."""
    builder = _GraphBuilder(name, limits)
    count: int | None = None
    labels: list[str | None] = []
    directed = False
    section = None
    block_name = None
    block_values: list = []
    block_expected = 0
    block_line = 0

    def vertex(field: str, where: str) -> int:
        try:
            number = int(field)
        except ValueError:
            raise GraphInputError(f"{name}: {where}: vertex {field!r} is not a number (Pajek numbers vertices 1..N)") from None
        if count is None:
            raise GraphInputError(f"{name}: {where}: an edge before *Vertices N")
        if not 1 <= number <= count:
            raise GraphInputError(f"{name}: {where}: vertex {number} is outside 1..{count} (*Vertices {count})")
        return number - 1

    def finish_block() -> None:
        if block_name is None:
            return
        if len(block_values) != block_expected:
            raise GraphInputError(
                f"{name}: line {block_line}: *Partition/*Vector {block_name!r} has {len(block_values)} values, "
                f"expected {block_expected} (one per vertex)"
            )
        if count is not None and block_expected != count:
            raise GraphInputError(
                f"{name}: line {block_line}: *Partition/*Vector {block_name!r} is for {block_expected} vertices, "
                f"the network has {count}"
            )
        for index, value in enumerate(block_values):
            builder.attribute(index, block_name, value)

    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        where = f"line {number}"
        if not stripped or stripped.startswith("%"):
            continue
        if stripped.startswith("*"):
            keyword = stripped.split(None, 1)[0].lower()
            rest = stripped[len(keyword):].strip()
            if keyword == "*vertices":
                fields = rest.split()
                try:
                    size = int(fields[0])
                except (IndexError, ValueError):
                    raise GraphInputError(f"{name}: {where}: *Vertices needs a vertex count, found {stripped[:60]!r}") from None
                if size < 0:
                    raise GraphInputError(f"{name}: {where}: *Vertices {size} is negative")
                if size > limits.max_nodes:
                    raise _too_many_nodes(name, where, size, limits)
                if section in ("partition", "vector") and block_expected == 0:
                    block_expected = size
                    continue
                if count is not None:
                    raise GraphInputError(f"{name}: {where}: a second *Vertices section (one network per file)")
                count = size
                for index in range(count):
                    builder.node(str(index + 1), where)
                labels = [None] * count
                section = "vertices"
            elif keyword in ("*edges", "*arcs", "*edgeslist", "*arcslist"):
                finish_block()
                block_name = None
                if count is None:
                    raise GraphInputError(f"{name}: {where}: {keyword} before *Vertices N")
                section = keyword[1:]
                directed = directed or keyword.startswith("*arcs")
            elif keyword in ("*partition", "*vector"):
                finish_block()
                section = keyword[1:]
                block_name = rest.strip('"') or section
                block_values, block_expected, block_line = [], 0, number
            elif keyword in ("*network", "*description"):
                section = None
            elif keyword == "*matrix":
                raise GraphInputError(f"{name}: {where}: *Matrix sections are not supported; write *Edges lines")
            else:
                raise GraphInputError(f"{name}: {where}: unknown Pajek section {keyword!r}")
            continue
        fields = _pajek_fields(stripped)
        if section == "vertices":
            index = vertex(fields[0], where)
            if len(fields) > 1:
                labels[index] = fields[1].strip('"')
        elif section in ("edges", "arcs"):
            if len(fields) < 2:
                raise GraphInputError(f"{name}: {where}: expected 'i j [weight]', found {stripped[:60]!r}")
            weight = fields[2] if len(fields) >= 3 and not fields[2].startswith('"') else None
            builder.edge(vertex(fields[0], where), vertex(fields[1], where), weight, where)
        elif section in ("edgeslist", "arcslist"):
            source = vertex(fields[0], where)
            for field in fields[1:]:
                builder.edge(source, vertex(field, where), None, where)
        elif section in ("partition", "vector"):
            if block_expected == 0:
                raise GraphInputError(f"{name}: {where}: *{section} {block_name!r} needs '*Vertices N' before its values")
            if len(block_values) >= block_expected:
                raise GraphInputError(f"{name}: {where}: more values than *Vertices {block_expected} in {block_name!r}")
            try:
                value = int(fields[0]) if section == "partition" else float(fields[0])
            except ValueError:
                kind = "an integer" if section == "partition" else "a number"
                raise GraphInputError(f"{name}: {where}: {block_name!r} value {fields[0]!r} is not {kind}") from None
            if isinstance(value, float) and not math.isfinite(value):
                raise GraphInputError(f"{name}: {where}: {block_name!r} value {fields[0]!r} is not finite")
            block_values.append(value)
        elif section is None:
            continue  # *Network / *Description text
        else:
            raise GraphInputError(f"{name}: {where}: data before any *Vertices section")
    finish_block()
    if count is None:
        raise GraphInputError(f"{name}: no *Vertices N line: not a Pajek network")
    if count == 0:
        raise GraphInputError(f"{name}: *Vertices 0: the network has no vertices")
    _names_from_labels(builder, [str(i + 1) for i in range(count)], labels)
    return builder.build(directed)


# ---------------------------------------------------------------------------- Matrix Market
def read_matrix_market(text: str, name: str, limits: ReadLimits) -> Graph:
    """Matrix Market exchange format: a square ``coordinate`` or ``array`` matrix as a graph."""
    lines = iter(enumerate(text.splitlines(), start=1))
    first = next(lines, (1, ""))[1].strip()
    banner = first.split()
    if len(banner) != 5 or banner[0].lower() != "%%matrixmarket" or banner[1].lower() != "matrix":
        raise GraphInputError(
            f"{name}: line 1: expected the banner '%%MatrixMarket matrix coordinate|array "
            f"pattern|integer|real general|symmetric', found {first[:80]!r}"
        )
    layout, field, symmetry = (word.lower() for word in banner[2:])
    if layout not in ("coordinate", "array"):
        raise GraphInputError(f"{name}: line 1: unknown layout {layout!r} (coordinate or array)")
    if field not in ("pattern", "integer", "real", "double"):
        raise GraphInputError(f"{name}: line 1: {field} matrices are not supported (pattern, integer or real)")
    if symmetry not in ("general", "symmetric"):
        raise GraphInputError(f"{name}: line 1: {symmetry} matrices are not supported (general or symmetric)")
    if layout == "array" and field == "pattern":
        raise GraphInputError(f"{name}: line 1: an array matrix cannot be 'pattern'")

    size_line = None
    for number, line in lines:
        stripped = line.strip()
        if stripped and not stripped.startswith("%"):
            size_line = (number, stripped.split())
            break
    if size_line is None:
        raise GraphInputError(f"{name}: no size line (rows columns [entries]) after the banner")
    number, fields = size_line
    wanted = 3 if layout == "coordinate" else 2
    try:
        if len(fields) != wanted:
            raise ValueError
        rows, columns = int(fields[0]), int(fields[1])
        if layout == "coordinate":
            entries = int(fields[2])
        else:  # a symmetric array stores the lower triangle, diagonal included
            entries = rows * (rows + 1) // 2 if symmetry == "symmetric" and rows == columns else rows * columns
    except ValueError:
        raise GraphInputError(
            f"{name}: line {number}: expected the size line '{'rows columns entries' if wanted == 3 else 'rows columns'}', "
            f"found {' '.join(fields)[:60]!r}"
        ) from None
    if rows != columns:
        raise GraphInputError(
            f"{name}: line {number}: the matrix is {rows} x {columns}; an adjacency matrix must be square "
            "(a rectangular one is a bipartite graph: give it as an edge list)"
        )
    if rows <= 0 or entries < 0:
        raise GraphInputError(f"{name}: line {number}: sizes must be positive, found {' '.join(fields)}")
    if rows > limits.max_nodes:
        raise _too_many_nodes(name, f"line {number}", rows, limits)
    if layout == "coordinate" and entries > 2 * limits.max_edges:
        raise GraphInputError(
            f"{name}: line {number}: {entries} entries, more than {2 * limits.max_edges} edge records "
            f"({_limit_hint('max_edges', limits.max_edges)})"
        )

    builder = _GraphBuilder(name, limits)
    for index in range(rows):
        builder.node(str(index + 1), f"line {number}")
    zeros = 0
    seen = 0
    positions = ((i, j) for j in range(rows) for i in range(j if symmetry == "symmetric" else 0, rows))
    for number, line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("%"):
            continue
        where = f"line {number}"
        seen += 1
        if seen > entries:
            raise GraphInputError(f"{name}: {where}: more entries than the {entries} announced on the size line")
        fields = stripped.split()
        if layout == "array":
            if len(fields) != 1:
                raise GraphInputError(f"{name}: {where}: an array matrix has one value per line, found {stripped[:60]!r}")
            i, j = next(positions)  # column-major
            value_text = fields[0]
        else:
            expected = 2 if field == "pattern" else 3
            if len(fields) != expected:
                raise GraphInputError(
                    f"{name}: {where}: a {field} entry is '{'i j' if expected == 2 else 'i j value'}', found {stripped[:60]!r}"
                )
            try:
                i, j = int(fields[0]) - 1, int(fields[1]) - 1
            except ValueError:
                raise GraphInputError(f"{name}: {where}: row/column {fields[0]!r} {fields[1]!r} are not integers") from None
            if not (0 <= i < rows and 0 <= j < rows):
                raise GraphInputError(f"{name}: {where}: entry ({i + 1}, {j + 1}) is outside the {rows} x {rows} matrix")
            value_text = fields[2] if expected == 3 else None
        weight = None
        if value_text is not None:
            try:
                value = float(value_text)
            except ValueError:
                raise GraphInputError(f"{name}: {where}: value {value_text!r} is not a number") from None
            if value == 0:
                zeros += 1
                continue
            weight = value
        builder.edge(i, j, weight, where)
    if seen < entries:
        raise GraphInputError(f"{name}: the size line announces {entries} entries but the file holds {seen} (truncated?)")
    if zeros and layout == "coordinate":
        builder.notes.append(f"{zeros} explicit zero entr{'y' if zeros == 1 else 'ies'} dropped (no edge)")
    if not builder.sources:
        raise GraphInputError(f"{name}: the matrix has no non-zero entries: no edges")
    directed = False
    if symmetry == "general":
        if _is_symmetric(builder):
            _keep_upper_triangle(builder)  # both triangles stored: one edge per pair
        else:
            directed = True
    graph = builder.build(directed)
    graph.notes.insert(0, f"read as a {rows} x {rows} {symmetry} {field} matrix (Matrix Market {layout})")
    return graph


def _is_symmetric(builder: _GraphBuilder) -> bool:
    """Whether a general matrix's entries come in mirrored pairs (then it is not 'directed')."""
    sources = np.frombuffer(builder.sources, dtype=np.int64)
    targets = np.frombuffer(builder.targets, dtype=np.int64)
    count = len(builder.names)
    forward = np.unique(sources * count + targets)
    backward = np.unique(targets * count + sources)
    return forward.size == backward.size and bool(np.all(forward == backward))


def _keep_upper_triangle(builder: _GraphBuilder) -> None:
    sources = np.frombuffer(builder.sources, dtype=np.int64)
    targets = np.frombuffer(builder.targets, dtype=np.int64)
    weights = np.frombuffer(builder.weights, dtype=np.float64)
    keep = sources <= targets
    builder.sources = array("q", sources[keep].tolist())
    builder.targets = array("q", targets[keep].tolist())
    builder.weights = array("d", weights[keep].tolist())
