#!/usr/bin/env bash
# DAC (adaptive) ablation on a 10,000-image MNIST subset, CPU, seed 0, the full 20-epoch
# schedule (u and l meet after 20 epochs): the default, then one named option at a time.
# Run from the repository root of a worktree of one commit:
#   bash outputs/checks/dac_adaptive_subset/run.sh RUNS_DIR [CONFIG...]
# (CONFIG: default | mse | self1 | dac_star; all four when none is named). Each run's
# directory is RUNS_DIR/<config>; a finished one (result.json present) is skipped.
set -euo pipefail
runs=${1:?RUNS_DIR}; shift
configs=("$@"); [ ${#configs[@]} -gt 0 ] || configs=(default mse self1 dac_star)
common=(dataset=mnist dataset.subset=10000 logger=csv plots=false seed=0)
for c in "${configs[@]}"; do
  case $c in
    default) extra=(method=dac) ;;
    mse) extra=(method=dac method.pair_loss=mse) ;;
    self1) extra=(method=dac method.self_weight=1) ;;
    dac_star) extra=(experiment=dac_star_mnist_authors) ;;
    *) echo "unknown config $c (default | mse | self1 | dac_star)" >&2; exit 2 ;;
  esac
  [ -f "$runs/$c/result.json" ] && { echo "$c: done, skipped"; continue; }
  echo "$c: $(date -u +%FT%TZ) start: python -m src.run ${extra[*]} ${common[*]}"
  python -m src.run "${extra[@]}" "${common[@]}" "hydra.run.dir=$runs/$c" > "$runs/$c.log" 2>&1
  echo "$c: $(date -u +%FT%TZ) done"
done
