#!/usr/bin/env bash
# #17 accuracy checks: DEC (1/10 paper schedule) fp32 vs bf16, seeds 0-2; DAC* 1 epoch bf16 seeds 0,1.
set -u
cd /work/wt/checks
P=/work/main/.venv/bin/python
export DCREPRO_DATA=/work/main/data DCREPRO_CACHE=/work/wt/checks/cache WANDB_MODE=disabled OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE
OUT=/work/wt/checks/runs
mkdir -p $OUT
LOG=/work/wt/checks/progress.log
run() {  # name, overrides...
  local name=$1; shift
  if [ -f $OUT/$name/result.json ]; then echo "$(date -u +%FT%TZ) skip $name (done)" >> $LOG; return; fi
  echo "$(date -u +%FT%TZ) start $name: $*" >> $LOG
  local t0=$(date +%s)
  $P -m src.run "$@" trainer=cpu logger=csv plots=false progress_bar=false hydra.run.dir=$OUT/$name > $OUT/$name.out 2>&1
  local rc=$?
  echo "$(date -u +%FT%TZ) end $name rc=$rc wall=$(( $(date +%s) - t0 ))s $(grep -h -o 'ACC [^ ]*\|acc[^,]*' $OUT/$name/result.json 2>/dev/null | head -1)" >> $LOG
}
DEC="method=dec dataset=mnist pretrain.layerwise_iters=5000 pretrain.finetune_iters=10000 pretrain.lr_step=2000"
DAC="experiment=dac_star_mnist_authors method.max_epochs=1 fast.channels_last=true"
for s in 0 1 2; do
  run dec_tenth_bf16_seed$s $DEC fast.amp=true seed=$s
  run dec_tenth_fp32_seed$s $DEC fast.amp=false seed=$s
  if [ $s -lt 2 ]; then run dac_star_1epoch_bf16_seed$s $DAC fast.amp=true seed=$s; fi
done
echo "$(date -u +%FT%TZ) all done" >> $LOG
