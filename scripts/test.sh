#!/bin/sh
# Installs everything the test suite needs (Debian packages, then the Python test extras into ./.venv),
# then runs it all. Extra arguments go to pytest, e.g. `./scripts/test.sh tests/config/test_config.py -x`.
set -eu
cd "$(dirname "$0")/.."
. scripts/venv.sh

missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
# The multi-host test (tests/multihost, as root) builds hosts with `ip netns` and puts nginx in front. It runs
# its own nginx (own config, port, pid and logs under /tmp); one the package may start on port 80 is not used.
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing="$missing iproute2"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
if [ -n "$missing" ]; then
    apt_install $missing
fi

"$VENV_PYTHON" -m pip install --quiet -e '.[test]'
# One pytest process per core, at most 4 (pytest-xdist); each takes whole test files, so a module's site is
# started once. `-n 0` among the arguments runs everything in this one process.
exec "$VENV_PYTHON" -m pytest --numprocesses=auto --maxprocesses=4 --dist=loadfile "$@"
