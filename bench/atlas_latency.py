"""Atlas page latency: first open (the page at once, the atlas when every graph is diagnosed) and
cached reruns, through Streamlit's AppTest, side by side for the dataset's default model with its
shipped whole-dataset results (``pretrained/NAME.dataset-results.npz``) and for the same weights
without them (a copy in a temporary folder: the background worker diagnoses every graph).

    python3 bench/atlas_latency.py [--dataset DD] [--data-dir ../shared/data/TU] [--note "quiet machine"]

Each case runs in its own process (nothing cached from the other). One torch thread. Writes
bench/results/atlas_latency.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.machine import cpu_model  # noqa: E402


def measure(dataset: str, data_dir: str, model: str) -> dict:
    """Timings of one atlas session (this process) on ``dataset`` with the checkpoint ``model``."""
    import torch
    from streamlit.testing.v1 import AppTest

    from viz_app.widgets import PENDING_MARK

    torch.set_num_threads(1)
    at = AppTest.from_file(str(ROOT / "viz_app" / "pages" / "atlas.py"), default_timeout=900)
    at.session_state["dataset"] = dataset
    at.session_state["data_dir"] = data_dir
    at.session_state["_model_dataset"] = dataset  # the sidebar keeps this model instead of the default
    at.session_state["model"] = model

    def pending() -> bool:
        return any(c.value.startswith(PENDING_MARK) for c in at.caption)

    timings = {}
    start = time.perf_counter()
    at.run()
    timings["first open: page shown"] = round(time.perf_counter() - start, 2)
    while pending() and not at.exception:  # the browser polls every second; here: rerun until the atlas is drawn
        time.sleep(0.2)
        at.run()
    timings["first open: atlas drawn"] = round(time.perf_counter() - start, 2)
    for name in ("rerun (cached)", "rerun, colour by prediction"):
        if name.startswith("rerun, colour"):
            at.radio(key="atlas_colour").set_value("prediction")
        start = time.perf_counter()
        at.run()
        timings[name] = round(time.perf_counter() - start, 2)
    if at.exception:
        raise SystemExit(f"page failed: {[e.value for e in at.exception]}")
    if at.session_state["model"] != model:
        raise SystemExit(f"the page ran {at.session_state['model']}, not {model}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="DD")
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "TU"))
    parser.add_argument("--note", default="", help="what else the machine was doing")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: measure this model, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.dataset, args.data_dir, args.one)))
        return
    defaults = json.loads((ROOT / "pretrained" / "defaults.json").read_text(encoding="utf-8"))
    name = next(v["model"] for k, v in defaults.items() if k.lower() == args.dataset.lower())
    shipped = ROOT / "pretrained" / name
    with tempfile.TemporaryDirectory() as folder:
        computed = Path(folder) / f"{name}-copy"  # another name: the model picker tells checkpoints apart by name
        for suffix in (".safetensors", ".json"):  # the same weights and card, no stored results
            shutil.copyfile(str(shipped) + suffix, str(computed) + suffix)
        cases = {}
        for label, model in (("shipped results", shipped), ("computed (no stored results)", computed)):
            env = dict(os.environ, DIFFPOOL_MODELS=folder)
            out = subprocess.run([sys.executable, __file__, "--dataset", args.dataset, "--data-dir", args.data_dir,
                                  "--one", str(model)], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
            cases[label] = json.loads(out.stdout.strip().splitlines()[-1])
    first = "first open: atlas drawn"
    ratio = cases["computed (no stored results)"][first] / max(cases["shipped results"][first], 1e-9)
    result = {
        "command": "python3 bench/atlas_latency.py " + " ".join(sys.argv[1:]),
        "dataset": args.dataset, "model": name, "timings_s": cases, "atlas_drawn_ratio": round(ratio, 1),
        "torch_threads": 1, "nproc": os.cpu_count(), "cpu": cpu_model(),
        "note": (args.note + "; " if args.note else "") + "AppTest runs the script without a browser",
    }
    out = ROOT / "bench" / "results"
    (out / "atlas_latency.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    rows = list(cases["shipped results"])
    lines = [f"# Atlas page latency ({args.dataset}, {name})", "",
             f"Command: `{result['command']}` · {result['nproc']} cores · {result['cpu']} · one torch thread · "
             f"{result['note']}. Each case in its own process.", "",
             "| run | " + " | ".join(cases) + " |", "|---|" + "---:|" * len(cases)]
    lines += [f"| {row} | " + " | ".join(f"{cases[c][row]:.2f} s" for c in cases) + " |" for row in rows]
    lines += ["", f"Atlas drawn on first open: computed / shipped = **{ratio:.1f}×**."]
    (out / "atlas_latency.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
