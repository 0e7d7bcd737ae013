# A `command` worker as many deployments write it: a shell that starts python without `exec`, so the
# server is the worker's grandchild. A second grandchild ignores SIGTERM, as a stubborn helper would.
"$PYTHON" -c 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)' &
"$PYTHON" plain_server.py
echo "wrapped_server.sh: the server exited with $?"
