#!/usr/bin/env bash
# Makes the golden files `npm test` compares tessera's split and features with (see
# infra/make_golden.py), into OUT_DIR (default: the committed test/fixtures/golden/). Needs a Python
# with pandas, numpy, pillow and onnxruntime or torch: .venv-py (bash infra/setup-export.sh), or
# the one TESSERA_GOLDEN_PYTHON names. npm run test:fidelity runs it into a temp folder and
# compares the result with the committed files.
#
#     bash infra/make-golden.sh [OUT_DIR] [--features-engine auto|torch|onnxruntime]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/test/fixtures/golden}"
shift || true
python="${TESSERA_GOLDEN_PYTHON:-$root/.venv-py/bin/python}"
if [ ! -x "$python" ]; then
  echo "make-golden: $python is missing: run bash infra/setup-export.sh, or set TESSERA_GOLDEN_PYTHON" >&2
  exit 1
fi
inputs="$(mktemp -d "${TMPDIR:-/tmp}/tessera-golden-inputs-XXXXXX")"
trap 'rm -rf "$inputs"' EXIT
(cd "$root" && node --import tsx test/support/write-golden-inputs.ts "$inputs")
"$python" -W ignore "$root/infra/make_golden.py" --inputs "$inputs" --out "$out" "$@"
