"""DiffPool Explorer core. Four floors, each importing only the ones before it:

``core.data``      graphs, TU datasets, the synthetic hierarchy, file formats, features, padded batches
``core.model``     DiffPool and its variants, the trace (what views read), inference, checkpoints
``core.train``     settings, splits, protocols, the fold loop, cross-validation, the CLI, DDP,
                   stacked training and the self-supervised fit of one graph
``core.analysis``  pure functions over traces and graphs: statistics, flows, agreement, clustering,
                   the diagnosis, layouts, projections, colours

``core.io``, ``core.fit``, ``core.checkpoint`` and ``core.diagnose`` are the entries people script
against, kept at their old paths. This package never imports streamlit, plotly or pyvis; the app
depends on it, not the reverse.
"""

__version__ = "0.2.0"
