"""The master's memory for the bodies that pass through the proxy: its C heap (heap.py)."""
