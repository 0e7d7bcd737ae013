"""Test app: Flask, routes written without the prefix it is mounted at; links come from url_for."""

from flask import Flask, jsonify, request, url_for


def create_app(flavour: str = "plain", debug: bool = False) -> Flask:
    """A factory as Flask's docs write them; gunicorn's "flask_app:create_app('x', debug=True)" passes literals."""
    app = Flask(__name__)
    app.config["FLAVOUR"] = flavour
    app.debug = debug

    @app.get("/")
    def index():
        return jsonify(flavour=app.config["FLAVOUR"], debug=app.debug, hello=url_for("hello", name="ann"),
                       external=url_for("hello", name="ann", _external=True))

    @app.get("/hello/<name>")
    def hello(name: str):
        return jsonify(greeting=f"hello {name}", script_root=request.script_root, path=request.path,
                       link=url_for("hello", name=name))

    return app


app = create_app()
