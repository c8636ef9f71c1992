"""The one entry point: ``read_graph`` picks the reader from the file name and returns a Graph (or a
GraphDataset for a TU zip)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.data.graphs import Graph

if TYPE_CHECKING:
    from core.data.graphs import GraphDataset
from core.data.io.base import (
    PICKLE_EXTENSIONS,
    SUPPORTED_EXTENSIONS,
    GraphInputError,
    ReadLimits,
    Source,
    _decode_utf8,
    _gunzip_capped,
    _is_finite_number,
    _read_source,
    _supported_list,
)
from core.data.io.markup import _read_gml, _read_graphml, _read_node_link_json
from core.data.io.text import _read_csv, _read_edge_list, _read_npy
from core.data.io.tu import _read_tu_zip


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
    :class:`~core.data.graphs.GraphDataset` returned by ``core.data.datasets.read_tu``.

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
        from core.data.io.formats import read_gexf  # lazy: io_formats builds on this module

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
            from core.data.io.formats import read_matrix_market, read_pajek

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
