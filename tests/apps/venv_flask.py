"""Test app for `python = ...`: a Flask app that says which Flask, which interpreter and which runtime serve it."""

import os
import sys
from importlib.metadata import version

import flask

app = flask.Flask(__name__)


@app.route("/", defaults={"path": ""})
@app.route("/<path:path>")
def which(path):
    import pysupervise.bus  # the bus client API must stay importable from an app's own venv

    uvicorn = sys.modules.get("uvicorn")
    return flask.jsonify(
        flask=version("flask"),
        prefix=sys.prefix,
        executable=sys.executable,
        virtual_env=os.environ.get("VIRTUAL_ENV"),
        bus_client=pysupervise.bus.__name__,
        pysupervise_file=sys.modules["pysupervise"].__file__,
        uvicorn_file=getattr(uvicorn, "__file__", None),
        socket=os.environ.get("PYSUPERVISE_SOCKET"),
    )
