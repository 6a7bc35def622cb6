#!/usr/bin/env bash
# Here, before using the lent GPU machine (device tool): put what it lacks into .gpu/ (git-ignored)
# so one `run` can carry it: the pure-Python wheels it has no copy of (hydra-core, omegaconf,
# antlr4 runtime) and the MNIST / Fashion-MNIST array caches (`make data` first).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu/whl .gpu/data/mnist .gpu/data/fashion-mnist
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform any -d .gpu/whl hydra-core==1.3.8 omegaconf==2.3.1
python3 -m pip wheel -q --no-deps -w .gpu/whl antlr4-python3-runtime==4.9.3
cp data/mnist/mnist.npz .gpu/data/mnist/
[ -f data/fashion-mnist/fashion_mnist.npz ] && cp data/fashion-mnist/fashion_mnist.npz .gpu/data/fashion-mnist/
du -sh .gpu
echo 'carry: [".gpu"]; command: bash scripts/gpu_session.sh "<what to run>"'
