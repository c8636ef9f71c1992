"""DiffPool Explorer: navigation only. Run with ``streamlit run streamlit_app.py``.

Icons are emoji, not ``:material/...:`` names: Streamlit fetches Material icons from a font CDN,
which fails (and stalls) offline.
"""

from pathlib import Path

import streamlit as st

from viz_app.cache import apply_torch_threads, foreground_run

PAGES = Path(__file__).parent / "viz_app" / "pages"

# Every rerun runs in a Streamlit script thread; torch's thread count is set here, before any
# page runs a model, fits a graph, trains or summarises a dataset (the CLI's --threads default).
apply_torch_threads()

st.set_page_config(page_title="DiffPool Explorer", page_icon="🕸️", layout="wide")

candidates = [
    ("explore.py", "Explore", "🔎", True),
    ("compare.py", "Compare", "⚖️", False),
    ("atlas.py", "Dataset atlas", "🧭", False),
    ("embeddings.py", "Embeddings", "🗺️", False),
    ("train.py", "Train", "🏋️", False),
    ("model_card.py", "Model card", "🪪", False),
    ("upload.py", "Upload a graph", "📤", False),
    ("teaching.py", "Teaching", "🎓", False),
]
pages = [
    st.Page(PAGES / file, title=title, icon=icon, default=default)
    for file, title, icon, default in candidates
    if (PAGES / file).is_file()
]
# Background prefetching (large graphs, dataset summaries) waits while a page runs and just after.
with foreground_run():
    st.navigation(pages).run()
