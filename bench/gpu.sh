#!/usr/bin/env bash
# The GPU benchmark in one short run, in two steps because a GPU machine may have no network.
#
#   bash bench/gpu.sh prepare [--cuda-libs]   # where npm and PyPI are reachable (e.g. this machine)
#   bash bench/gpu.sh run [bench/gpu.ts options] # on the GPU machine, offline
#
# For a GPU host that has no node and takes files in bundles of at most 64 MiB:
#   bash bench/gpu.sh bundle                    # after prepare: bench/.gpu/parts/, parts of ≤ 50 MiB
#   bash bench/gpu.sh assemble PARTS_DIR DEST   # on the host, once every part is in PARTS_DIR
#   PATH=DEST/node/bin:$PATH bash DEST/tessera/bench/gpu.sh run
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

# The parts' size: a device call carries at most 64 MiB, the working tree (~13 MB) included.
PART_MIB=${TESSERA_GPU_PART_MIB:-50}
PARTS="$BUNDLE/parts"

# Everything the GPU run needs that the host lacks, as xz-compressed parts of at most PART_MIB:
# node itself, the project (code, bench, the models it measures, the Temporal CLI) with its
# production node_modules pruned to linux-x64, and the CUDA provider beside onnxruntime-node's
# binding. xz because the host's Python can unpack it (lzma) where no xz or zstd is installed.
bundle() {
  [[ -f "$BUNDLE/ort/libonnxruntime_providers_cuda.so" ]] || { echo "gpu.sh bundle: run 'bash bench/gpu.sh prepare' first" >&2; exit 2; }
  local stage="$BUNDLE/stage"
  rm -rf "$stage" "$PARTS" && mkdir -p "$stage/tessera" "$stage/node/bin" "$PARTS"
  cp "$(command -v node)" "$stage/node/bin/node"
  git ls-files -z -- . ':!test' | xargs -0 cp --parents -t "$stage/tessera"
  cp -a node_modules "$stage/tessera/"
  (cd "$stage/tessera" && npm prune --omit=dev --no-audit --no-fund --silent)
  # Prebuilt binaries of other platforms: onnxruntime-node, the Temporal core bridge, koffi and
  # libjpeg-turbo's package ship all of them.
  local nm="$stage/tessera/node_modules"
  rm -rf "$nm/onnxruntime-node/bin/napi-v6/darwin" "$nm/onnxruntime-node/bin/napi-v6/win32" "$nm/onnxruntime-node/bin/napi-v6/linux/arm64"
  find "$nm/@temporalio/core-bridge/releases" -mindepth 1 -maxdepth 1 ! -name x86_64-unknown-linux-gnu -exec rm -rf {} +
  find "$nm/koffi/build/koffi" -mindepth 1 -maxdepth 1 ! -name linux_x64 -exec rm -rf {} +
  find "$nm/@julusian/jpeg-turbo/prebuilds" -mindepth 1 -maxdepth 1 ! -name jpeg-turbo-linux-x64 -exec rm -rf {} +
  cp --parents .tools/temporal/bin/temporal .tools/temporal/VERSION models/efficientnet_b0.onnx models/efficientnet_b0.onnx.json "$stage/tessera/"
  # The null model (the feed path's measure) and, where this checkout has them, the real photos the
  # benchmark decodes: a GPU run is decode-bound, and synthetic images decode faster than photos.
  [[ -f bench/.data/null-level4-256.onnx ]] || .venv-py/bin/python bench/feed/null_model.py bench/.data/null-level4-256.onnx 256
  cp --parents bench/.data/null-level4-256.onnx "$stage/tessera/"
  if [[ -f ../shared/data/flowers17-256/train.csv ]]; then
    mkdir -p "$stage/tessera/bench/.data" && cp -r ../shared/data/flowers17-256 "$stage/tessera/bench/.data/"
  fi
  cp "$BUNDLE"/ort/*.so "$stage/tessera/$ORT_BIN/"
  du -sh "$stage/node" "$stage/tessera" "$nm"
  tar -C "$stage" -cf - node tessera | xz -6 -T0 | split -b "${PART_MIB}M" -d -a 2 - "$PARTS/tessera-gpu.tar.xz.part-"
  (cd "$PARTS" && sha256sum tessera-gpu.tar.xz.part-* > SHA256SUMS)
  rm -rf "$stage"
  ls -l "$PARTS"
}

# On the host: checks every part against SHA256SUMS, then unpacks node/ and tessera/ into DEST.
assemble() {
  local parts="${1:?usage: gpu.sh assemble PARTS_DIR DEST}" dest="${2:?usage: gpu.sh assemble PARTS_DIR DEST}"
  (cd "$parts" && sha256sum -c --quiet SHA256SUMS) || { echo "gpu.sh assemble: a part is missing or damaged" >&2; exit 1; }
  mkdir -p "$dest"
  if command -v xz > /dev/null; then
    cat "$parts"/tessera-gpu.tar.xz.part-* | xz -dc | tar -C "$dest" -xf -
  else
    cat "$parts"/tessera-gpu.tar.xz.part-* | python3 -c 'import lzma, sys, tarfile; tarfile.open(fileobj=lzma.open(sys.stdin.buffer), mode="r|").extractall(sys.argv[1])' "$dest"
  fi
  echo "gpu.sh assemble: done; run: PATH=$dest/node/bin:\$PATH bash $dest/tessera/bench/gpu.sh run"
}

run() {
  if [[ -f "$BUNDLE/ort/libonnxruntime_providers_cuda.so" ]]; then cp "$BUNDLE"/ort/*.so "$ORT_BIN/"; fi
  [[ -f "$ORT_BIN/libonnxruntime_providers_cuda.so" ]] || { echo "gpu.sh: run 'bash bench/gpu.sh prepare' first (on a machine with network)" >&2; exit 2; }
  if [[ -d "$BUNDLE/cuda" ]]; then export LD_LIBRARY_PATH="$PWD/$BUNDLE/cuda:${LD_LIBRARY_PATH:-}"; fi
  # CUDA 13, cuBLAS and cuDNN from the host Python's nvidia-* wheels, when it has them.
  # (CUDA 13's wheels keep theirs in nvidia/cu13/lib, cuDNN's in nvidia/cudnn/lib: take every folder of libraries.)
  local site lib
  for site in $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2> /dev/null); do
    [[ -d "$site/nvidia" ]] || continue
    for lib in $(find "$site/nvidia" -name 'lib*.so*' -printf '%h\n' | sort -u); do export LD_LIBRARY_PATH="$lib:${LD_LIBRARY_PATH:-}"; done
  done
  # A library the provider cannot find would only show as a failed session later: name it now.
  if ldd "$ORT_BIN/libonnxruntime_providers_cuda.so" | grep 'not found'; then echo "gpu.sh: the CUDA provider lacks the libraries above" >&2; fi
  # Numeric settings recorded with the figures: no TF32 in cuBLAS/cuDNN (onnxruntime-node's CUDA
  # options take only a device id, so the libraries' own switch is the one that reaches them).
  export NVIDIA_TF32_OVERRIDE=0
  # sharp decodes on libuv's pool (4 threads by default); the bench's own decode figures use every core.
  export UV_THREADPOOL_SIZE="${UV_THREADPOOL_SIZE:-$(nproc)}"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  node --import tsx bench/gpu.ts "$@"
}

case "${1:-}" in
  prepare) shift; prepare "$@" ;;
  bundle) shift; bundle "$@" ;;
  assemble) shift; assemble "$@" ;;
  run) shift; run "$@" ;;
  *) echo "usage: bash bench/gpu.sh prepare [--cuda-libs] | bundle | assemble PARTS_DIR DEST | run [--runs N] [--data DIR]" >&2; exit 2 ;;
esac
