#!/usr/bin/env bash
# Creates the project's own Python environment (.venv-py/) for model export and reference checks.
# Idempotent: with unchanged pins a second call returns at once.
#
# Only for model export and the tests' PyTorch checks: running tessera needs none of it.
#
# Why these torch pins: timm imports torchvision at import time, and a torchvision wheel loads only
# beside the torch it was built for (otherwise "operator torchvision::nms does not exist"), so torch
# and torchvision are pinned as a matched pair per architecture. On x86-64, PyPI's torch is a CUDA
# build (~5.5 GB; it runs on the CPU too); pip honours PIP_INDEX_URL / PIP_EXTRA_INDEX_URL if you
# would rather take the same versions from PyTorch's CPU-only wheel index.
set -euo pipefail
TIMM_VERSION="1.0.31"
case "$(uname -m)" in
  x86_64) TORCH_PINS="torch==2.14.1 torchvision==0.29.1" ;;
  aarch64) TORCH_PINS="torch==2.9.1 torchvision==0.24.1" ;;
  *) echo "setup-python: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-py"
req="$root/infra/requirements.txt"
stamp="$venv/.tessera-requirements"
wanted="$(cat "$req") $TORCH_PINS timm==$TIMM_VERSION"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
  exit 0
fi
echo "setup-python: creating $venv ($TORCH_PINS, timm $TIMM_VERSION)"
rm -rf "$venv"
python3 -m venv "$venv"
# pip warns once per package about this machine's unused local index folders: keep only real news.
pip_install() { "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2> >(grep -v '^WARNING: Location' >&2); }
# shellcheck disable=SC2086
pip_install $TORCH_PINS
pip_install -r "$req" "timm==$TIMM_VERSION"
"$venv/bin/python" -c "import torch, timm, onnx; print('setup-python: torch', torch.__version__, 'timm', timm.__version__, 'onnx', onnx.__version__)"
printf '%s' "$wanted" > "$stamp"
