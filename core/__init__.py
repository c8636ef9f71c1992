"""DiffPool Explorer core, in four packages:

``core.data``      graphs, TU datasets, the synthetic hierarchy, file formats, features, padded batches
``core.model``     DiffPool and its variants, the trace (what views read), inference, checkpoints
``core.train``     settings, splits, protocols, the fold loop, cross-validation, the CLI, DDP,
                   stacked training and the self-supervised fit of one graph
``core.analysis``  pure functions over traces and graphs: statistics, flows, agreement, clustering,
                   the diagnosis, layouts, projections, colours

``core.data`` imports nothing else of core; ``core.analysis`` imports only ``core.data`` (and the
trace, for type hints); ``core.model`` and ``core.train`` build on data and call analysis where a
result needs judging (occlusion's composed assignment, the diagnosis of a fit).

``core.io``, ``core.fit``, ``core.checkpoint`` and ``core.diagnose`` are the entries people script
against, kept at their old paths. This package never imports streamlit, plotly or pyvis; the app
depends on it, not the reverse.
"""

__version__ = "0.2.0"
