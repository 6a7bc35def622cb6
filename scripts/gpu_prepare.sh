#!/usr/bin/env bash
# Here, before using the lent GPU machine (device tool): put what it lacks into .gpu/ (git-ignored)
# so one `run` can carry it: the pure-Python wheels it has no copy of (hydra-core, omegaconf,
# antlr4 runtime) and the MNIST / Fashion-MNIST array caches (`make data` first).
# DATASETS="mnist" carries MNIST only (12 MB instead of 43 MB), leaving room under the 64 MiB
# carry limit for pretrained SAEs from an earlier window: unpack its $OUT/sae_cache.tgz.* parts
# with `cat sae_cache.tgz.* | tar -xz -C .gpu` (→ .gpu/sae/), and gpu_session.sh restores them.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASETS="${DATASETS:-mnist fashion_mnist}"
mkdir -p .gpu/whl .gpu/data
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform any -d .gpu/whl hydra-core==1.3.8 omegaconf==2.3.1
python3 -m pip wheel -q --no-deps -w .gpu/whl antlr4-python3-runtime==4.9.3
rm -rf .gpu/data/mnist .gpu/data/fashion-mnist
for ds in $DATASETS; do
    case "$ds" in
        mnist) mkdir -p .gpu/data/mnist && cp data/mnist/mnist.npz .gpu/data/mnist/ ;;
        fashion_mnist)
            if [ -f data/fashion-mnist/fashion_mnist.npz ]; then
                mkdir -p .gpu/data/fashion-mnist
                cp data/fashion-mnist/fashion_mnist.npz .gpu/data/fashion-mnist/
            fi ;;
        *) echo "unknown data set '$ds' in DATASETS; choose from: mnist fashion_mnist" >&2; exit 2 ;;
    esac
done
# the commit this tree is (the copy sent there has no git, or a stale one): gpu_session.sh exports it as
# DCREPRO_COMMIT, which the run records name
commit="$(git rev-parse HEAD)"
[ -n "$(git status --porcelain --untracked-files=no)" ] && commit="$commit-dirty"
echo "$commit" > .gpu/commit
du -sh .gpu
echo 'carry: [".gpu"]; command: bash scripts/gpu_session.sh "<what to run>"'
