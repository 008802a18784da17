"""Rate limits enforced the way providers enforce them, for tests and the benchmark.

``StubServer(rate_limit=RateLimit(rpm=600))`` limits the chat endpoints
(``/v1/chat/completions`` and ``/v1/messages``) with one bucket per limit, each holding
``burst_s`` seconds of it (2 s by default) and refilled continuously. A request costs one
request and its tokens: the serialised messages (and Anthropic's ``system``) in characters
/ 4, plus ``max_tokens`` (``max_completion_tokens``); input-token limits count the first
part, output-token limits the second. A request that does not fit is answered 429 at once,
with ``retry-after`` / ``retry-after-ms`` (the time until it would fit) unless
``retry_after=False``. Every answer, 429s included, carries the rate-limit headers of the
route's dialect unless ``headers=False``:

* OpenAI: ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` (reset as ``1.2s``, ``20ms``);
* Anthropic: ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}``
  (reset as an RFC 3339 time).

``quota_after=N`` answers every chat request after the first N with the provider's quota
error: OpenAI's 429 ``insufficient_quota``, Anthropic's 400 "credit balance is too low".
``rejected`` counts the 429s sent, ``answered`` the requests let through,
``admitted_tokens`` their tokens, ``first_at`` / ``last_at`` when the first and the last
of them arrived (``time.monotonic()``).
"""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

OPENAI_QUOTA = "You exceeded your current quota, please check your plan and billing details."
ANTHROPIC_QUOTA = ("Your credit balance is too low to access the Anthropic API. "
                   "Please go to Plans & Billing to upgrade or purchase credits.")


def request_tokens(body: dict[str, Any]) -> tuple[int, int]:
    """(input, output) tokens a request counts before it runs."""
    chars = len(json.dumps(body.get("messages"), ensure_ascii=False))
    if body.get("system") is not None:
        chars += len(json.dumps(body["system"], ensure_ascii=False))
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    return chars // 4 + 1, int(max_tokens)


def _openai_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{max(int(seconds * 1000), 0)}ms"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.3g}s" if minutes else f"{rest:.3g}s"


class RateLimit:
    """The limits of one key (see the module docstring)."""

    def __init__(self, *, rpm: float | None = None, tpm: float | None = None, itpm: float | None = None,
                 otpm: float | None = None, burst_s: float = 2.0, retry_after: bool = True, headers: bool = True,
                 quota_after: int | None = None) -> None:
        self.limits = {name: limit for name, limit in (("requests", rpm), ("tokens", tpm), ("input_tokens", itpm),
                                                        ("output_tokens", otpm)) if limit}
        self.burst_s, self.retry_after, self.headers, self.quota_after = burst_s, retry_after, headers, quota_after
        now = time.monotonic()
        self.levels = {name: self._capacity(name) for name in self.limits}
        self.at = now
        self.rejected = 0
        self.answered = 0
        self.seen = 0
        self.admitted_tokens = 0.0  # tokens of the requests let through, as counted against `tpm`
        self.first_at: float | None = None  # time.monotonic() of the first and last request let through
        self.last_at: float | None = None
        self._lock = threading.Lock()

    def _capacity(self, name: str) -> float:
        return self.limits[name] * self.burst_s / 60.0

    def _refill(self, now: float) -> None:
        elapsed = now - self.at
        if elapsed > 0:
            for name, limit in self.limits.items():
                self.levels[name] = min(self._capacity(name), self.levels[name] + limit / 60.0 * elapsed)
            self.at = now

    def admit(self, kind: str, body: dict[str, Any]) -> tuple[tuple[int, str, str | None] | None, dict[str, str]]:
        """((status, message, code) of a refusal, or None) and the headers to send."""
        inputs, outputs = request_tokens(body)
        costs = {"requests": 1.0, "tokens": float(inputs + outputs), "input_tokens": float(inputs),
                 "output_tokens": float(outputs)}
        with self._lock:
            self.seen += 1
            if self.quota_after is not None and self.seen > self.quota_after:
                if kind == "anthropic":
                    return (400, ANTHROPIC_QUOTA, None), {}
                return (429, OPENAI_QUOTA, "insufficient_quota"), {}
            now = time.monotonic()
            self._refill(now)
            short = {name: (min(costs[name], self._capacity(name)) - level) / (self.limits[name] / 60.0)
                     for name, level in self.levels.items() if level < min(costs[name], self._capacity(name))}
            if short:
                self.rejected += 1
                headers = self._headers(kind) if self.headers else {}
                wait = max(short.values())
                if self.retry_after:
                    headers["retry-after-ms"] = str(int(math.ceil(wait * 1000)))
                    headers["retry-after"] = f"{wait:.3f}"
                limited = ", ".join(sorted(short))
                return (429, f"Rate limit reached for {limited}: please try again in {wait:.3f}s.", None), headers
            for name in self.levels:
                self.levels[name] -= costs[name]
            self.answered += 1
            self.admitted_tokens += costs["tokens"]
            if self.first_at is None:
                self.first_at = now
            self.last_at = now
            return None, self._headers(kind) if self.headers else {}

    def _headers(self, kind: str) -> dict[str, str]:
        headers = {}
        for name, limit in self.limits.items():
            level = self.levels[name]
            until_full = (self._capacity(name) - level) / (limit / 60.0)
            remaining = str(max(int(level), 0))
            if kind == "anthropic":
                stem = f"anthropic-ratelimit-{name.replace('_', '-')}"
                reset = (datetime.now(timezone.utc) + timedelta(seconds=until_full)).isoformat().replace("+00:00", "Z")
                headers.update(
                    {f"{stem}-limit": str(int(limit)), f"{stem}-remaining": remaining, f"{stem}-reset": reset}
                )
            elif name in ("requests", "tokens"):
                headers.update(
                    {
                        f"x-ratelimit-limit-{name}": str(int(limit)),
                        f"x-ratelimit-remaining-{name}": remaining,
                        f"x-ratelimit-reset-{name}": _openai_duration(until_full),
                    }
                )
        return headers
