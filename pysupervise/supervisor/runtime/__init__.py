"""Code that runs inside a worker process: import the user's app and serve it on $PORT."""
