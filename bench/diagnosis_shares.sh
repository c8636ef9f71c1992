#!/usr/bin/env bash
# Every shipped model's diagnosis on its own dataset (all graphs, one torch thread):
# bench/results/diagnosis/graphs/<model>.json (full CLI output, per graph; not committed: ~6 MB),
# then bench/diagnosis_table.py writes bench/results/diagnosis/shares.md / shares.json.
# Usage: bash bench/diagnosis_shares.sh [TU data folder] [model ...]   (default ../shared/data/TU, every model;
# with model names, only those are diagnosed and the table keeps the other models' previous rows)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/TU}
shift || true
OUT=bench/results/diagnosis/graphs
mkdir -p "$OUT"
: > "$OUT/timings.txt"
cards=()
if [ "$#" -gt 0 ]; then
  for name in "$@"; do
    [ -f "pretrained/$name.json" ] || { echo "no shipped model pretrained/$name.json" >&2; exit 2; }
    cards+=("pretrained/$name.json")
  done
else
  cards=(pretrained/*.json)
fi
for card in "${cards[@]}"; do
  case "$card" in *.projection.json|*/defaults.json) continue;; esac
  name=$(basename "$card" .json)
  dataset=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['dataset'])" "$card")
  # models without a pooling level (the baseline MLP, graphsage, ...) have nothing to diagnose
  pools=$(python3 -c "import json,sys; from core.model.compat import WITHOUT_POOLING; print(int(json.load(open(sys.argv[1]))['variant'] not in WITHOUT_POOLING))" "$card")
  [ "$pools" = 1 ] || { echo "$name: no pooling level, skipped"; continue; }
  start=$(date +%s.%N)
  python3 -m core.diagnose --model "$name" --dataset "$dataset" --data-dir "$DATA" --no-download --all --json --threads 1 > "$OUT/$name.json"
  end=$(date +%s.%N)
  echo "$name $dataset $(python3 -c "print(round($end-$start,1))") s" | tee -a "$OUT/timings.txt"
done
python3 bench/diagnosis_table.py
