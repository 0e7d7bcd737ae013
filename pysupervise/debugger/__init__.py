"""The debugger (master side): debug sessions over debugpy's adapter, the DAP gate, the debug worker, and the
master's end of each worker's control channel."""
