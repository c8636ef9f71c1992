"""Server time of the app's page scripts: this tree against another commit, side by side, no browser.

    python bench/page_script_ab.py --ref 21c6a4a [--rounds 3] [--dataset DD] [--data-dir ../shared/data/TU]

``bench/app_latency_ab.py`` measures what a user waits for in a browser; on the 2-core machines its
rounds differ by up to ~1.5 s, so a change of a few tenths of a second on the server drowns there (on
2026-12-02 it showed no change where this script showed Embeddings' first visit +0.4 s). This one
runs the app in Streamlit's ``AppTest`` (the scripts as the server runs them, nothing drawn) in a
fresh Python process per tree and round, the two trees alternately (order swapped every round):
Explore's first run (everything it computes, up to its end), four graph switches on the default
dataset, then ``--dataset`` picked in the sidebar and every other page visited once, with a pause
before each visit as a reader would leave (background work runs then, as in the app). Reported:
each tree's median and the median of the paired differences (this tree − REF). REF is checked out
into a temporary git worktree. Writes ``bench/results/page_script_ab-REF.json`` and ``.md`` (REF's
first 8 hex digits) with the command, commits and machine; a benchmark reports, it never asserts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.app_latency import RESULTS, SWITCHES, _machine  # noqa: E402
from bench.app_latency_ab import ab_setup, paired_table, parse_ab_arguments, ref_worktree  # noqa: E402

#: Page files after Explore, in the sidebar's order, with their titles.
PAGES = (("compare", "Compare"), ("atlas", "Dataset atlas"), ("embeddings", "Embeddings"), ("train", "Train"),
         ("model_card", "Model card"), ("upload", "Upload a graph"), ("teaching", "Teaching"))
FIRST_RUN, SWITCH, PICK = "Explore's first run", "graph switch", "dataset picked"
#: Seconds a reader leaves between clicks (the background worker runs then, as in the app).
PAUSE_S = 1.5

CHILD = r"""
import json, statistics, sys, time
from pathlib import Path
root, dataset, pause, pages, switches = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4].split(","), [int(i) for i in sys.argv[5].split(",")]
from streamlit.testing.v1 import AppTest

def timed(run):
    start = time.perf_counter()
    run()
    return time.perf_counter() - start

at = AppTest.from_file(str(root / "streamlit_app.py"), default_timeout=600)
times = {"first": timed(at.run)}
times["switches"] = []
for index in switches:
    time.sleep(pause)
    at.session_state["graph"] = index
    times["switches"].append(timed(at.run))
if dataset != "synthetic-hierarchy":
    time.sleep(pause)
    times["pick"] = timed(lambda: at.sidebar.selectbox[0].set_value(dataset).run())  # the dataset picker
for page in pages:
    time.sleep(pause)
    times[page] = timed(lambda: at.switch_page(f"viz_app/pages/{page}.py").run())
errors = [str(e.value) for e in at.exception]
print("TIMES" + json.dumps({"times": times, "errors": errors}))
"""


def one_run(root: Path, env: dict, dataset: str) -> dict:
    """One fresh process running ``root``'s app in AppTest; seconds per measurement."""
    argv = [sys.executable, "-c", CHILD, str(root), dataset, str(PAUSE_S), ",".join(f for f, _ in PAGES),
            ",".join(map(str, SWITCHES["synthetic-hierarchy"]))]
    done = subprocess.run(argv, cwd=root, env=dict(env, PYTHONPATH=str(root)), capture_output=True, text=True,
                          timeout=1800)
    line = next((l for l in done.stdout.splitlines() if l.startswith("TIMES")), None)
    if done.returncode or line is None:
        raise RuntimeError(f"the app at {root} failed under AppTest:\n{done.stderr[-3000:]}")
    report = json.loads(line[len("TIMES"):])
    if report["errors"]:
        raise RuntimeError(f"the app at {root} raised: {report['errors']}")
    times = report["times"]
    result = {FIRST_RUN: times["first"], SWITCH: statistics.median(times["switches"])}
    if "pick" in times:
        result[PICK] = times["pick"]
    result.update({title: times[file] for file, title in PAGES})
    return result


def page_table(runs: dict[str, list[dict]], ref: str) -> tuple[str, dict]:
    """Markdown table (and its numbers) of each tree's medians and the paired differences."""
    switch = f"graph switch, synthetic-hierarchy (median of graphs {', '.join(map(str, SWITCHES['synthetic-hierarchy']))})"
    return paired_table(runs, ref, "page script", list(runs["this tree"][0]),
                        {FIRST_RUN: FIRST_RUN, PICK: PICK, SWITCH: switch})


def main() -> None:
    args = parse_ab_arguments(__doc__, "--rounds", 3, "rounds; each runs both trees once")
    ref, here, load_at_start, env = ab_setup(args.ref, args.data_dir)
    runs: dict[str, list[dict]] = {"this tree": [], "ref": []}
    with ref_worktree(ref) as worktree:
        trees = {"this tree": ROOT, "ref": worktree}
        for round_ in range(args.rounds):
            for name in (list(trees) if round_ % 2 == 0 else list(trees)[::-1]):
                runs[name].append(one_run(trees[name], env, args.dataset))
            print(f"round {round_ + 1}: Explore's first run {runs['this tree'][-1][FIRST_RUN]:.2f} s here, "
                  f"{runs['ref'][-1][FIRST_RUN]:.2f} s at {ref[:8]}", flush=True)
    table, rows = page_table(runs, ref)
    print(table)
    command = " ".join(["python", "bench/page_script_ab.py", *sys.argv[1:]])
    result = {"command": command, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "this_tree": here, "ref": ref, "dataset": args.dataset, "pause_s": PAUSE_S,
              "machine": _machine(load_at_start), "load_average_at_end": list(os.getloadavg()), "measurements": rows}
    (RESULTS / f"page_script_ab-{ref[:8]}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    machine = result["machine"]
    (RESULTS / f"page_script_ab-{ref[:8]}.md").write_text(
        f"# Page scripts on the server: this tree against {ref[:8]}\n\nCommand: `{command}`  \n"
        f"Date: {result['date']}  \nThis tree: {here}; ref: {ref}  \nMachine: {machine['cpu']}, nproc "
        f"{machine['nproc']}; load average at start {machine['load_average_at_start'][0]:.1f}, at end "
        f"{result['load_average_at_end'][0]:.1f}  \nStreamlit's AppTest, no browser: the seconds each script "
        f"runs on the server. Both trees alternately ({args.rounds} rounds, a fresh process each, order swapped "
        f"every round), {PAUSE_S} s between clicks, {args.dataset} picked before the page visits; shipped "
        f"models only. Negative differences: this tree is faster.\n\n{table}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
