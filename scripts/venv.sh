# Sourced by start.sh and test.sh: makes sure ./.venv exists and holds a Python new enough for pysupervise.
#
# Stock Debian 12 and Ubuntu 24.04 mark their Python "externally managed" (pip refuses to install into it),
# and ship the venv module in a separate package. So: check the version, install python3-venv when the
# venv module cannot bootstrap pip, and create .venv. It sees the system's site-packages, so what the
# machine already has is reused rather than downloaded again; pip installs the rest into .venv.
MIN_PYTHON="3.11"
PYTHON="${PYTHON:-python3}"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "pysupervise needs Python $MIN_PYTHON or newer: install python3 (apt-get install -y python3)" >&2
    exit 1
fi
if ! "$PYTHON" -c "import sys; sys.exit(sys.version_info < (3, 11))"; then
    echo "pysupervise needs Python $MIN_PYTHON or newer; $PYTHON is $("$PYTHON" -V 2>&1)" >&2
    exit 1
fi
apt_install() {
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    $sudo apt-get install -y "$@"
}
if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -c "import ensurepip, venv" >/dev/null 2>&1; then
        apt_install python3-venv
    fi
    "$PYTHON" -m venv --system-site-packages .venv
fi
VENV_PYTHON="$PWD/.venv/bin/python"
# Programs installed with the packages (gunicorn, uvicorn, ...) are found as in an activated venv.
export VIRTUAL_ENV="$PWD/.venv"
export PATH="$PWD/.venv/bin:$PATH"
# The compiled request path (setup.py) needs a C compiler and Python's headers. Without them pip still installs
# pysupervise, as Python whose proxy spends a quarter more CPU per request; so they are installed when apt can.
build_tools_missing() {
    command -v cc >/dev/null 2>&1 || return 0
    "$PYTHON" -c "import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" || return 0
    return 1
}
if build_tools_missing && command -v apt-get >/dev/null 2>&1; then
    apt_install gcc python3-dev || echo "pysupervise: gcc and python3-dev did not install; it will run as Python" >&2
fi
