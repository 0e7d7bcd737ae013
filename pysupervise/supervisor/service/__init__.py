"""The master as a service: the CLI's control socket (both ends), the pidfile, systemd notify, `start --detach`."""
