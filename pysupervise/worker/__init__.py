"""Runs inside a worker process: import the user's app and serve it on $PORT, the control hook, parent death.

Imports nothing from the master side (supervisor, proxy, admin, logs, debugger): a worker loads only this and the app."""
