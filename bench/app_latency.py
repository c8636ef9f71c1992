"""Latency of the Streamlit app in headless Chromium, beside a bare Streamlit app, in one run.

    python bench/app_latency.py [--launches 3] [--data-dir ../shared/data/TU] [--switches 4]
    python bench/app_latency.py --quick    # one launch, page tour only, nothing written: a check that it runs

What is timed (wall clock, from the browser's side; medians over ``--launches`` server launches,
the bare app and this app launched alternately so both see the same machine load):

1. **first figure**: server launch → first figure drawn. Bare app: one ``st.plotly_chart``
   (its SVG). This app: the Explore page's input-graph network (the canvas in its iframe); and,
   beside it, launch → the default view complete (the coarsened graph's chart drawn too: Explore
   sends it last, see ``viz_app.trace_tabs.show_trace_tabs``).
2. **first visit of every page**: in the launched app, after Explore has rendered, click each
   page in the navigation once; time until the script has finished and the page's title shows.
   Reference: the bare app's second page (a bar chart and a 1,178-point scatter, what the Dataset
   atlas draws on D&D), visited the same way: the floor of a page of charts on this machine, which
   tells a slow machine from a slow app.
   The Dataset atlas diagnoses every graph of the dataset on its first visit (on the default
   dataset, synthetic-hierarchy; D&D takes far longer) in the background: timed until the page
   shows, until the atlas is drawn, and when opened a second time after the tour (from the cache).
3. **graph switch** on every dataset that has a shipped model (synthetic-hierarchy, ENZYMES,
   PROTEINS, D&D; D&D's largest graph, 5,748 nodes, included): pick the dataset in the sidebar,
   then type graph indices never shown before; time until the rerun has finished and the new
   network is drawn. Then, on that dataset, the first visit of every page (in the order of 2.),
   and whether the sidebar still shows the dataset afterwards (a page that polls for background
   work once made it fall back to the synthetic dataset).
4. **dataset-wide summary** (Explore → Entropy → "Dataset-wide entropy" toggle): time when it is
   switched on the first time and again after switching it off (served from the cache).

Targets (issue #14): first figure ≤ bare app + 1.5 s; first visit of every page ≤ 1 s; graph
switch ≤ 0.5 s; summary ≤ 2 s after its first computation. Writes bench/results/app_latency.json
and .md with the command, machine and load; a benchmark reports, it never asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run"]
BARE_APP = '''import numpy as np
import plotly.graph_objects as go
import streamlit as st


def home():
    st.title("Home")
    st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 3, 2])))


def charts():
    st.title("Two charts")
    st.plotly_chart(go.Figure(go.Bar(x=[0.96, 0.04], y=["a", "b"], orientation="h")))
    points = np.random.default_rng(0).normal(size=(1178, 2))
    st.plotly_chart(go.Figure(go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers")))


st.navigation([st.Page(home, title="Home", default=True), st.Page(charts, title="Two charts")]).run()
'''
#: The bare app's second page (a bar chart and a 1,178-point scatter, as the Dataset atlas on D&D draws).
BARE_PAGE = "Two charts"
#: Navigation titles of the pages after Explore, in the sidebar's order.
PAGE_TITLES = ("Compare", "Dataset atlas", "Embeddings", "Train", "Model card", "Upload a graph", "Teaching")
ATLAS = "Dataset atlas"
#: dataset -> graph indices to switch to (D&D #20 is its largest graph, 5,748 nodes).
SWITCHES = {"synthetic-hierarchy": (5, 9, 14, 3), "ENZYMES": (7, 120, 333, 59), "PROTEINS": (11, 400, 901, 77),
            "DD": (20, 3, 700, 1100)}

_FRESH_NETWORK = """() => {
  const frame = document.querySelector('[data-testid="stMain"] iframe');
  const win = frame && frame.contentWindow;
  return !!(win && !win.__stale && win.document.readyState === 'complete'
            && win.document.querySelector('#mynetwork canvas'));
}"""
_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
#: Explore's other figure on its default view: the coarsened graph (a plotly chart, sent last).
COARSENED_CHART = '[data-testid="stMain"] .js-plotly-plot .main-svg'


NO_BYTECODE_NOTE = "; PYTHONDONTWRITEBYTECODE set: each launch compiles the project modules again (~0.15 s)"


def load_note(at_start: list[float], at_end: list[float]) -> str:
    """What the 1-minute load averages say about the run: above 1 at its start, other work was running (the
    figures overstate a quiet machine); the one at the end counts the run's own servers and browser."""
    note = (f"load average at start {at_start[0]:.1f}, at end {at_end[0]:.1f} (1 minute; the end counts the "
            "run's own servers and browser)")
    if at_start[0] >= 1.0:
        return note + ": other work was running when it started, so these figures overstate a quiet machine"
    return note


def _machine(load_at_start: list[float]) -> dict:
    from bench.machine import cpu_model

    return {"platform": platform.platform(), "python": platform.python_version(), "nproc": os.cpu_count(),
            "cpu": cpu_model(), "load_average_at_start": load_at_start,
            # PYTHONDONTWRITEBYTECODE (set on the project's 2-core machines): every launch compiles the
            # project's own modules again (~0.15 s for core/ and viz_app/), which a usual install caches
            "bytecode_cached": not os.environ.get("PYTHONDONTWRITEBYTECODE")}


def _launch(script: Path, cwd: Path, env: dict, port: int) -> tuple[subprocess.Popen, float]:
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true", "--server.port", str(port),
         "--browser.gatherUsageStats", "false", "--browser.serverAddress", "localhost",
         "--server.fileWatcherType", "none"],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, time.perf_counter()


def _wait_healthy(port: int, launched: float) -> None:
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            return
        except OSError:
            if time.perf_counter() - launched > 90:
                raise RuntimeError("streamlit did not start within 90 s")
            time.sleep(0.05)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@contextlib.contextmanager
def launched_page(p, script: Path, env: dict):
    """``streamlit run script`` (in its folder) on a free port, opened in headless Chromium once
    the server is healthy; yields (page, launched: ``perf_counter`` at launch, server_ready_s)."""
    from tests.viz_app.test_browser import free_port

    port = free_port()
    process, launched = _launch(script, script.parent, env, port)
    try:
        _wait_healthy(port, launched)
        ready = time.perf_counter() - launched
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(f"http://127.0.0.1:{port}/")
            yield page, launched, ready
        finally:
            browser.close()
    finally:
        _stop(process)


def _idle(page, timeout_ms: int = 180_000) -> None:
    page.wait_for_selector(_IDLE, timeout=timeout_ms)


def bare_app(p, env: dict, folder: Path) -> tuple[float, float]:
    """Launch → the bare app's first plotly figure is drawn; then seconds to its second page's first
    visit (the floor a page of two charts costs on this machine and browser)."""
    with launched_page(p, folder / "bare_app.py", env) as (page, launched, _):
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=120_000)
        seconds = time.perf_counter() - launched
        _idle(page)
        return seconds, _visit(page, BARE_PAGE)


def _select_dataset(page, name: str) -> None:
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
    box.click()
    page.get_by_role("option").filter(has_text=name).first.click()
    page.wait_for_function(
        "(n) => [...document.querySelectorAll('[data-testid=\"stMain\"] [data-testid=\"stCaptionContainer\"]')]"
        ".some(e => e.innerText.includes(n + ' #'))", arg=name if name != "synthetic-hierarchy" else "hierarchy",
        timeout=300_000)
    _idle(page, 300_000)


def _switch(page, index: int) -> float:
    page.evaluate("() => { const f = document.querySelector('[data-testid=\"stMain\"] iframe');"
                  " if (f) f.contentWindow.__stale = true; }")
    box = page.locator('[data-testid="stSidebar"] [data-testid="stNumberInput"] input').first
    start = time.perf_counter()
    box.fill(str(index))
    box.press("Enter")
    page.wait_for_function(
        "(i) => [...document.querySelectorAll('[data-testid=\"stMain\"] [data-testid=\"stCaptionContainer\"]')]"
        ".some(e => e.innerText.includes('#' + i + ' '))", arg=index, timeout=120_000)
    _idle(page)
    page.wait_for_function(_FRESH_NETWORK, timeout=120_000, polling=10)
    return time.perf_counter() - start


def _visit(page, title: str) -> float:
    """Click ``title`` in the navigation; seconds until its title shows and its script has finished."""
    link = page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first
    before = page.locator('[data-testid="stMain"] h1').first.inner_text()
    start = time.perf_counter()
    link.click()
    # the new page's title replaced the previous page's, and its script has finished
    page.wait_for_function(
        "(b) => { const h = document.querySelector('[data-testid=\"stMain\"] h1');"
        " return h && h.innerText.length > 0 && h.innerText !== b; }", arg=before, timeout=300_000)
    _idle(page, 300_000)
    return time.perf_counter() - start


def _sidebar_dataset(page) -> str:
    """The dataset the sidebar shows ("" on a page without the sidebar)."""
    boxes = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]')
    if not boxes.count():
        return ""
    return boxes.first.locator("input").first.input_value().strip()  # the first one is the dataset picker


def app_session(p, env: dict, measure_switches: bool, data_dir: str | None, switches: int) -> dict:
    """One launch of this app: first figure, first visit of every page, then (optionally) the
    dataset-wide summary and graph switches on every shipped dataset."""
    result: dict = {}
    with launched_page(p, ROOT / "streamlit_app.py", env) as (page, launched, ready):
        result["server_ready_s"] = ready
        page.frame_locator("iframe").first.locator("#mynetwork canvas").first.wait_for(timeout=180_000)
        result["first_figure_s"] = time.perf_counter() - launched
        page.locator(COARSENED_CHART).first.wait_for(timeout=180_000)
        result["default_view_s"] = time.perf_counter() - launched
        _idle(page)
        visits = {}
        for title in PAGE_TITLES:
            start = time.perf_counter()
            visits[title] = _visit(page, title)
            if title == ATLAS:  # the page answers at once; the atlas appears when the diagnosis is done
                page.wait_for_function("() => !document.querySelector('[data-testid=\"stMain\"]').innerText"
                                       ".includes('hourglass_top')", timeout=600_000, polling=100)
                _idle(page, 300_000)
                result["atlas_drawn_s"] = time.perf_counter() - start
        result["first_visit_s"] = visits
        result["atlas_again_s"] = _visit(page, ATLAS)  # its dataset diagnosis is cached now
        page.locator('[data-testid="stSidebarNav"] a').first.click()  # back to Explore
        _idle(page)
        if measure_switches:
            page.get_by_role("tab", name="Entropy").click()
            _idle(page)
            toggle = page.get_by_text("Dataset-wide entropy").first
            summary = []
            for _ in range(2):
                start = time.perf_counter()
                toggle.click()
                page.get_by_text("of graphs collapsed").first.wait_for(timeout=300_000)  # the summary's caption
                _idle(page, 300_000)
                summary.append(time.perf_counter() - start)
                toggle.click()  # off again
                _idle(page)
            result["summary_toggle_s"] = {"first": summary[0], "again": summary[1]}
            page.get_by_role("tab", name="Hierarchy").click()
            _idle(page)
            result["switch_s"], result["dataset_visit_s"], result["dataset_kept"] = {}, {}, {}
            for name, indices in SWITCHES.items():
                if name != "synthetic-hierarchy":
                    if data_dir is None:
                        continue
                    _select_dataset(page, name)
                result["switch_s"][name] = {str(i): _switch(page, i) for i in indices[:switches]}
                if name != "synthetic-hierarchy":  # every page's first visit on this dataset, which it must keep
                    result["dataset_visit_s"][name] = {title: _visit(page, title) for title in PAGE_TITLES}
                    _visit(page, "Explore")
                    result["dataset_kept"][name] = _sidebar_dataset(page) == name
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launches", type=int, default=3, help="server launches of each app (medians over them)")
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "TU"),
                        help="TU data folder for the graph switches on ENZYMES, PROTEINS and D&D")
    parser.add_argument("--switches", type=int, default=4, help="graph switches per dataset (max 4)")
    parser.add_argument("--quick", action="store_true",
                        help="one launch of each app, page tour only (no summary, no switches); prints the table "
                             "and writes nothing: a check that the bench still runs, not a record")
    args = parser.parse_args()
    if args.quick:
        args.launches = 1
    load_at_start = list(os.getloadavg())
    from playwright.sync_api import sync_playwright

    data_dir = args.data_dir if Path(args.data_dir).is_dir() else None
    env = dict(os.environ)
    if data_dir:
        env["DIFFPOOL_DATA"] = str(Path(data_dir).resolve())
    env.setdefault("DIFFPOOL_MODELS", tempfile.mkdtemp(prefix="bench-no-user-models-"))  # shipped models only
    folder = Path(tempfile.mkdtemp(prefix="bench-bare-app-"))
    (folder / "bare_app.py").write_text(BARE_APP, encoding="utf-8")
    bare, bare_visit, sessions = [], [], []
    with sync_playwright() as p:
        for launch in range(args.launches):
            first, visit = bare_app(p, env, folder)
            bare.append(first)
            bare_visit.append(visit)
            sessions.append(app_session(p, env, measure_switches=launch == 0 and not args.quick, data_dir=data_dir,
                                        switches=args.switches))
            print(f"launch {launch + 1}: bare {bare[-1]:.2f} s, app {sessions[-1]['first_figure_s']:.2f} s", flush=True)

    median = statistics.median
    first_figure = [s["first_figure_s"] for s in sessions]
    visits = {t: [s["first_visit_s"][t] for s in sessions] for t in PAGE_TITLES}
    result = {
        "command": " ".join(["python"] + [str(Path(sys.argv[0]).relative_to(ROOT)) if Path(sys.argv[0]).is_absolute()
                                          else sys.argv[0]] + sys.argv[1:]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(load_at_start),
        "load_average_at_end": list(os.getloadavg()),
        "targets": {"first_figure_over_bare_s": 1.5, "first_visit_s": 1.0, "switch_s": 0.5, "summary_again_s": 2.0},
        "bare_first_figure_s": bare,
        "bare_page_visit_s": bare_visit,
        "sessions": sessions,
    }
    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    gap = median(first_figure) - median(bare)
    lines = ["| measurement | median s | runs | target | |", "|---|---:|---|---|---|",
             f"| bare Streamlit app (one plotly chart): launch → figure | {median(bare):.2f} | "
             f"{', '.join(f'{x:.2f}' for x in bare)} | | |",
             f"| bare Streamlit app: first visit of its second page (a bar chart, a 1,178-point scatter) | "
             f"{median(bare_visit):.2f} | {', '.join(f'{x:.2f}' for x in bare_visit)} | | |",
             f"| this app: launch → first figure (Explore's network) | {median(first_figure):.2f} | "
             f"{', '.join(f'{x:.2f}' for x in first_figure)} | ≤ bare + 1.5 | {verdict(gap <= 1.5)} (+{gap:.2f}) |"]
    complete = [s["default_view_s"] for s in sessions]
    lines.append(f"| this app: launch → default view complete (the coarsened graph's chart too) | "
                 f"{median(complete):.2f} | {', '.join(f'{x:.2f}' for x in complete)} | | |")
    for title in PAGE_TITLES:
        values = visits[title]
        what = f"{title} (page shown; its diagnosis runs in the background)" if title == ATLAS else title
        lines.append(f"| first visit: {what} | {median(values):.2f} | {', '.join(f'{x:.2f}' for x in values)} | "
                     f"≤ 1 | {verdict(median(values) <= 1.0)} |")
    drawn = [s["atlas_drawn_s"] for s in sessions]
    lines.append(f"| {ATLAS}, first visit until the atlas is drawn (every graph diagnosed in the background) | "
                 f"{median(drawn):.2f} | {', '.join(f'{x:.2f}' for x in drawn)} | | |")
    again = [s["atlas_again_s"] for s in sessions]
    lines.append(f"| {ATLAS}, opened again (cached) | {median(again):.2f} | {', '.join(f'{x:.2f}' for x in again)} | "
                 f"≤ 1 | {verdict(median(again) <= 1.0)} |")
    first = sessions[0]
    if "summary_toggle_s" in first:
        again = first["summary_toggle_s"]["again"]
        lines.append(f"| dataset-wide entropy: first switch-on | {first['summary_toggle_s']['first']:.2f} | 1 | | |")
        lines.append(f"| dataset-wide entropy: again (cached) | {again:.2f} | 1 | ≤ 2 | {verdict(again <= 2.0)} |")
    for name, times in first.get("switch_s", {}).items():
        values = list(times.values())
        lines.append(f"| graph switch, {name} (graphs {', '.join(times)}) | {median(values):.2f} | "
                     f"{', '.join(f'{x:.2f}' for x in values)} | ≤ 0.5 | {verdict(median(values) <= 0.5)} |")
    for name, times in first.get("dataset_visit_s", {}).items():
        slowest = max(times, key=times.get)
        kept = first["dataset_kept"][name]
        lines.append(f"| first visit of every page on {name} (slowest: {slowest}; the dataset "
                     f"{'kept' if kept else '**lost**'} throughout) | {max(times.values()):.2f} | "
                     f"{', '.join(f'{x:.2f}' for x in times.values())} | ≤ 1 | "
                     f"{verdict(max(times.values()) <= 1.0 and kept)} |")
    table = "\n".join(lines)
    print(table)
    if args.quick:
        print("(--quick: a check that the bench runs; nothing written to bench/results)")
        return
    (RESULTS / "app_latency.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    machine = result["machine"]
    header = (f"# App latency\n\nCommand: `{result['command']}`  \nDate: {result['date']}  \n"
              f"Machine: {machine['cpu']}, nproc {machine['nproc']}, {machine['platform']}; "
              f"{load_note(machine['load_average_at_start'], result['load_average_at_end'])}"
              f"{'' if machine.get('bytecode_cached', True) else NO_BYTECODE_NOTE}  \n"
              "Bare app and this app launched alternately in the same run; page visits, graph switches and the "
              "summary toggle are timed in the browser from the click or key press until the rerun has finished "
              "(and, for a switch, the new network is drawn). Graph switches and the summary are from the first "
              "launch.\n\n")
    (RESULTS / "app_latency.md").write_text(header + table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
