"""The log store: per-worker output files, rollover and purge, capture from pipes, events.log, merged reading."""
