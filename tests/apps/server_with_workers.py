"""Test app for `command`: a server with a worker process of its own, as gunicorn and granian are. The parent starts
a child that serves plain_server's app on $PORT and, at SIGTERM, stops it itself. The child appends to
$SIGNALS_FILE the pid that sent it its SIGTERM."""

import os
import signal
import subprocess
import sys
import threading

if sys.argv[1:] == ["child"]:
    from plain_server import Handler, UnixHTTPServer

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # before the server's thread, which inherits it
    server = UnixHTTPServer(os.environ["PORT"], Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sender = signal.sigwaitinfo({signal.SIGTERM}).si_pid
    with open(os.environ["SIGNALS_FILE"], "a") as signals:
        signals.write(f"{sender}\n")
    server.shutdown()
    sys.exit(0)

child = subprocess.Popen([sys.executable, __file__, "child"])
asked_to_stop = False


def stop_the_child(signum, frame):
    global asked_to_stop
    asked_to_stop = True
    child.send_signal(signal.SIGTERM)


signal.signal(signal.SIGTERM, stop_the_child)
_pid, status = os.waitpid(child.pid, 0)  # resumed after the handler (PEP 475)
sys.exit(0 if asked_to_stop else os.waitstatus_to_exitcode(status) or 1)
