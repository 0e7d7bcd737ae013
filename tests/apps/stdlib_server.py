"""Test app for the standard-library recipe: `python stdlib_server.py {socket}`, an http.server on a Unix socket.

It finishes the requests in flight when the master sends SIGTERM (a stop, or a reload's drain)."""

import json
import os
import signal
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = json.dumps({"pid": os.getpid(), "path": self.path.partition("?")[0], "recipe": os.environ.get("RECIPE"),
                           "socket": os.environ.get("PYSUPERVISE_SOCKET")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def address_string(self):
        return "proxy"  # a Unix socket has no client address; the proxy's X-Forwarded-For has it


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    pass  # non-daemon threads: server_close() waits for the requests in flight


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ["PYSUPERVISE_SOCKET"]
    with UnixHTTPServer(path, Handler) as server:
        # shutdown() waits for serve_forever to return, so it cannot run in the signal handler's own thread.
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
        server.serve_forever()
