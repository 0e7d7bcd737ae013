"""Apps with a staging folder: two sides (NAME and NAME~staging), which one serves production, and the swap."""
