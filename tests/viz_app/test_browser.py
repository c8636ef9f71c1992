"""End to end in a real browser: `streamlit run streamlit_app.py` + headless Chromium (Playwright).

Skipped when /usr/bin/chromium or playwright is missing. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run"]

SERVER_LOG = ARTIFACTS / "browser-server.log"
#: Every page of the app, by its URL path ("" = Explore, the default page).
PAGE_PATHS = ("", "compare", "atlas", "embeddings", "train", "model_card", "upload", "teaching")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(port: int, env: dict, log_path: Path | None = None) -> subprocess.Popen:
    """Start ``streamlit run streamlit_app.py`` headless on ``port`` and wait for its health endpoint.

    The server's output goes to ``log_path`` when given (read by the offline test), else to a pipe.
    """
    output = open(log_path, "wb") if log_path is not None else subprocess.PIPE
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            text = log_path.read_text(errors="replace") if log_path is not None else \
                process.stdout.read().decode(errors="replace")
            raise RuntimeError(f"streamlit exited: {text[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("streamlit did not become healthy within 60 s")


@contextlib.contextmanager
def running_app(env: dict, log_path: Path | None = None):
    """The app served on a free port for the duration of the block; yields its URL."""
    port = free_port()
    process = start_app(port, env, log_path)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_idle(page, timeout_ms: int = 90_000) -> None:
    """Wait until a rerun has finished (the app root says notRunning)."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    pytest.importorskip("playwright.sync_api")
    from tests.viz_app.test_app import MODEL  # noqa: F401  (same model name convention)
    import torch

    from core.model.checkpoint import save_checkpoint
    from core.data.features import FeatureSpec
    from core.model.diffpool import DiffPool, DiffPoolConfig

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    folder = tmp_path_factory.mktemp("browser-models")
    spec = FeatureSpec("degree", max_degree=20)
    torch.manual_seed(0)
    config = DiffPoolConfig(input_dim=spec.dim, num_classes=3, num_pooling=2, assign_ratio=0.25, max_nodes=80)
    save_checkpoint(folder / "browser-synthetic-diffpool", DiffPool(config), spec,
                    {"dataset": "synthetic-hierarchy", "class_names": ["2 groups", "3 groups", "4 groups"], "seed": 0})
    one_level = DiffPoolConfig(input_dim=spec.dim, num_classes=3, num_pooling=1, assign_ratio=0.25, max_nodes=80)
    save_checkpoint(folder / "browser-synthetic-diffpool-one-level", DiffPool(one_level), spec,
                    {"dataset": "synthetic-hierarchy", "class_names": ["2 groups", "3 groups", "4 groups"], "seed": 0})
    env = dict(os.environ, DIFFPOOL_MODELS=str(folder))
    with running_app(env, SERVER_LOG) as url:
        yield url


def test_explore_page_renders_network_and_plotly_and_follows_graph_picker(app_url):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(app_url)
        wait_idle(page)
        page.wait_for_selector("iframe", timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0

        network = page.frame_locator("iframe").first
        network.locator("#mynetwork canvas").first.wait_for(timeout=30_000)
        assert network.locator("#mynetwork canvas").count() >= 1

        page.get_by_role("tab", name="Assignments").click()
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=30_000)
        page.get_by_role("tab", name="Hierarchy").click()

        heading = page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]').first
        before = heading.inner_text()
        assert "#0" in before
        page.screenshot(path=str(ARTIFACTS / "explore-graph0.png"), full_page=False)

        box = page.locator('[data-testid="stNumberInput"] input').first
        box.fill("12")
        box.press("Enter")
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')].some(e => e.innerText.includes('#12'))",
            timeout=60_000)
        wait_idle(page)
        after = heading.inner_text()
        assert after != before and "#12" in after
        assert page.locator('[data-testid="stException"]').count() == 0
        page.wait_for_timeout(1500)  # let the network iframe paint
        page.screenshot(path=str(ARTIFACTS / "explore-graph12.png"), full_page=False)
        browser.close()


def test_level_picker_stays_ticked_when_the_model_has_fewer_levels(app_url):
    """A radio keyed across models kept the old labels' choice: after switching from a 2-level to a
    1-level model the page showed level 1 with nothing ticked."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser, page = _open(p, app_url)
        page.frame_locator("iframe").first.locator("#mynetwork canvas").first.wait_for(timeout=60_000)
        radios = page.locator('[data-testid="stMain"] [data-testid="stRadio"] input[type="radio"]')
        radios.nth(1).wait_for(timeout=60_000)  # the picker is drawn after the input graph's iframe
        wait_idle(page)
        assert radios.count() == 2 and radios.nth(0).is_checked()
        page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').nth(1).click()
        page.get_by_role("option").filter(has_text="one-level").first.click()
        wait_idle(page)
        page.wait_for_function("() => document.querySelectorAll("
                               "'[data-testid=\"stMain\"] [data-testid=\"stRadio\"] input[type=\"radio\"]').length == 1",
                               timeout=60_000)
        wait_idle(page)
        assert radios.count() == 1 and radios.nth(0).is_checked()
        assert page.locator('[data-testid="stMain"] h3').filter(has_text="After pooling 1").count() == 1
        assert page.locator('[data-testid="stException"]').count() == 0
        browser.close()


def _open(p, url: str):
    browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(url)
    wait_idle(page)
    return browser, page


def test_teaching_page_shows_real_matrices_and_steps(app_url):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser, page = _open(p, app_url + "teaching")
        page.locator('[data-testid="stImage"] img[alt^="A (adjacency)"]').first.wait_for(timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_text("How DiffPool works").count() >= 1
        assert page.get_by_text("A ∈ ℝ").count() >= 1  # the step's formula, plain Unicode by default
        page.screenshot(path=str(ARTIFACTS / "teaching.png"), full_page=False)
        page.get_by_text("Typeset the formulas (LaTeX)").click()
        page.locator(".katex").first.wait_for(timeout=30_000)  # typeset on request
        browser.close()


def test_upload_page_clusters_a_file_and_survives_a_broken_one(app_url, tmp_path):
    from playwright.sync_api import sync_playwright

    broken = tmp_path / "broken.graphml"
    broken.write_text("<graphml><graph><node id='a'/><edge source='a' target='zz'/></graph></graphml>")
    with sync_playwright() as p:
        browser, page = _open(p, app_url + "upload")
        uploader = '[data-testid="stFileUploader"] input[type=file]'
        page.set_input_files(uploader, str(ROOT / "viz_app" / "examples" / "karate-club.gml"))
        page.get_by_text("Fitted DiffPool").first.wait_for(timeout=90_000)
        wait_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.frame_locator("iframe").first.locator("#mynetwork canvas").first.wait_for(timeout=30_000)

        page.set_input_files(uploader, str(broken))
        page.get_by_text("is not a declared <node>").first.wait_for(timeout=60_000)
        wait_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_role("heading", name="karate-club.gml").count() == 1  # the last good graph stays
        page.screenshot(path=str(ARTIFACTS / "upload-after-broken-file.png"), full_page=False)
        browser.close()


def test_offline_tour_of_every_page_requests_nothing_but_the_app(app_url):
    """Zero requests to any host but the app's own on every page (no icon font, no CDN, no
    telemetry), and no external-IP lookup when the server starts."""
    from urllib.parse import urlsplit

    from playwright.sync_api import sync_playwright

    app_host = urlsplit(app_url).netloc
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.on("request", lambda request: requests.append(request.url))  # pages, frames and workers
        page = context.new_page()
        for path in PAGE_PATHS:
            page.goto(app_url + path)
            wait_idle(page)
            page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=90_000)
            page.wait_for_timeout(800)  # let iframes and plotly finish their own loads
            wait_idle(page)
            assert page.locator('[data-testid="stException"]').count() == 0, path
            # every navigation link has its Material icon, drawn as one glyph from the font the app
            # serves (a missing font would leave the icon's name, e.g. "travel_explore", as wide text)
            links = page.locator('[data-testid="stSidebarNav"] a')
            icons = page.locator('[data-testid="stSidebarNav"] [data-testid="stIconMaterial"]')
            assert icons.count() == links.count() == len(PAGE_PATHS), path
            assert all(icons.nth(i).bounding_box()["width"] < 40 for i in range(icons.count())), path
        browser.close()
    foreign = sorted({url for url in requests
                      if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != app_host})
    assert not foreign, foreign
    assert len(requests) > 20  # the recorder saw the app's own traffic
    log = SERVER_LOG.read_text(errors="replace")
    assert "External URL" not in log and "localhost" in log  # browser.serverAddress: no IP lookup


def test_no_page_fetches_browser_code_on_its_first_visit(app_url):
    """Streamlit loads an element's browser code when a page first shows one (~0.2–0.5 s each on 2
    cores). The first page sends hidden copies of them (``viz_app.widgets.preload_frontend``), and
    the pages draw tables as Markdown rather than with the data grid, so that a click on any other
    page fetches no script: its first visit pays only for its own content. The copies are never
    visible, and the next run leaves them out."""
    from playwright.sync_api import sync_playwright

    scripts: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("request", lambda request: scripts.append(request.url) if "/static/js/" in request.url else None)
        # Watched from the page's start: Explore may rerun soon after its first run (background work
        # done), and that rerun removes the copies, so a look at one moment could miss them.
        page.add_init_script("""
            window.__preload = {json: false, visible: false};
            new MutationObserver(() => {
              const box = document.querySelector('.st-key-frontend-preload');
              if (!box) return;
              if (box.querySelector('[data-testid="stJson"]')) window.__preload.json = true;
              if (box.getBoundingClientRect().height > 1) window.__preload.visible = true;  // 1 px, then none
            }).observe(document, {childList: true, subtree: true, attributes: true});""")
        page.goto(app_url)
        wait_idle(page)
        page.wait_for_function("() => window.__preload.json", timeout=90_000)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(1500)  # the lazy chunks are fetched after the elements mount
        assert not page.evaluate("() => window.__preload.visible")  # never more than a pixel high
        assert page.locator(".st-key-frontend-preload").is_hidden()  # then hidden (or already left out)
        titles = [text.split("\n")[-1].strip()  # the link's text after its icon's name
                  for text in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()[1:]]  # Explore is open
        assert len(titles) == len(PAGE_PATHS) - 1
        fetched = {}
        for title in titles:
            before = page.locator('[data-testid="stMain"] h1').first.inner_text()
            scripts.clear()
            page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first.click()
            page.wait_for_function("(b) => { const h = document.querySelector('[data-testid=\"stMain\"] h1');"
                                   " return h && h.innerText.length > 0 && h.innerText !== b; }", arg=before,
                                   timeout=90_000)
            wait_idle(page)
            page.wait_for_timeout(800)
            wait_idle(page)
            assert page.locator('[data-testid="stException"]').count() == 0, title
            if scripts:
                fetched[title] = sorted({url.rsplit("/", 1)[-1] for url in scripts})
        assert page.locator(".st-key-frontend-preload").count() == 0  # later runs leave the copies out
        browser.close()
    assert not fetched, fetched
