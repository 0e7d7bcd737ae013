"""Sample apps hosted by the repo's supervisor.toml."""
