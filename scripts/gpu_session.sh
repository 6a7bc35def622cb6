#!/usr/bin/env bash
# There, on the lent GPU machine (repo root, `.gpu` carried; see scripts/gpu_prepare.sh):
#   bash scripts/gpu_session.sh "python -m scripts.bench --profile paper" "python -m scripts.reproduce ..."
# installs the carried wheels, points the data root at the carried caches, restores carried
# pretrained SAEs (.gpu/sae/), runs the CUDA tests (`pytest -m gpu`; a failure stops the session
# before any command), runs each command in turn (logs under $OUT), and packs outputs/ (tables,
# figures, bench, the results store with DAC's resume states, the session's logs) into
# $OUT/results.tar.gz, whatever finished.
# Environment: GPU_TESTS=0 skips the tests; PARALLEL=1 starts the commands together, with the
# tests beside them (they no longer gate the commands: a lease is too short to wait; give each
# command its own --store); CARRY_SAE=1 also sends the SAE cache back as $OUT/sae_cache.tgz.NN
# parts (15 MiB each, newest SAEs first, at most SAE_MAX_MB=45 MiB); TESTS_TIMEOUT=900 (s) bounds
# the tests.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 WANDB_MODE=disabled DCREPRO_DATA="$PWD/.gpu/data"
export DCREPRO_COMMIT="${DCREPRO_COMMIT:-$(cat .gpu/commit 2>/dev/null)}"  # its git is absent or stale
OUT="${OUT:-/tmp/out}"
CACHE="${DCREPRO_CACHE:-outputs/cache}"
LOGS=outputs/gpu_session  # packed with the results
mkdir -p "$OUT" "$CACHE/sae" "$LOGS"
say() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$OUT/session.log"; }
if [ -d .gpu/sae ]; then  # pretrained SAEs from an earlier window: resume instead of retraining
    cp -n .gpu/sae/*.pt "$CACHE/sae/" 2>/dev/null
    say "restored $(ls .gpu/sae/*.pt 2>/dev/null | wc -l) cached SAE file(s)"
fi
say "commit ${DCREPRO_COMMIT:-unknown}; $(nvidia-smi -L 2>/dev/null | head -1)"

pack() {
    cp "$OUT/session.log" "$LOGS/" 2>/dev/null
    # no checkpoints or arrays, but DAC's per-epoch resume states (≈ 4 MB a run): unpacked here
    # and carried to the next window (carry: outputs/store_dac), an unfinished DAC run goes on
    find outputs -path outputs/cache -prune -o -type f \( -name dac_resume.pt -o \( \
        ! -name '*.pt' ! -name '*.npy' ! -name assignments.csv \) \) -print \
        | tar -czf "$OUT/results.tar.gz" -T -
    if [ "${CARRY_SAE:-0}" = 1 ]; then
        local budget=$(( ${SAE_MAX_MB:-45} * 1024 * 1024 )) total=0 files=()
        while IFS= read -r f; do  # newest first, within the budget
            size=$(stat -c %s "$f")
            (( total + size > budget )) && continue
            total=$(( total + size )); files+=("$(basename "$f")")
        done < <(ls -t "$CACHE"/sae/*.pt 2>/dev/null)
        if [ "${#files[@]}" -gt 0 ]; then
            tar -czf - -C "$CACHE" "${files[@]/#/sae/}" | split -b 15M -d - "$OUT/sae_cache.tgz."
            say "SAE cache: ${#files[@]} file(s) in $OUT/sae_cache.tgz.* (here: cat sae_cache.tgz.* | tar -xz -C .gpu)"
        fi
    fi
}

TESTS=(timeout "${TESTS_TIMEOUT:-900}" python3 -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py tests/test_dac_fast.py
       tests/test_seed_batch.py)
status=0
if [ "${PARALLEL:-0}" = 1 ]; then
    pids=() i=0
    for cmd in "$@"; do
        i=$((i + 1)); say "[$i] $cmd (log $LOGS/command$i.log)"
        bash -c "$cmd" > "$LOGS/command$i.log" 2>&1 &
        pids+=($!)
    done
    if [ "${GPU_TESTS:-1}" != 0 ]; then
        say "tests: ${TESTS[*]}"
        "${TESTS[@]}" > "$LOGS/gpu_tests.log" 2>&1 || status=$?
        say "tests exit $status: $(tail -1 "$LOGS/gpu_tests.log")"
    fi
    i=0
    for pid in "${pids[@]}"; do
        i=$((i + 1)); wait "$pid"; rc=$?
        say "[$i] exit $rc: $(tail -2 "$LOGS/command$i.log" | tr '\n' ' ')"
        [ "$rc" -ne 0 ] && status=$rc
    done
    pack
    exit "$status"
fi
if [ "${GPU_TESTS:-1}" != 0 ]; then
    say "tests: ${TESTS[*]}"
    "${TESTS[@]}" 2>&1 | tee -a "$OUT/session.log"
    status=${PIPESTATUS[0]}
    if [ "$status" -ne 0 ]; then
        say "the CUDA tests failed (exit $status): no command was run"
        pack
        exit "$status"
    fi
fi
for cmd in "$@"; do
    say "$cmd"
    bash -c "$cmd" 2>&1 | tee -a "$OUT/session.log" || status=$?
done
pack
exit "$status"
