"""DiffPool Explorer: navigation only. Run with ``streamlit run streamlit_app.py``.

Navigation icons are ``:material/...:`` names: Streamlit serves the Material Symbols font itself,
so they draw offline and on systems without an emoji font (emoji drew as empty boxes there). The
favicon stays an emoji set in ``st.set_page_config``: without one, Streamlit would fetch the page's
Material icon from a font CDN as the favicon.
"""

from pathlib import Path

import streamlit as st

from viz_app.cache import apply_torch_threads, foreground_run
from viz_app.widgets import preload_frontend

PAGES = Path(__file__).parent / "viz_app" / "pages"

# Every rerun runs in a Streamlit script thread; torch's thread count is set here, before any
# page runs a model, fits a graph, trains or summarises a dataset (the CLI's --threads default).
apply_torch_threads()

st.set_page_config(page_title="DiffPool Explorer", page_icon="🕸️", layout="wide")

candidates = [
    ("explore.py", "Explore", ":material/travel_explore:", True),
    ("compare.py", "Compare", ":material/compare:", False),
    ("atlas.py", "Dataset atlas", ":material/grid_view:", False),
    ("embeddings.py", "Embeddings", ":material/scatter_plot:", False),
    ("train.py", "Train", ":material/model_training:", False),
    ("model_card.py", "Model card", ":material/badge:", False),
    ("upload.py", "Upload a graph", ":material/upload_file:", False),
    ("teaching.py", "Teaching", ":material/school:", False),
]
pages = [
    st.Page(PAGES / file, title=title, icon=icon, default=default)
    for file, title, icon, default in candidates
    if (PAGES / file).is_file()
]
# Background prefetching (large graphs, dataset summaries) waits while a page runs and just after.
with foreground_run():
    st.navigation(pages).run()
preload_frontend()  # after the page: the browser loads the table code while the user reads it
