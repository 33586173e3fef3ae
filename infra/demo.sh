#!/usr/bin/env bash
# The README's first command: set up, generate the sample dataset, run the embedded default.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash infra/setup.sh
[ -s sample-data/train.csv ] || node bin/tessera.js sample-data --out sample-data
node bin/tessera.js run --data sample-data --out runs/demo "$@"
# What came out, as a page: counts, shards over time, classes, a PCA of the vectors.
node bin/tessera.js report runs/demo
