#!/bin/sh
# Installs Debian's chromium package when it is missing: the headless browser the dashboard test (tests/browser)
# drives. Same way as infra/ensure-redis.sh: apt-get as root or through sudo, and a clear line when it cannot.
set -eu
command -v chromium >/dev/null 2>&1 && exit 0
echo "fieldsync: chromium is not installed; installing Debian's chromium package (tests/browser needs it)" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "fieldsync: cannot install chromium here (need root or sudo); apt-get install chromium, then make again." >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null \
    || { echo "fieldsync: 'apt-get install chromium' failed; install it and run make again." >&2; exit 1; }
echo "fieldsync: installed $(chromium --version)" >&2
