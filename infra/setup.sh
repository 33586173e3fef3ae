#!/usr/bin/env bash
# What running tessera needs beyond `npm ci`, installed inside the project: the Temporal CLI
# (.tools/, ~150 MB), and the JavaScript build of the TypeScript (dist/, bin/build.js: a fraction
# of a second) that bin/tessera.js runs while it is current. The default model is committed
# (models/README.md), so this needs no torch.
# The export environment (other backbones, the tests' PyTorch checks) is infra/setup-export.sh.
# Idempotent and quick when already done.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/infra/setup-temporal.sh"
model="$root/models/efficientnet-lite0.onnx"
if [ ! -s "$model" ]; then
  echo "setup: the default model $model is missing: it is part of the repository (git checkout -- models/), or export it with bash infra/setup-export.sh" >&2
  exit 1
fi
# Rebuilt when the sources changed since (bin/tessera.js runs the TypeScript while dist/ is stale).
node "$root/bin/build.js"
