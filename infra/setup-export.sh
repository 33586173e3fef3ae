#!/usr/bin/env bash
# The model export environment: Python with torch, timm and onnx (.venv-py/) and the models the
# tests and benchmarks compare with (models/). Only needed for another backbone, `npm run
# test:fidelity` (which also makes the golden files of test/fixtures/golden/ again) and
# the benchmarks; running tessera needs only infra/setup.sh. Idempotent and quick when done.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/infra/setup-python.sh"
bash "$root/infra/ensure-model.sh"
