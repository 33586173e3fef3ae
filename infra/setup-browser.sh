#!/usr/bin/env bash
# Debian's Chromium for the Temporal UI test (driven by playwright-core, which downloads no
# browser of its own). Installed with apt-get when missing and this runs as root; otherwise it
# says what to run, and the UI test fails with the same message.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup-browser: installing Debian's chromium (for the Temporal UI test)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y --no-install-recommends chromium >/dev/null; }
  exit 0
fi
echo "setup-browser: /usr/bin/chromium is missing; install it (sudo apt-get install chromium) for the UI test" >&2
