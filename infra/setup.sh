#!/usr/bin/env bash
# Everything tessera needs beyond `npm ci`, installed inside the project: the Temporal CLI
# (.tools/), the Python environment for model export (.venv-py/) and the default model (models/).
# Idempotent and quick when already done.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/infra/setup-temporal.sh"
bash "$root/infra/setup-python.sh"
bash "$root/infra/ensure-model.sh"
