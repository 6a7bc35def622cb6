#!/usr/bin/env bash
# There, on the lent GPU machine (repo root, `.gpu` carried; see scripts/gpu_prepare.sh):
#   bash scripts/gpu_session.sh "python -m scripts.bench --profile paper" "python -m scripts.reproduce ..."
# installs the carried wheels, points the data root at the carried caches, restores carried
# pretrained SAEs (.gpu/sae/), runs the CUDA tests (`pytest -m gpu`; a failure stops the session
# before any command), runs each command in turn (logs under $OUT), and packs outputs/ (tables,
# figures, bench, the results store) into $OUT/results.tar.gz, whatever finished.
# Environment: GPU_TESTS=0 skips the tests; CARRY_SAE=1 also sends the SAE cache back as
# $OUT/sae_cache.tgz.NN parts (15 MiB each, newest SAEs first, at most SAE_MAX_MB=45 MiB).
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 WANDB_MODE=disabled DCREPRO_DATA="$PWD/.gpu/data"
OUT="${OUT:-/tmp/out}"
CACHE="${DCREPRO_CACHE:-outputs/cache}"
mkdir -p "$OUT" "$CACHE/sae"
if [ -d .gpu/sae ]; then  # pretrained SAEs from an earlier window: resume instead of retraining
    cp -n .gpu/sae/*.pt "$CACHE/sae/" 2>/dev/null
    echo "== restored $(ls .gpu/sae/*.pt 2>/dev/null | wc -l) cached SAE file(s)" | tee -a "$OUT/session.log"
fi

pack() {
    tar -czf "$OUT/results.tar.gz" --exclude='outputs/cache' --exclude='*.npy' --exclude='*.pt' \
        --exclude='assignments.csv' outputs
    if [ "${CARRY_SAE:-0}" = 1 ]; then
        local budget=$(( ${SAE_MAX_MB:-45} * 1024 * 1024 )) total=0 files=()
        while IFS= read -r f; do  # newest first, within the budget
            size=$(stat -c %s "$f")
            (( total + size > budget )) && continue
            total=$(( total + size )); files+=("$(basename "$f")")
        done < <(ls -t "$CACHE"/sae/*.pt 2>/dev/null)
        if [ "${#files[@]}" -gt 0 ]; then
            tar -czf - -C "$CACHE" "${files[@]/#/sae/}" | split -b 15M -d - "$OUT/sae_cache.tgz."
            echo "== SAE cache: ${#files[@]} file(s) in $OUT/sae_cache.tgz.* (here: cat sae_cache.tgz.* | tar -xz -C .gpu)" \
                | tee -a "$OUT/session.log"
        fi
    fi
}

status=0
if [ "${GPU_TESTS:-1}" != 0 ]; then
    echo "== python -m pytest -m gpu tests/test_gpu.py" | tee -a "$OUT/session.log"
    python3 -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tee -a "$OUT/session.log"
    status=${PIPESTATUS[0]}
    if [ "$status" -ne 0 ]; then
        echo "== the CUDA tests failed (exit $status): no command was run" | tee -a "$OUT/session.log"
        pack
        exit "$status"
    fi
fi
for cmd in "$@"; do
    echo "== $cmd" | tee -a "$OUT/session.log"
    bash -c "$cmd" 2>&1 | tee -a "$OUT/session.log" || status=$?
done
pack
exit "$status"
