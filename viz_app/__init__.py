"""Streamlit layer of DiffPool Explorer: cached loaders (state), plotly figures, pyvis networks, pages."""
