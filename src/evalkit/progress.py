"""Progress people can read, on a terminal and in CI.

On a terminal: a bar (tqdm) whose text says when and why the run waits ("waiting for
openai:gpt-4.1-mini: 0 requests left, resets in 1.2 s"). When stderr is not a terminal (CI
logs): one line every `interval_s` seconds with rows done / total, the rate, what the run
waits for and the time left.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, TextIO


class Progress:
    """Counts written rows (`update`) and reports them; `watch` runs beside the calls."""

    def __init__(self, total: int, *, tty: bool, pacers: Any = None, interval_s: float = 5.0,
                 stream: TextIO | None = None):
        self.total, self.tty, self.pacers, self.interval_s = total, tty, pacers, interval_s
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self.bar = None
        if tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="call", file=self.stream, mininterval=0.2, leave=False)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)

    def waiting(self) -> str | None:
        if self.pacers is None:
            return None
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:
            return None
        return self.pacers.waiting_reason(now)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        parts = [f"{self.done}/{self.total} rows", f"{rate:.1f}/s"]
        reason = self.waiting()
        if reason:
            parts.append(reason)
        if 0 < self.done < self.total and rate > 0:
            parts.append(f"ETA {(self.total - self.done) / rate:.0f} s")
        return "evalkit: " + ", ".join(parts)

    async def watch(self) -> None:
        """Until cancelled: refresh the bar's reason twice a second, or print a line every interval."""
        while True:
            if self.bar is not None:
                await asyncio.sleep(0.5)
                self.bar.set_description_str(self.waiting() or "", refresh=False)
            else:
                await asyncio.sleep(self.interval_s)
                if self.done < self.total:
                    print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
