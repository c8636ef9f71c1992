"""Markup formats: GraphML (defusedxml), GML, JSON node-link."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from core.data.graphs import Graph

if TYPE_CHECKING:
    pass
from core.data.io.base import GraphInputError, ReadLimits, _as_list_attribute, _GraphBuilder, _limit_hint, _list_note


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
