#!/bin/sh
# Installs everything the test suite needs (Debian packages and Python packages), then runs it all.
# Extra arguments go to pytest, e.g. `./scripts/test.sh tests/config/test_config.py -x`.
set -eu
cd "$(dirname "$0")/.."

missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    $sudo apt-get install -y $missing
fi

python3 -m pip install --quiet -e '.[test]'
exec python3 -m pytest "$@"
