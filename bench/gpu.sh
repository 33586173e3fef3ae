#!/usr/bin/env bash
# The GPU benchmark in one short run, in two steps because a GPU machine may have no network.
#
#   bash bench/gpu.sh prepare [--cuda-libs]   # where npm and PyPI are reachable (e.g. this machine)
#   bash bench/gpu.sh run [bench/gpu.ts options] # on the GPU machine, offline
#
# prepare: installs the project (npm ci, models, Temporal CLI), generates the 2,000 benchmark
# JPEGs, and takes onnxruntime's CUDA provider for onnxruntime-node's exact version from PyPI's
# onnxruntime-gpu wheel (NuGet, where onnxruntime-node's own installer looks, may be out of
# reach) into bench/.gpu/ort. With --cuda-libs it also bundles the CUDA 13 runtime, cuBLAS,
# cuRAND, cuFFT and cuDNN 9 from PyPI's nvidia-* wheels into bench/.gpu/cuda (several GB), for a
# GPU machine without them. Copy the whole project folder to the GPU machine afterwards.
#
# run: puts the provider beside onnxruntime-node's binding, adds bench/.gpu/cuda to the library
# path when present, checks that a CUDA session loads, and runs bench/gpu.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=bench/.gpu
ORT_BIN=node_modules/onnxruntime-node/bin/napi-v6/linux/x64

prepare() {
  ONNXRUNTIME_NODE_INSTALL=skip npm ci
  bash infra/setup.sh
  bash infra/setup-export.sh
  node --import tsx bench/gpu.ts --prepare-only
  local version
  version=$(node -p "require('onnxruntime-node/package.json').version")
  mkdir -p "$BUNDLE/wheels" "$BUNDLE/ort"
  .venv-py/bin/pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 "onnxruntime-gpu==$version" -d "$BUNDLE/wheels"
  unzip -o -q -j "$BUNDLE/wheels/onnxruntime_gpu-$version-"*.whl \
    'onnxruntime/capi/libonnxruntime_providers_cuda.so' 'onnxruntime/capi/libonnxruntime_providers_shared.so' -d "$BUNDLE/ort"
  if [[ "${1:-}" == "--cuda-libs" ]]; then
    mkdir -p "$BUNDLE/cuda-wheels" "$BUNDLE/cuda"
    .venv-py/bin/pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 --platform manylinux_2_28_x86_64 \
      -d "$BUNDLE/cuda-wheels" nvidia-cuda-runtime nvidia-cublas nvidia-curand nvidia-cufft nvidia-cudnn-cu13
    for wheel in "$BUNDLE"/cuda-wheels/*.whl; do unzip -o -q -j "$wheel" '*.so*' -d "$BUNDLE/cuda"; done
  fi
  echo "gpu.sh prepare: done; copy this folder to the GPU machine and run: bash bench/gpu.sh run"
}

run() {
  [[ -f "$BUNDLE/ort/libonnxruntime_providers_cuda.so" ]] || { echo "gpu.sh: run 'bash bench/gpu.sh prepare' first (on a machine with network)" >&2; exit 2; }
  cp "$BUNDLE"/ort/*.so "$ORT_BIN/"
  if [[ -d "$BUNDLE/cuda" ]]; then export LD_LIBRARY_PATH="$PWD/$BUNDLE/cuda:${LD_LIBRARY_PATH:-}"; fi
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  node --import tsx bench/gpu.ts "$@"
}

case "${1:-}" in
  prepare) shift; prepare "$@" ;;
  run) shift; run "$@" ;;
  *) echo "usage: bash bench/gpu.sh prepare [--cuda-libs] | run [--runs N] [--data DIR]" >&2; exit 2 ;;
esac
