"""bench/results holds JSON and tables only: shipped weights live in pretrained/, run weights nowhere in the repo."""

from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def test_no_weights_under_bench_results():
    weights = sorted(str(p.relative_to(RESULTS)) for suffix in ("*.safetensors", "*.pt", "*.pth", "*.ckpt")
                     for p in RESULTS.rglob(suffix))
    assert weights == []
