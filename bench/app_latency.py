"""Latency of the Streamlit explorer: cold start, graph switch, and trace + figure build by graph size.

    python bench/app_latency.py [--skip-browser]

1. cold start: launch ``streamlit run streamlit_app.py`` and a headless Chromium, time until the
   first figure (the pyvis canvas inside its iframe) is drawn; median of 3 launches, plus the
   first launch's split (server ready, page open → figure).
2. graph switch (browser), 7 graphs never shown before: type a new graph index, time until the
   rerun has finished and until the input-graph iframe holds the new, drawn network. Measured
   twice in one run: with the app's config (``runner.postScriptGC = false``) and with
   Streamlit's default (a full ``gc.collect()`` after every rerun).
3. graph switch (AppTest): same rerun without a browser, median of 5.
4. trace + figure build for synthetic SBM graphs of 30 / 300 / 3,000 nodes: model trace, layout,
   input-graph network HTML, coarsened network, assignment heatmap and entropy figures.

Uses the shipped default model when present, else an untrained model of the same shape written
to a temporary folder. Prints a table and writes bench/results/app_latency.json and .md.
Targets: cold start <= 5 s, switch <= 1 s. Benchmarks report; they never assert.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run"]


def model_folder() -> tuple[dict, str]:
    """(env for the app, description of the model used)."""
    shipped = ROOT / "pretrained" / "synthetic-hierarchy-diffpool.safetensors"
    if shipped.is_file():
        return dict(os.environ), "pretrained/synthetic-hierarchy-diffpool"
    import torch

    from core.checkpoint import save_checkpoint
    from core.features import FeatureSpec
    from core.model import DiffPool, DiffPoolConfig

    folder = Path(tempfile.mkdtemp(prefix="bench-models-"))
    spec = FeatureSpec("degree", max_degree=20)
    torch.manual_seed(0)
    config = DiffPoolConfig(input_dim=spec.dim, num_classes=3, num_pooling=2, assign_ratio=0.25, max_nodes=80)
    save_checkpoint(folder / "bench-synthetic-diffpool", DiffPool(config), spec,
                    {"dataset": "synthetic-hierarchy", "class_names": ["2 groups", "3 groups", "4 groups"], "seed": 0})
    return dict(os.environ, DIFFPOOL_MODELS=str(folder)), "untrained stand-in (pretrained model absent)"


SWITCH_INDICES = (5, 9, 14, 3, 11, 7, 20)

#: True once the explorer's first iframe holds a freshly loaded network (marked stale before a switch).
_FRESH_NETWORK = """() => {
  const frame = document.querySelector('[data-testid="stMain"] iframe');
  const win = frame && frame.contentWindow;
  return !!(win && !win.__stale && win.document.readyState === 'complete'
            && win.document.querySelector('#mynetwork canvas'));
}"""


def browser_timings(env: dict, post_script_gc: bool | None = None, switch_indices=SWITCH_INDICES) -> dict:
    """Cold start and graph switches in Chromium.

    ``post_script_gc``: override Streamlit's ``runner.postScriptGC`` (None: the repository's
    .streamlit/config.toml, which turns it off).
    """
    from playwright.sync_api import sync_playwright

    from tests.viz_app.test_browser import free_port, wait_idle

    port = free_port()
    launched = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false"]
        + ([] if post_script_gc is None else ["--runner.postScriptGC", str(post_script_gc).lower()]),
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import urllib.request

        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                if time.perf_counter() - launched > 60:
                    raise RuntimeError("streamlit did not start")
                time.sleep(0.05)
        server_ready = time.perf_counter() - launched
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            opened = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/")
            page.frame_locator("iframe").first.locator("#mynetwork canvas").first.wait_for(timeout=90_000)
            first_figure = time.perf_counter()
            wait_idle(page)
            srcdoc = page.locator('[data-testid="stMain"] iframe').first.get_attribute("srcdoc") or ""
            switches, drawn = [], []
            for index in switch_indices:
                page.evaluate("() => { document.querySelector('[data-testid=\"stMain\"] iframe')"
                              ".contentWindow.__stale = true; }")
                box = page.locator('[data-testid="stNumberInput"] input').first
                start = time.perf_counter()
                box.fill(str(index))
                box.press("Enter")
                page.wait_for_function(
                    "(i) => [...document.querySelectorAll('[data-testid=\"stMain\"] [data-testid=\"stCaptionContainer\"]')]"
                    ".some(e => e.innerText.includes('#' + i + ' '))", arg=index, timeout=60_000)
                wait_idle(page)
                switches.append(time.perf_counter() - start)
                page.wait_for_function(_FRESH_NETWORK, timeout=60_000, polling=10)
                drawn.append(time.perf_counter() - start)
            browser.close()
        return {
            "post_script_gc": post_script_gc,
            "server_ready_s": server_ready,
            "cold_start_to_first_figure_s": first_figure - launched,
            "page_open_to_first_figure_s": first_figure - opened,
            "network_iframe_bytes": len(srcdoc.encode("utf-8")),
            "browser_switch_s": switches,
            "browser_switch_drawn_s": drawn,
        }
    finally:
        process.terminate()
        process.wait(timeout=10)


def apptest_switch(env: dict) -> list[float]:
    from streamlit.testing.v1 import AppTest

    os.environ.update({k: v for k, v in env.items() if k == "DIFFPOOL_MODELS"})
    at = AppTest.from_file(str(ROOT / "viz_app" / "pages" / "explore.py"), default_timeout=120)
    at.run()
    times = []
    for index in (3, 4, 5, 6, 7):
        start = time.perf_counter()
        at.number_input(key="graph").set_value(index).run()
        times.append(time.perf_counter() - start)
    return times


def build_timings() -> list[dict]:
    import torch

    from core import analysis
    from core.features import FeatureSpec
    from core.inference import trace_graphs
    from core.model import DiffPool, DiffPoolConfig
    from core.synthetic import make_sbm_graph
    from viz_app import figures, network

    spec = FeatureSpec("degree", max_degree=20)
    rows = []
    for n in (30, 300, 3000):
        blocks = [n // 6] * 6
        graph = make_sbm_graph(blocks, min(0.9, 8 / (n / 6)), 1.0 / n, seed=0)
        torch.manual_seed(0)
        model = DiffPool(DiffPoolConfig(input_dim=spec.dim, num_classes=3, num_pooling=2, assign_ratio=0.1,
                                        max_nodes=graph.num_nodes)).eval()
        timing = {"nodes": graph.num_nodes, "edges": graph.num_edges}
        start = time.perf_counter()
        trace = trace_graphs(model, [graph], spec, [0])[0]
        timing["trace_s"] = time.perf_counter() - start
        start = time.perf_counter()
        positions = analysis.layout_positions(graph.sparse_adjacency(), seed=0)
        timing["layout_s"] = time.perf_counter() - start
        start = time.perf_counter()
        drawing = network.input_graph_network(graph, trace, positions)
        network.coarsened_level_network(trace, 1, positions)
        timing["networks_s"] = time.perf_counter() - start
        start = time.perf_counter()
        record = trace.levels[0]
        figs = [figures.assignment_heatmap(record.assignment, analysis.cluster_order(record.assignment)),
                figures.coarsened_adjacency_heatmap(record.coarsened_adjacency),
                figures.entropy_histogram(record.node_entropy, record.num_clusters),
                figures.cluster_mass_bar(record.cluster_mass),
                figures.graph_figure(positions, graph.edges, values=record.node_entropy)]
        for fig in figs:
            fig.to_json()  # what st.plotly_chart serialises
        timing["figures_s"] = time.perf_counter() - start
        timing["total_s"] = sum(timing[k] for k in ("trace_s", "layout_s", "networks_s", "figures_s"))
        timing["drawn_nodes"] = int(len(drawing.shown_nodes))
        timing["clusters"] = trace.levels[0].num_clusters
        rows.append(timing)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-browser", action="store_true", help="skip the Chromium cold-start/switch timings")
    args = parser.parse_args()
    env, model = model_folder()
    result = {
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
                    "processor": platform.processor() or platform.machine()},
        "model": model,
        "targets": {"cold_start_s": 5.0, "switch_s": 1.0},
    }
    if not args.skip_browser and Path(CHROMIUM).exists():
        # Same machine, same run: the app's config (no gc.collect() after each rerun) vs
        # Streamlit's default (a full collection after every rerun).
        result["browser"] = browser_timings(env)
        result["browser_post_script_gc"] = browser_timings(env, post_script_gc=True)
        # Cold start is one sample per launch: two more launches for a median of three.
        result["cold_starts_s"] = [result["browser"]["cold_start_to_first_figure_s"]] + [
            browser_timings(env, switch_indices=())["cold_start_to_first_figure_s"] for _ in range(2)]

    lines = ["| measurement | seconds | target |", "|---|---|---|"]
    if "browser" in result:
        b, collected = result["browser"], result["browser_post_script_gc"]
        median = statistics.median
        count = len(b["browser_switch_s"])
        colds = result["cold_starts_s"]
        lines += [f"| cold start: launch → first figure (browser, median of {len(colds)} launches; "
                  f"{min(colds):.2f}–{max(colds):.2f}) | {median(colds):.2f} | ≤ 5 |",
                  f"| first launch: server ready | {b['server_ready_s']:.2f} | |",
                  f"| first launch: page open → first figure | {b['page_open_to_first_figure_s']:.2f} | |",
                  f"| graph switch → rerun finished (browser, median of {count}) | "
                  f"{median(b['browser_switch_s']):.2f} | ≤ 1 |",
                  f"| graph switch → new network drawn (browser, median of {count}) | "
                  f"{median(b['browser_switch_drawn_s']):.2f} | ≤ 1 |",
                  f"| same with Streamlit's default gc.collect() after each rerun (before): network drawn | "
                  f"{median(collected['browser_switch_drawn_s']):.2f} | |",
                  f"| input-network iframe (kB, vis-network inlined) | {b['network_iframe_bytes'] / 1e3:.0f} | |"]
    result["apptest_switch_s"] = apptest_switch(env)
    result["build"] = build_timings()
    lines.append(f"| graph switch (AppTest rerun, median of 5) | {statistics.median(result['apptest_switch_s']):.2f} | ≤ 1 |")
    lines += ["", "| nodes | edges | drawn | trace | layout | networks | figures | total |", "|---|---|---|---|---|---|---|---|"]
    for r in result["build"]:
        lines.append(f"| {r['nodes']} | {r['edges']} | {r['drawn_nodes']} | {r['trace_s']:.2f} | {r['layout_s']:.2f} | "
                     f"{r['networks_s']:.2f} | {r['figures_s']:.2f} | {r['total_s']:.2f} |")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "app_latency.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    header = (f"# App latency\n\nCommand: `{result['command']}`  \nDate: {result['date']}  \n"
              f"Machine: {result['machine']['platform']}, {result['machine']['cpu_count']} CPUs (shared)  \n"
              f"Model: {model}\n\n")
    (RESULTS / "app_latency.md").write_text(header + table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
