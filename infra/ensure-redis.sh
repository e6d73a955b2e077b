#!/bin/sh
# Installs redis-server from Debian's packages when it is missing; says clearly when it cannot.
set -eu
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
echo "fieldsync: redis-server is not installed; installing Debian's redis-server package" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="none"; fi
if [ "$SUDO" = "none" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "fieldsync: cannot install redis-server here (need apt-get and root or sudo)." >&2
    echo "           Install it yourself (Debian/Ubuntu: apt-get install redis-server), or point" >&2
    echo "           FIELDSYNC_REDIS_SERVER_BIN at a redis-server binary, then run make again." >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null; }; then
    echo "fieldsync: 'apt-get install redis-server' failed; install redis-server and run make again." >&2
    exit 1
fi
command -v redis-server >/dev/null 2>&1 || { echo "fieldsync: redis-server still not on PATH after install" >&2; exit 1; }
echo "fieldsync: installed $(redis-server --version | cut -d' ' -f1-3)" >&2
