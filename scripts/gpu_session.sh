#!/usr/bin/env bash
# There, on the lent GPU machine (repo root, `.gpu` carried; see scripts/gpu_prepare.sh):
#   bash scripts/gpu_session.sh "python -m scripts.bench --profile paper" "python -m scripts.reproduce ..."
# installs the carried wheels, points the data root at the carried caches, runs each command in
# turn (logs under $OUT), and packs outputs/ (tables, figures, bench, the results store) into
# $OUT/results.tar.gz — one archive back, whatever finished.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 WANDB_MODE=disabled DCREPRO_DATA="$PWD/.gpu/data"
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
status=0
for cmd in "$@"; do
    echo "== $cmd" | tee -a "$OUT/session.log"
    bash -c "$cmd" 2>&1 | tee -a "$OUT/session.log" || status=$?
done
tar -czf "$OUT/results.tar.gz" --exclude='outputs/cache' --exclude='*.npy' --exclude='*.pt' \
    --exclude='assignments.csv' outputs
exit "$status"
