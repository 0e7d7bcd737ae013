"""Runs in the master: the master process, each app's generations and worker processes, and the service plumbing."""
