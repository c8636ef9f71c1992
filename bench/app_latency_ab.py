"""First figure, graph switch and first visit of every page: this tree against another commit, side by side.

    python bench/app_latency_ab.py --ref 8551d4b [--launches 6] [--dataset DD] [--data-dir ../shared/data/TU]

``bench/app_latency.py`` times this app against a bare Streamlit page; this script answers "did a
change make the app faster?" on a machine whose speed drifts (on the 2-core machines two launches
of the same app differ by up to ~2 s in first figure and ~0.5 s in a page's first visit). REF is
checked out into a temporary git worktree; each round launches both apps, in an order swapped every
round, in headless Chromium: server launch → Explore's network drawn, four graph switches on the
default dataset (their median), then ``--dataset`` picked in the sidebar and every page clicked
once (as in ``bench/app_latency.py``). Reported: each tree's
median and the median of the paired differences (this tree − REF, round by round), which cancels
most of the drift. Writes ``bench/results/app_latency_ab-REF.json`` and ``.md`` (REF's first 8
hex digits) with the command, commits and machine; a benchmark reports, it never asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.app_latency import (  # noqa: E402
    ATLAS, COARSENED_CHART, PAGE_TITLES, RESULTS, SWITCHES, _idle, _machine, _select_dataset, _switch, _visit, launched_page,
)

FIRST_FIGURE = "first figure"
DEFAULT_VIEW = "default view complete"
SWITCH = "graph switch"


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def ab_setup(ref_name: str, data_dir: str) -> tuple[str, str, list[float], dict]:
    """(REF's full hash, what this tree is, the load average now, the apps' environment: shipped
    models only, the TU data folder when it exists)."""
    ref = _git("rev-parse", "--verify", f"{ref_name}^{{commit}}")
    here = _git("rev-parse", "HEAD") + (" + uncommitted changes" if _git("status", "--porcelain", "--untracked-files=no")
                                        else "")
    load_at_start = list(os.getloadavg())
    env = dict(os.environ, DIFFPOOL_MODELS=tempfile.mkdtemp(prefix="bench-no-user-models-"))  # shipped models only
    if Path(data_dir).is_dir():
        env["DIFFPOOL_DATA"] = str(Path(data_dir).resolve())
    return ref, here, load_at_start, env


@contextlib.contextmanager
def ref_worktree(ref: str):
    """REF checked out in a temporary git worktree (removed afterwards); yields its folder."""
    worktree = Path(tempfile.mkdtemp(prefix="bench-ab-")) / "ref"
    _git("worktree", "add", "--detach", str(worktree), ref)
    try:
        yield worktree
    finally:
        _git("worktree", "remove", "--force", str(worktree))


def parse_ab_arguments(doc: str, rounds_flag: str, rounds_default: int, rounds_help: str) -> argparse.Namespace:
    """The A/B benches' command line: --ref, their rounds flag, --dataset, --data-dir."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--ref", required=True, help="the commit to compare this tree with (e.g. a tag, HEAD~3)")
    parser.add_argument(rounds_flag, type=int, default=rounds_default, help=rounds_help)
    parser.add_argument("--dataset", default="DD", help="dataset picked before the page visits (default DD)")
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "TU"), help="TU data folder")
    args = parser.parse_args()
    if getattr(args, rounds_flag.lstrip("-")) < 1:
        parser.error(f"{rounds_flag} must be at least 1")
    return args


def paired_table(runs: dict[str, list[dict]], ref: str, what: str, keys: list[str],
                 names: dict[str, str]) -> tuple[str, dict]:
    """Markdown table (and its numbers) of each tree's medians and the median of the round-by-round
    differences (this tree − REF), one row per key (named by ``names``, else "first visit: KEY")."""
    median = statistics.median
    lines = [f"| {what} | this tree, median s | {ref[:8]}, median s | paired difference, median s | "
             "differences, round by round |", "|---|---:|---:|---:|---|"]
    rows = {}
    for key in keys:
        mine, theirs = [r[key] for r in runs["this tree"]], [r[key] for r in runs["ref"]]
        paired = [a - b for a, b in zip(mine, theirs)]
        rows[key] = {"this_tree": mine, "ref": theirs, "paired_median": median(paired)}
        lines.append(f"| {names.get(key, f'first visit: {key}')} | {median(mine):.2f} | {median(theirs):.2f} | "
                     f"{median(paired):+.2f} | {', '.join(f'{d:+.2f}' for d in paired)} |")
    return "\n".join(lines), rows


def one_launch(p, root: Path, env: dict, dataset: str) -> dict:
    """Launch the app of ``root``; seconds to its first figure and to each page's first visit."""
    with launched_page(p, root / "streamlit_app.py", env) as (page, launched, _):
        page.frame_locator("iframe").first.locator("#mynetwork canvas").first.wait_for(timeout=180_000)
        times = {FIRST_FIGURE: time.perf_counter() - launched}
        page.locator(COARSENED_CHART).first.wait_for(timeout=180_000)
        times[DEFAULT_VIEW] = time.perf_counter() - launched
        _idle(page)
        # graph switches on the default dataset (median of four graphs never shown before)
        times[SWITCH] = statistics.median(_switch(page, i) for i in SWITCHES["synthetic-hierarchy"])
        if dataset != "synthetic-hierarchy":
            _select_dataset(page, dataset)
        for title in PAGE_TITLES:
            times[title] = _visit(page, title)
            if title == ATLAS:  # the atlas fills in from the background before the next click
                page.wait_for_function("() => !document.querySelector('[data-testid=\"stMain\"]').innerText"
                                       ".includes('hourglass_top')", timeout=600_000, polling=200)
                _idle(page)
        return times


def main() -> None:
    args = parse_ab_arguments(__doc__, "--launches", 6, "rounds; each launches both apps once")
    ref, here, load_at_start, env = ab_setup(args.ref, args.data_dir)
    from playwright.sync_api import sync_playwright

    runs: dict[str, list[dict]] = {"this tree": [], "ref": []}
    with ref_worktree(ref) as worktree, sync_playwright() as p:
        trees = {"this tree": ROOT, "ref": worktree}
        for round_ in range(args.launches):
            order = list(trees) if round_ % 2 == 0 else list(trees)[::-1]
            for name in order:
                runs[name].append(one_launch(p, trees[name], env, args.dataset))
            print(f"round {round_ + 1}: first figure {runs['this tree'][-1][FIRST_FIGURE]:.2f} s here, "
                  f"{runs['ref'][-1][FIRST_FIGURE]:.2f} s at {ref[:8]}", flush=True)

    switch = ("graph switch, synthetic-hierarchy (median of graphs "
              f"{', '.join(map(str, SWITCHES['synthetic-hierarchy']))})")
    table, rows = paired_table(runs, ref, "measurement", [FIRST_FIGURE, DEFAULT_VIEW, SWITCH, *PAGE_TITLES],
                               {FIRST_FIGURE: "launch → first figure",
                                DEFAULT_VIEW: "launch → default view complete (the coarsened graph's chart too)",
                                SWITCH: switch})
    print(table)
    command = " ".join(["python", "bench/app_latency_ab.py", *sys.argv[1:]])
    result = {"command": command, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "this_tree": here, "ref": ref, "dataset": args.dataset, "machine": _machine(load_at_start),
              "load_average_at_end": list(os.getloadavg()), "measurements": rows}
    (RESULTS / f"app_latency_ab-{ref[:8]}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    machine = result["machine"]
    (RESULTS / f"app_latency_ab-{ref[:8]}.md").write_text(
        f"# App latency: this tree against {ref[:8]}\n\nCommand: `{command}`  \nDate: {result['date']}  \n"
        f"This tree: {here}; ref: {ref}  \nMachine: {machine['cpu']}, nproc {machine['nproc']}; load average at "
        f"start {machine['load_average_at_start'][0]:.1f}, at end {result['load_average_at_end'][0]:.1f}  \n"
        f"Both apps launched alternately ({args.launches} rounds, order swapped every round), {args.dataset} "
        "picked in the sidebar before the page tour; shipped models only. Negative differences: this tree "
        f"is faster.\n\n{table}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
