"""Sweep entries for tests/test_reliability.py, importable by a sweep's worker processes."""

import os
import time
from pathlib import Path

PID_FILE = "worker.pid"


def blocking_trial(run_dir: str, settings: dict, resume: bool) -> None:
    """A trial that says which process runs it, then trains (sleeps) for up to a minute."""
    (Path(run_dir) / PID_FILE).write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)
