#!/usr/bin/env bash
# System packages the test suite needs beyond npm, from Debian: Chromium for the status-page
# browser test; PyTorch (CPU) and an OpenMP BLAS for the real training runs. Idempotent:
# apt-get runs only for what is missing.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
if ! /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
  # The reference BLAS is ~15x slower than OpenBLAS for these runs.
  missing+=(python3-torch libopenblas0-openmp)
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing ${missing[*]} (Debian packages the tests need)…"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
