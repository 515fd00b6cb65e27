#!/usr/bin/env bash
# The Debian packages the browser and stack tests drive: PostgreSQL and Redis servers, Chromium, and a CJK font
# (without one, Chromium draws the seal names in the screenshots as boxes).
# Idempotent: returns at once when all are there. Needs root (CI runs as root on a fresh machine); without it,
# it says what is missing and exits 0, and the tests that need them skip naming it.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
dpkg -s fonts-wqy-zenhei >/dev/null 2>&1 || missing+=(fonts-wqy-zenhei)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-system-deps: not root, cannot install: ${missing[*]} (the browser/stack tests will skip)" >&2
    exit 0
fi
echo "install-system-deps: apt-get install ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# apt may be busy (another install, unattended upgrades): wait for its lock rather than fail.
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
