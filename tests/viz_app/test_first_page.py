"""The app's first page draws the shipped default from its stored trace, without importing torch or scikit-learn,
and a server process gives torch the CLI's thread count whenever torch is loaded.

Each check runs the app in a fresh Python process (the test process has torch loaded already)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys, threading
from streamlit.testing.v1 import AppTest
import viz_app.cache as cache

import builtins
first_import = []
plain_import = builtins.__import__


pandas_by = []


def watch(name, *args, **kwargs):
    if name.split(".")[0] == "torch" and "torch" not in sys.modules and not first_import:
        first_import.append(threading.current_thread().name)
    if name.split(".")[0] == "pandas" and "pandas" not in sys.modules and not pandas_by:
        pandas_by.append(threading.current_thread().name)
    return plain_import(name, *args, **kwargs)


builtins.__import__ = watch
at = AppTest.from_file(sys.argv[1], default_timeout=120)
at.run()
if cache._torch_loader.cache_info().currsize:  # the background loader, once it is done
    cache._torch_loader().join(timeout=120)
builtins.__import__ = plain_import
report = {"exceptions": [str(e.value) for e in at.exception], "torch_imported_by": first_import,
          "text": " ".join(str(m.value) for m in [*at.markdown, *at.caption]),
          "sklearn_loaded": sorted(m for m in sys.modules if m.split(".")[0] == "sklearn")[:3]}
report["pandas_imported_by"] = pandas_by
trace = cache.graph_trace("%(stem)s", "cpu", "synthetic-hierarchy", None, 0, cache._file_stamp(cache.Path("%(stem)s.safetensors")))
report["source"] = trace.meta.get("source")
import torch
seen = []
worker = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
worker.start(); worker.join()
report["threads"] = [torch.get_num_threads(), seen[0]]
print("REPORT" + json.dumps(report))
"""


def _run(env_extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "DIFFPOOL_THREADS")}
    env.update(env_extra)
    env["PYTHONPATH"] = str(ROOT)
    code = SCRIPT % {"stem": str(ROOT / "pretrained" / "synthetic-hierarchy-diffpool")}
    result = subprocess.run([sys.executable, "-c", code, str(ROOT / "streamlit_app.py")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("REPORT"))
    return json.loads(line[len("REPORT"):])


def test_the_first_page_draws_the_default_from_its_stored_trace_without_torch():
    report = _run({})
    assert report["exceptions"] == []
    assert report["source"] == "stored"
    # Explore's default view ran to its end (the diagnosis in words) and its script thread loaded no
    # torch: a background thread loads it once the network is sent (viz_app.cache.load_torch_in_background).
    assert "healthy" in report["text"], report["text"][:500]
    assert report["torch_imported_by"] in ([], ["torch-loader"]), report["torch_imported_by"]
    assert report["threads"] == [1, 1]  # torch loaded later still gets the CLI's one thread
    # nor scikit-learn (~0.9 s of imports on 2 busy cores): the diagnosis' NMI / ARI are NumPy's
    assert report["sklearn_loaded"] == [], report["sklearn_loaded"]
    # pandas (for UMAP) is imported at the end of the page's own script, never by a background thread: a page
    # drawing a figure while another thread is half-way through importing it fails (plotly and Streamlit look
    # it up in sys.modules)
    assert len(report["pandas_imported_by"]) == 1, report["pandas_imported_by"]
    assert report["pandas_imported_by"][0] not in ("torch-loader", "MainThread"), report["pandas_imported_by"]


def test_diffpool_threads_sets_the_count_torch_starts_with():
    report = _run({"DIFFPOOL_THREADS": "2"})
    assert report["exceptions"] == []
    assert report["threads"] == [2, 2]
