"""An app's own Python (`python = ...`): its check when the app starts, and how its workers reach the runtime.

Runs in the master. The worker side of the contract is `pysupervise/worker/runtime_path.py`."""

from pysupervise.supervisor.interpreter.app_python import AppPython, prepare_app_python
from pysupervise.supervisor.interpreter.probe import MIN_PYTHON, InterpreterUnusable

__all__ = ["AppPython", "InterpreterUnusable", "MIN_PYTHON", "prepare_app_python"]
