"""``core.fit``: the self-supervised fit's public entry, kept at its old path (the code lives in
``core.train.fit``): ``fit_graph(graph, FitSettings(cluster_counts=[...], seed=...))``."""

from core.train.fit import FitResult, FitSettings, fit_graph  # noqa: F401
