"""The diagnosis on the default view, in a real browser (Streamlit + headless Chromium).

A PROTEINS graph whose second pooling level collapses under the shipped proteins-diffpool-structural-long
model, the PROTEINS default (#1112: 40 nodes, pooled into 8 clusters, then all into one of 4) and a 2-level fit of an uploaded graph: each page shows the verdict core.diagnose computes,
with no tab click. Screenshots go to tests/artifacts/. Skipped without Chromium / playwright /
the shared TU data.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import SHARED_TU
from tests.viz_app.test_browser import ARTIFACTS, CHROMIUM, LAUNCH_ARGS, ROOT, running_app, wait_idle

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} not installed")]

COLLAPSED_PROTEINS_GRAPH = 1112
COLLAPSED_LEVEL = 1  # the second pooling level
DECIDED_PROTEINS_GRAPH = 579  # 147 nodes, mean level-1 entropy ~0.05 nats: nearly every node decided


@pytest.fixture(scope="module")
def shipped_app_url():
    """The app with the shipped models and the shared TU data folder."""
    pytest.importorskip("playwright.sync_api")
    if not (SHARED_TU / "PROTEINS").is_dir():
        pytest.skip(f"PROTEINS not found under {SHARED_TU}")
    env = dict(os.environ, DIFFPOOL_DATA=str(SHARED_TU))
    env.pop("DIFFPOOL_MODELS", None)
    with running_app(env) as url:
        yield url


def test_collapsed_proteins_graph_shows_its_verdict_on_the_default_view(shipped_app_url):
    from playwright.sync_api import sync_playwright

    from core.model.checkpoint import load_checkpoint
    from core.data.datasets import load_dataset
    from core.analysis.diagnosis import EXPLANATIONS, diagnose_trace
    from core.model.inference import trace_graphs

    model, spec, card = load_checkpoint(ROOT / "pretrained" / "proteins-diffpool-structural-long")
    graph = load_dataset("PROTEINS", data_dir=SHARED_TU, download=False, progress=False)[COLLAPSED_PROTEINS_GRAPH]
    trace = trace_graphs(model, [graph], spec, [COLLAPSED_PROTEINS_GRAPH], seed=card["seed"])[0]
    expected = diagnose_trace(trace, graph.node_labels)[COLLAPSED_LEVEL]
    assert expected["verdict"] == "collapsed"  # the known answer for this graph

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(shipped_app_url)
        wait_idle(page)
        page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
        page.get_by_role("option", name="PROTEINS", exact=True).click()
        # the graph index box only accepts a high index once the dataset (and its size) has switched
        page.get_by_text("PROTEINS #0").first.wait_for(timeout=90_000)
        wait_idle(page)
        box = page.locator('[data-testid="stSidebar"] [data-testid="stNumberInput"] input').first
        box.fill(str(COLLAPSED_PROTEINS_GRAPH))
        box.press("Enter")
        page.get_by_text(f"PROTEINS #{COLLAPSED_PROTEINS_GRAPH}").first.wait_for(timeout=90_000)
        wait_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        main = page.locator('[data-testid="stMain"]')
        main.get_by_text(EXPLANATIONS["collapsed"]).first.wait_for(timeout=60_000)
        assert main.get_by_text("collapsed", exact=True).count() >= 1
        assert main.get_by_text(f"{expected['clusters_used']} / {expected['num_clusters']}").count() >= 1
        page.screenshot(path=str(ARTIFACTS / "diagnosis-proteins-collapsed.png"), full_page=False)

        # Entropy colours as rendered: nearly every node of the decided graph has H ≈ 0, so inside the
        # plot area (colour bar excluded) the nodes must be drawn near-black, not pale.
        box.fill(str(DECIDED_PROTEINS_GRAPH))
        box.press("Enter")
        page.get_by_text(f"PROTEINS #{DECIDED_PROTEINS_GRAPH}").first.wait_for(timeout=90_000)
        wait_idle(page)
        page.get_by_role("tab", name="Entropy").click()
        chart = main.locator(".js-plotly-plot").filter(has_text="Node entropy on the graph").first
        chart.wait_for(timeout=60_000)
        wait_idle(page)
        page.wait_for_timeout(1500)  # WebGL paint
        chart.scroll_into_view_if_needed()
        area = chart.locator(".nsewdrag").first.bounding_box()
        shot = ARTIFACTS / "diagnosis-proteins-decided-entropy.png"
        page.screenshot(path=str(shot), clip=area)
        assert _near_black_pixels(shot) >= 150
        browser.close()


def _near_black_pixels(path) -> int:
    """Pixels darker than (25, 25, 25) in a screenshot (node outlines #333 and text are lighter)."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.int64)
    return int((pixels.max(axis=2) < 25).sum())


def test_uploaded_graph_fit_shows_the_same_verdict_as_core(shipped_app_url):
    from playwright.sync_api import sync_playwright

    from core.analysis.diagnosis import diagnose_trace
    from core.train.fit import FitSettings, fit_graph
    from core.data.io.reader import read_graph

    example = ROOT / "viz_app" / "examples" / "karate-club.gml"
    graph = read_graph(example)
    fitted = fit_graph(graph, FitSettings(cluster_counts=[8, 4], epochs=150, seed=0)).trace
    first = diagnose_trace(fitted, graph.node_labels)[0]
    expected = first["verdict"]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(shipped_app_url + "upload")
        wait_idle(page)
        page.set_input_files('[data-testid="stFileUploader"] input[type=file]', str(example))
        page.get_by_text("Fitted DiffPool").first.wait_for(timeout=90_000)
        wait_idle(page)
        # 2 levels, 8 → 4 clusters, seed 0: the settings above
        form = page.locator('[data-testid="stForm"]')
        form.locator('[data-testid="stSelectbox"]').first.click()
        page.get_by_role("option", name="2", exact=True).click()
        inputs = form.locator('[data-testid="stNumberInput"] input')
        inputs.nth(0).fill("8")
        inputs.nth(1).fill("4")
        form.get_by_role("button", name="Fit DiffPool").click()
        page.get_by_text("8 → 4 clusters").first.wait_for(timeout=120_000)
        wait_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        main = page.locator('[data-testid="stMain"]')
        main.get_by_text(first["explanation"]).first.wait_for(timeout=60_000)
        assert main.get_by_text(expected, exact=True).count() >= 1
        page.screenshot(path=str(ARTIFACTS / f"diagnosis-upload-karate-8-4-{expected}.png"), full_page=False)
        browser.close()
