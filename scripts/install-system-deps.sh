#!/usr/bin/env bash
# System packages swarmd needs beyond npm, from Debian. Idempotent: apt-get runs only for what
# is missing, and an existing PyTorch (CUDA or CPU, in /usr/bin/python3 or $SWARMD_PYTHON) is kept.
#   bash scripts/install-system-deps.sh          what a daemon needs to run experiments
#   bash scripts/install-system-deps.sh --test   plus what the test suite needs (Chromium, git, ip, iptables, miniupnpd)
set -euo pipefail
missing=()
python="${SWARMD_PYTHON:-/usr/bin/python3}"
if "$python" -c 'import torch' >/dev/null 2>&1; then
  echo "PyTorch found: $("$python" -c 'import torch; print(torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")')"
else
  # Debian's CPU build; the reference BLAS is ~15x slower than OpenBLAS for these runs.
  missing+=(python3-torch libopenblas0-openmp)
fi
# The experiment sandbox: no network, read-only system, home hidden.
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if [ "${1:-}" = "--test" ] && [ ! -x /usr/bin/chromium ]; then
  missing+=(chromium)
fi
# The NAT tests build homes and routers from network namespaces (test/helpers/netns.ts).
if [ "${1:-}" = "--test" ]; then
  # `swarmd git` drives the git binary (test/e2e/git-command.spec.ts); a CI job fed a tarball may lack it.
  command -v git >/dev/null 2>&1 || missing+=(git)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  command -v iptables >/dev/null 2>&1 || missing+=(iptables)
  # A home router that forwards a port on request (UPnP IGD, NAT-PMP); it writes legacy iptables rules.
  command -v miniupnpd >/dev/null 2>&1 || missing+=(miniupnpd-iptables)
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing ${missing[*]} from Debian…"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed ${missing[*]}"
