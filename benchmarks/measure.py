"""Run one command as a child process and measure it: wall time, CPU time and peak RSS.

CPU and peak RSS come from `os.wait4` on the child, so they are the child's own process
tree (the child and every descendant it waited for), and never the stub server's, which
runs in a process of its own.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: ru_maxrss is in kilobytes on Linux, in bytes on macOS
_RSS_UNIT = 1 if sys.platform == "darwin" else 1024


@dataclass
class Measured:
    wall_s: float
    user_s: float
    sys_s: float
    maxrss_mb: float
    returncode: int

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cpu_s": self.cpu_s}


def run_measured(argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
                 log: Path | None = None) -> Measured:
    """Start `argv`, wait for it, and return what it cost. Its output goes to `log` (or nowhere)."""
    out = log.open("wb") if log is not None else subprocess.DEVNULL
    try:
        started = time.perf_counter()
        child = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    finally:
        if log is not None:
            out.close()
    return Measured(wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss * _RSS_UNIT / 2**20, child.returncode)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
