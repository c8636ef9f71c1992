"""DiffPool Explorer: navigation only. Run with ``streamlit run streamlit_app.py``."""

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).parent / "viz_app" / "pages"

st.set_page_config(page_title="DiffPool Explorer", page_icon=":material/hub:", layout="wide")

candidates = [
    ("explore.py", "Explore", ":material/travel_explore:", True),
    ("compare.py", "Compare", ":material/compare_arrows:", False),
    ("atlas.py", "Dataset atlas", ":material/scatter_plot:", False),
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
st.navigation(pages).run()
