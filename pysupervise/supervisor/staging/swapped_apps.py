"""run_dir/swapped-apps.json: the apps whose staging folder serves production, so a restarted master keeps a swap."""

from __future__ import annotations

from typing import Iterable

from pysupervise.supervisor.service.app_names_file import AppNamesFile


class SwappedApps(AppNamesFile):
    """The apps swapped now (the swap holds even if writing the file fails, until the master restarts)."""

    def flip(self, app: str) -> str:
        """`app`'s other folder serves production from now on; returns why it could not be written ("" if it was)."""
        return self._change(self._names ^ {app})

    def keep_only(self, apps: Iterable[str]) -> str:
        """Forget the apps that have no staging folder any more: one added again later starts unswapped."""
        return self._change(self._names & set(apps))
