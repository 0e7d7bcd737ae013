#!/bin/sh
# Installs pysupervise into ./.venv and runs the site in ./supervisor.toml (or the one given with -c).
# Extra arguments go to `pysupervise start`, e.g. `./scripts/start.sh --listen 0.0.0.0:8080`.
set -eu
cd "$(dirname "$0")/.."
. scripts/venv.sh
"$VENV_PYTHON" -m pip install --quiet -e .
exec .venv/bin/pysupervise start "$@"
