"""Test app: a bare WSGI application (no framework), served by the worker runtime."""

import json
import os


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    payload = json.dumps({"interface": "wsgi", "pid": os.getpid(), "path": environ["PATH_INFO"],
                          "method": environ["REQUEST_METHOD"], "body": body.decode(),
                          "remote_addr": environ.get("REMOTE_ADDR"), "scheme": environ.get("wsgi.url_scheme")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]
