"""DiffPool Explorer: navigation only. Run with ``streamlit run streamlit_app.py``."""

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).parent / "viz_app" / "pages"

st.set_page_config(page_title="DiffPool Explorer", page_icon="🧩", layout="wide")

candidates = [
    ("explore.py", "Explore", "🔎", True),
    ("compare.py", "Compare", "⚖️", False),
    ("embeddings.py", "Embeddings", "🗺️", False),
    ("train.py", "Train", "🏋️", False),
    ("model_card.py", "Model card", "🪪", False),
    ("upload.py", "Upload a graph", "📤", False),  # added by the upload page's author, if present
    ("teaching.py", "Teaching", "🎓", False),  # added by the teaching page's author, if present
]
pages = [
    st.Page(PAGES / file, title=title, icon=icon, default=default)
    for file, title, icon, default in candidates
    if (PAGES / file).is_file()
]
st.navigation(pages).run()
