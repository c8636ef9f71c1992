"""Read one uploaded graph file into a :class:`~core.data.graphs.Graph`; export cluster results.

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
``.gexf``                              GEXF, Gephi's format (defusedxml; ``core.data.io.formats``)
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
see :mod:`core.analysis.overlap`). ``node_attributes`` is left ``None``:
:func:`numeric_node_attributes` lists the attributes the app may offer as features.

Example
-------
>>> g = read_graph(b"# friends\nann bob\nbob cy\n", filename="friends.txt")
>>> g.num_nodes, g.num_edges, g.node_names
(3, 2, ['ann', 'bob', 'cy'])"""

from core.data.io.base import (  # noqa: F401
    EDGE_LIST_EXTENSIONS,
    HEADER_WORDS,
    PICKLE_EXTENSIONS,
    SUPPORTED_EXTENSIONS,
    GraphInputError,
    ReadLimits,
    Source,
)
from core.data.io.export import (  # noqa: F401
    assignments_to_csv,
    graph_to_graphml,
)
from core.data.io.reader import (  # noqa: F401
    numeric_node_attributes,
    read_graph,
)

__all__ = [
    "EDGE_LIST_EXTENSIONS",
    "GraphInputError",
    "HEADER_WORDS",
    "PICKLE_EXTENSIONS",
    "ReadLimits",
    "SUPPORTED_EXTENSIONS",
    "Source",
    "assignments_to_csv",
    "graph_to_graphml",
    "numeric_node_attributes",
    "read_graph",
]
