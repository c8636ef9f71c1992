"""The app's shared helpers under their old names: re-exported from the modules split by job.

- :mod:`viz_app.cache`: cached loaders and computations (models, datasets, traces, layouts,
  dataset summaries, projections, torch threads);
- :mod:`viz_app.sidebar`: the shared sidebar and the :class:`Selection` it returns;
- :mod:`viz_app.widgets`: display helpers (figures with downloads, networks, level pickers).

Pages may import from here or from those modules directly; both name the same objects.
"""

from __future__ import annotations

from viz_app.cache import (  # noqa: F401
    DEFAULT_MODEL_STEM, LAYOUT_SEED, PRETRAINED_DIR, REPO_ROOT, SYNTHETIC, _file_stamp, apply_torch_threads,
    card_compatibility, foreign_classes,
    checkpoint_label, dataset_choices, dataset_overview, graph_layout, graph_trace,
    import_pandas_last, input_network, list_checkpoints, load_dataset, load_model, load_torch_in_background,
    model_bundle, model_card,
    model_class_names, model_dirs, projection_now,
    shipped_models_dir, stamp_of, start_dataset_summary, start_preparing_large_graphs, stored_projection, summary_for, summary_if_ready, trace_for, user_models_dir,
    warm_umap_in_background,
)
from viz_app.sidebar import (  # noqa: F401
    SELECTION_KEYS, Selection, check_model, keep_selection, pooling_summary, select_graph, select_graph_on_click,
    sidebar,
)
from viz_app.widgets import (  # noqa: F401
    assignments_csv, coarsened_level_header, embed_html, fit_level_widget, markdown_table, pooling_level_select,
    rerun_when_ready, show_assignment_heatmaps, show_coarsened_level, show_figure,
    show_network, PENDING_MARK, pending_note,
)
