"""Hand-set rate limits: `--rpm` (requests per minute) and `--tpm` (estimated tokens per
minute), per provider.

They count every attempt (retries included), which is what a provider's own limit counts.
evalkit.pacing applies them: a second of the limit at once, then calls spaced evenly at the
given rate until the provider's rate-limit headers show its bucket, whose burst is then used at
the given rate. `RateLimiter`
and `TokenLimiter` also space calls by themselves (`acquire`), for code that has no pacer.
"""

from __future__ import annotations

import asyncio

from evalkit.errors import BadInput


class RateLimiter:
    """At most `rpm` acquisitions per minute, one every 60/rpm seconds."""

    def __init__(self, rpm: float):
        if not rpm > 0:  # NaN too
            raise BadInput(f"--rpm must be positive, got {rpm:g}")
        self.rpm = rpm
        self.interval = 60.0 / rpm
        self._next = 0.0

    def reserve(self, now: float) -> float:
        """Take the next slot at or after `now`; return how long to wait for it (pure bookkeeping)."""
        slot = max(now, self._next)
        self._next = slot + self.interval
        return slot - now

    async def acquire(self) -> None:
        wait = self.reserve(asyncio.get_running_loop().time())
        if wait > 0:
            await asyncio.sleep(wait)


def parse_rpm(values: list[str] | None, flag: str = "--rpm", unit: str = "requests per minute") -> dict[str, float]:
    """`--rpm 500` (every remote provider) and `--rpm anthropic=50` -> {"*": 500, "anthropic": 50};
    `--tpm` the same, with flag="--tpm"."""
    limits: dict[str, float] = {}
    for value in values or []:
        provider, sep, number = value.rpartition("=")
        key = provider.strip() if sep else "*"
        try:
            rate = float(number)
        except ValueError:
            raise BadInput(f"{flag} expects N or PROVIDER=N ({unit}), got {value!r}") from None
        if not rate > 0 or (sep and not key):  # NaN too
            raise BadInput(f"{flag} expects N or PROVIDER=N with N > 0, got {value!r}")
        limits[key] = rate
    return limits


def limiters_for(providers: dict[str, bool], limits: dict[str, float], kind: type = RateLimiter,
                 flag: str = "--rpm") -> dict[str, RateLimiter]:
    """One limiter per provider prefix (`providers` maps prefix -> remote) that has a limit:
    its own, else the `*` one, which applies to remote providers only."""
    unknown = sorted(set(limits) - set(providers) - {"*"})
    if unknown:
        raise BadInput(f"{flag} names {', '.join(unknown)}, which no route of this run uses "
                       f"(providers here: {', '.join(sorted(providers)) or 'none'})")
    chosen = {}
    for prefix, remote in providers.items():
        rate = limits.get(prefix, limits.get("*") if remote else None)
        if rate is not None:
            chosen[prefix] = kind(rate)
    return chosen


class TokenLimiter:
    """At most `tpm` estimated tokens per minute (`--tpm`), each call spaced by its own tokens."""

    def __init__(self, tpm: float):
        if not tpm > 0:  # NaN too
            raise BadInput(f"--tpm must be positive, got {tpm:g}")
        self.tpm = tpm
        self._next = 0.0

    def reserve(self, now: float, tokens: float) -> float:
        slot = max(now, self._next)
        self._next = slot + tokens * 60.0 / self.tpm
        return slot - now

    async def acquire(self, tokens: float) -> None:
        wait = self.reserve(asyncio.get_running_loop().time(), tokens)
        if wait > 0:
            await asyncio.sleep(wait)
