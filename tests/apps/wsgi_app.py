"""Test app: a bare WSGI application (no framework), served by the worker runtime."""

import json
import os


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    # "path" is the whole URL path, however it is split between SCRIPT_NAME (the route) and PATH_INFO.
    payload = json.dumps({"interface": "wsgi", "pid": os.getpid(),
                          "path": environ["SCRIPT_NAME"] + environ["PATH_INFO"],
                          "script_name": environ["SCRIPT_NAME"], "path_info": environ["PATH_INFO"],
                          "forwarded_prefix": environ.get("HTTP_X_FORWARDED_PREFIX"),
                          "forwarded_for": environ.get("HTTP_X_FORWARDED_FOR"),
                          "forwarded_host": environ.get("HTTP_X_FORWARDED_HOST"),
                          "method": environ["REQUEST_METHOD"], "body": body.decode(),
                          "remote_addr": environ.get("REMOTE_ADDR"), "scheme": environ.get("wsgi.url_scheme")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]
