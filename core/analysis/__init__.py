"""Pure functions over traces and graphs: assignment statistics, flows between levels, agreement and
stability, classical clusterings, layouts and projections, colours, and the diagnosis of a pooling
level."""

from core.analysis.agreement import (  # noqa: F401
    agreement,
    clustering_stability,
    match_clusters,
    pairwise_agreement,
    partition_scores,
)
from core.analysis.assignments import (  # noqa: F401
    ROW_SUM_TOLERANCE,
    assignment_stats,
    cluster_order,
    dataset_level_entropy,
    hard_clusters,
    node_entropy,
    top_clusters,
    top_clusters_of_rows,
)
from core.analysis.clustering import (  # noqa: F401
    clustering_report,
    conductance,
    leiden_clusters,
    louvain_clusters,
    modularity,
    spectral_clusters,
)
from core.analysis.colours import (  # noqa: F401
    PALETTE_LIGHTNESS,
    ciede2000,
    distinct_palette,
    srgb_to_lab,
    used_cluster_colors,
)
from core.analysis.flows import (  # noqa: F401
    composed_assignment,
    sankey_flows,
)
from core.analysis.positions import (  # noqa: F401
    SPRING_LAYOUT_MAX_NODES,
    cluster_positions,
    layout_positions,
    sample_nodes,
)
from core.analysis.projection import (  # noqa: F401
    UMAP_MIN_POINTS,
    nearest_others,
    neighbour_class_agreement,
    project_2d,
)

__all__ = [
    "PALETTE_LIGHTNESS",
    "ROW_SUM_TOLERANCE",
    "SPRING_LAYOUT_MAX_NODES",
    "UMAP_MIN_POINTS",
    "agreement",
    "assignment_stats",
    "ciede2000",
    "cluster_order",
    "cluster_positions",
    "clustering_report",
    "clustering_stability",
    "composed_assignment",
    "conductance",
    "dataset_level_entropy",
    "distinct_palette",
    "hard_clusters",
    "layout_positions",
    "leiden_clusters",
    "louvain_clusters",
    "match_clusters",
    "modularity",
    "neighbour_class_agreement",
    "node_entropy",
    "pairwise_agreement",
    "project_2d",
    "sample_nodes",
    "sankey_flows",
    "spectral_clusters",
    "srgb_to_lab",
    "top_clusters",
    "used_cluster_colors",
]
from core.analysis.diagnosis import (  # noqa: F401,E402
    VERDICTS,
    diagnose_level,
    diagnose_trace,
    verdict_shares,
)
from core.analysis.layout import cluster_layout, graph_layout  # noqa: F401,E402
from core.analysis.overlap import score_overlapping  # noqa: F401,E402
from core.analysis.predictions import prediction_agreement  # noqa: F401,E402
