#!/usr/bin/env bash
# DAC (adaptive) ablation on a 10,000-image MNIST subset, CPU, the full 20-epoch schedule
# (u and l meet after 20 epochs): the default, then one named option at a time.
# Run from the repository root of a worktree of one commit:
#   SEEDS="0 1" bash outputs/checks/dac_adaptive_subset/run.sh RUNS_DIR [CONFIG...]
# CONFIG: default | mse | self1 | shuffled | norelu | dac_star (all six when none is named);
# SEEDS: the seeds (default 0); the seed also draws the subset. Each run's directory is
# RUNS_DIR/<config>-s<seed>, its overrides in .hydra/overrides.yaml; a finished one
# (result.json present) is skipped.
set -euo pipefail
runs=${1:?RUNS_DIR}; shift
configs=("$@"); [ ${#configs[@]} -gt 0 ] || configs=(default mse self1 shuffled norelu dac_star)
for seed in ${SEEDS:-0}; do
  common=(dataset=mnist dataset.subset=10000 logger=csv plots=false "seed=$seed")
  for c in "${configs[@]}"; do
    case $c in
      default) extra=(method=dac) ;;
      mse) extra=(method=dac method.pair_loss=mse) ;;
      self1) extra=(method=dac method.self_weight=1) ;;
      shuffled) extra=(method=dac method.chunk_order=shuffled) ;;
      norelu) extra=(method=dac arch.last_relu=false) ;;
      dac_star) extra=(experiment=dac_star_mnist_authors) ;;
      *) echo "unknown config $c (default | mse | self1 | shuffled | norelu | dac_star)" >&2; exit 2 ;;
    esac
    run="$runs/$c-s$seed"
    [ -f "$run/result.json" ] && { echo "$c-s$seed: done, skipped"; continue; }
    echo "$c-s$seed: $(date -u +%FT%TZ) start: python -m src.run ${extra[*]} ${common[*]}"
    python -m src.run "${extra[@]}" "${common[@]}" "hydra.run.dir=$run" > "$run.log" 2>&1
    echo "$c-s$seed: $(date -u +%FT%TZ) done"
  done
done
