"""DiffPool Explorer core: graphs, datasets, the DiffPool model, traces, training and analysis.

This package never imports streamlit, plotly or pyvis; the app depends on it, not the reverse.
"""

__version__ = "0.1.0"
