#!/bin/sh
# Installs everything the test suite needs (Debian packages, then the Python test extras into ./.venv),
# then runs it all. Extra arguments go to pytest, e.g. `./scripts/test.sh tests/config/test_config.py -x`.
set -eu
cd "$(dirname "$0")/.."
. scripts/venv.sh

missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
if [ -n "$missing" ]; then
    apt_install $missing
fi

"$VENV_PYTHON" -m pip install --quiet -e '.[test]'
exec "$VENV_PYTHON" -m pytest "$@"
