"""Test app for `command = [...]`: a standard-library HTTP server on the Unix socket named by $PORT."""

import json
import os
import socketserver
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path.endswith("/slow"):  # sleeps, then leaves a marker file: a test sees that it ran to its end
            query = dict(parse_qsl(query))
            time.sleep(float(query.get("seconds", "1")))
            with open(query["marker"], "w") as handle:
                handle.write(str(os.getpid()))
        payload = json.dumps({"interface": "command", "pid": os.getpid(), "path": self.path,
                              "argv_marker": os.environ.get("MARKER"),
                              "forwarded_for": self.headers.get_all("X-Forwarded-For"),
                              "forwarded_proto": self.headers.get_all("X-Forwarded-Proto"),
                              "forwarded_prefix": self.headers.get_all("X-Forwarded-Prefix"),
                              "script_name": os.environ.get("SCRIPT_NAME"),
                              "header_names": list(self.headers.keys()),
                              "environ_token": os.environ.get("PYSUPERVISE_ADMIN_TOKEN")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, fmt, *args):
        print("plain_server:", fmt % args, flush=True)

    def address_string(self):
        return "proxy"


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if __name__ == "__main__":
    with UnixHTTPServer(os.environ["PORT"], Handler) as server:
        server.serve_forever()
