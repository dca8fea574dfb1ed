#!/usr/bin/env bash
# System packages the test suite needs beyond npm: Debian's Chromium for the status-page
# browser test. Idempotent; skips apt-get when everything is already there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing chromium (for the status-page browser test)…"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
