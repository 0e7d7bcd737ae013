"""The one exception a bad supervisor.toml raises: it names the file, the key and the problem."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration problem, printed to users as `file: key.path: problem`."""

    def __init__(self, file: str, key_path: str, problem: str) -> None:
        self.file = file
        self.key_path = key_path
        self.problem = problem
        where = f"{file}: {key_path}: " if key_path else f"{file}: "
        super().__init__(where + problem)
