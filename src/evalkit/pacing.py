"""Pace calls to a provider's rate limits, learned from its own answers.

One `Pacer` per provider, model, endpoint and key (the key is only hashed, never kept; a
fine-tune and a dated snapshot count against their base model's limits, as OpenAI counts
them). It reads the rate-limit headers of every answer, 429s included:

* OpenAI: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (reset as `1.2s`, `6m0s`, `20ms`);
* Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`
  (reset as an RFC 3339 time).

Each limit becomes a bucket refilled continuously at limit / 60 per second, whose level is
corrected from `remaining` (less what was sent after the answered request). A call takes
one request and its estimated tokens (`estimate_tokens`: the serialised messages in
characters / 4 plus `max_tokens`, which is how providers count a request before it runs)
from every bucket, and waits until they are there. A run starts cautiously: at most
`START_WINDOW` calls in flight until the first answer arrives; with headers the buckets
pace from then on, without them the pacer opens to the run's concurrency and adapts it
(halved on a 429, one more per window of successes). `--rpm` / `--tpm` add hand-set limits
(evalkit.limits) on top.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import deque
from datetime import datetime, timezone
from typing import Any

from evalkit.providers.base import ProviderRequest, messages_json

#: calls in flight before the first answer tells what the limits are
START_WINDOW = 8
#: the share of a learned rate actually used: a margin for clocks and other clients of the key
RATE_MARGIN = 0.99
#: the same for a rate set by hand (`--rpm`, `--tpm`): the user says it is the limit
HAND_SET_MARGIN = 0.995
#: bucket names and the request-cost part each one takes
BUCKETS = ("requests", "tokens", "input_tokens", "output_tokens")

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str) -> float | None:
    """OpenAI's reset durations (`1s`, `6m0s`, `20ms`, `1h2m3.5s`) in seconds; None if not one."""
    text = text.strip()
    if not text:
        return None
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def _reset_seconds(text: str | None) -> float | None:
    if not text:
        return None
    seconds = parse_duration(text)
    if seconds is not None:
        return seconds
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def read_rate_limits(headers: Any) -> dict[str, tuple[float, float | None, float | None]] | None:
    """{bucket: (limit, remaining, reset seconds)} from an answer's headers, in either dialect;
    None when the answer carries none."""
    if headers is None:
        return None
    raw = getattr(headers, "raw", None)  # httpx's headers as (name, value) byte pairs: one look at every name
    if isinstance(raw, list) and not any(
        name.lower().startswith((b"x-ratelimit-", b"anthropic-ratelimit-")) for name, _ in raw
    ):
        return None
    found = {}
    if headers.get("x-ratelimit-limit-requests") is not None or headers.get("x-ratelimit-limit-tokens") is not None:
        for bucket in ("requests", "tokens"):
            limit = _number(headers.get(f"x-ratelimit-limit-{bucket}"))
            if limit:
                found[bucket] = (limit, _number(headers.get(f"x-ratelimit-remaining-{bucket}")),
                                 _reset_seconds(headers.get(f"x-ratelimit-reset-{bucket}")))
    else:
        for bucket in BUCKETS:
            name = bucket.replace("_", "-")
            limit = _number(headers.get(f"anthropic-ratelimit-{name}-limit"))
            if limit:
                found[bucket] = (limit, _number(headers.get(f"anthropic-ratelimit-{name}-remaining")),
                                 _reset_seconds(headers.get(f"anthropic-ratelimit-{name}-reset")))
    return found or None


def estimate_tokens(messages: list[dict[str, Any]], max_tokens: int | None) -> tuple[int, int]:
    """(input, output) tokens a provider counts against its limit before the call runs: the
    serialised messages in characters / 4, and `max_tokens`."""
    chars = len(json.dumps(messages, ensure_ascii=False))
    return chars // 4 + 1, int(max_tokens or 0)


def limit_family(model: str) -> str:
    """The model whose limits a call counts against: a fine-tune shares its base model's
    (`ft:gpt-4.1-mini-2025-04-14:org::id` -> `gpt-4.1-mini`), a dated snapshot its family's."""
    from evalkit.pricing import _SNAPSHOT
    from evalkit.retirement import base_model

    return _SNAPSHOT.sub("", base_model(model))


def key_hash(key: str | None) -> str:
    """A short hash that tells keys apart without keeping them."""
    return hashlib.sha256((key or "").encode()).hexdigest()[:12]


class _Bucket:
    """A continuously refilled bucket of one limit, as this client last learned it."""

    __slots__ = ("name", "limit", "rate", "capacity", "level", "at", "reset_s", "observed")

    def __init__(self, name: str, limit: float, now: float | None, *, margin: float = RATE_MARGIN):
        self.name, self.limit = name, limit
        self.rate = limit / 60.0 * margin  # per second
        self.capacity = 0.0  # the burst it holds, learned from `remaining`
        self.level = 0.0
        self.at = now
        self.reset_s: float | None = None
        self.observed = False  # the provider's headers have spoken about it

    @classmethod
    def hand_set(cls, name: str, limit: float) -> _Bucket:
        """`--rpm` / `--tpm` before any header: a second of the limit at once (at least one
        request), then evenly spaced at the rate given. A provider's bucket holds at least that
        (OpenAI enforces a limit per second or finer), and a bucket found full at the start
        must be drained, not dribbled into: while it is full its refill is lost."""
        bucket = cls(name, limit, None, margin=1.0)
        bucket.capacity = max(limit / 60.0, 1.0) if name == "requests" else limit / 60.0
        bucket.level = bucket.capacity
        return bucket

    def refill(self, now: float) -> None:
        if self.at is None:
            self.at = now
        elif now > self.at:
            self.level = min(self.capacity, self.level + self.rate * (now - self.at))
            self.at = now

    def wait_for(self, cost: float) -> float:
        """Seconds until `cost` is there (after refill)."""
        cost = min(cost, self.capacity) if self.capacity > 0 else cost
        missing = cost - self.level
        return missing / self.rate if missing > 0 else 0.0


class Ticket:
    """One call's place: what it took, the pacer's sent counters once it was counted in them,
    and whether it went out blind (before any answer carried rate-limit headers)."""

    __slots__ = ("costs", "sent_at", "marks", "blind")

    def __init__(self, costs: dict[str, float], sent_at: float, marks: dict[str, float], blind: bool = False):
        self.costs, self.sent_at, self.marks, self.blind = costs, sent_at, marks, blind


class Pacer:
    """Rate limits of one provider + model + endpoint + key (see the module docstring)."""

    def __init__(self, name: str, concurrency: int, *, manual: _Bucket | None = None, tokens: _Bucket | None = None):
        self.name = name  # PROVIDER:MODEL, for the progress line
        self.concurrency = concurrency
        self.window = float(min(START_WINDOW, concurrency))
        self.learned = False  # an answer came back: the window follows the buckets or adapts
        self.headers_seen = False
        self.buckets: dict[str, _Bucket] = {}
        # hand-set limits (shared by every model of the provider) pace with a second's burst until
        # the headers show the provider's bucket; from then on that bucket paces at the hand-set rate
        self.hand_set_rates = {}
        for bucket in (manual, tokens):
            if bucket is not None:
                self.buckets[bucket.name] = bucket
                self.hand_set_rates[bucket.name] = bucket.limit
        self.in_flight = 0  # calls past the window: sent, or waiting for a bucket
        # cost sent so far per bucket name, whether or not the bucket is known yet: an answer's
        # `remaining` less what went out after its request is the server's level now
        self.sent = dict.fromkeys(BUCKETS, 0.0)
        # the same for the blind calls answered so far (evalkit.pacing.Pacer._sent_after)
        self.blind_answered = dict.fromkeys(BUCKETS, 0.0)
        self.blocked_until = 0.0
        self.backoff_s = 0.0
        self._waiting: deque[asyncio.Future] = deque()
        self.throttled = 0  # calls that had to wait for a limit
        self.rate_limited = 0  # 429s seen
        self.reason: str | None = None  # why the last wait happened

    # -- what a call costs

    @staticmethod
    def costs_of(request) -> dict[str, float]:
        params = request.params
        max_tokens = params.get("max_completion_tokens") or params.get("max_tokens")
        if isinstance(request, ProviderRequest):  # (estimate_tokens, from the messages' JSON made once per call)
            inputs, outputs = len(messages_json(request)) // 4 + 1, int(max_tokens or 0)
        else:
            inputs, outputs = estimate_tokens(request.messages, max_tokens)
        return {"requests": 1.0, "tokens": float(inputs + outputs), "input_tokens": float(inputs),
                "output_tokens": float(outputs)}

    # -- taking and giving back a place

    async def acquire(self, request) -> Ticket:
        loop = asyncio.get_running_loop()
        costs = self.costs_of(request)
        while self.in_flight >= int(self.window):
            future = loop.create_future()
            self._waiting.append(future)
            try:
                await future
            except BaseException:
                if future in self._waiting:
                    self._waiting.remove(future)
                raise
        self.in_flight += 1
        try:
            while True:
                now = loop.time()
                wait = self.delay(costs, now)
                if wait <= 0:
                    break
                self.throttled += 1
                await asyncio.sleep(wait)
        except BaseException:
            self._leave()
            raise
        for name, bucket in self.buckets.items():
            bucket.level -= costs[name]
        sent = self.sent
        for name in BUCKETS:
            sent[name] += costs[name]
        return Ticket(costs, now, dict(sent), not self.headers_seen)

    def delay(self, costs: dict[str, float], now: float) -> float:
        """Seconds a call of these costs must wait at `now` (0: it may go)."""
        wait = self.blocked_until - now
        for name, bucket in self.buckets.items():
            bucket.refill(now)
            need = bucket.wait_for(costs[name])
            if need > wait:
                wait = need
                self.reason = self._why(bucket, need)
        return wait

    def _why(self, bucket: _Bucket, wait: float) -> str:
        unit = bucket.name.replace("_", " ")
        left = max(int(bucket.level), 0)
        return f"waiting for {self.name}: {left} {unit} left, resets in {wait:.1f} s"

    def waiting_reason(self, now: float) -> str | None:
        """What the run is waiting for, while it waits (the progress line)."""
        if self.blocked_until > now:
            return f"waiting for {self.name}: rate limited (429), resuming in {self.blocked_until - now:.1f} s"
        return self.reason if self.throttled and self.in_flight >= 1 and self._any_short(now) else None

    def _any_short(self, now: float) -> bool:
        return any(b.level < 1 for b in self.buckets.values())

    def _leave(self) -> None:
        """Give back a place; wake as many waiting calls as the window now has room for."""
        self.in_flight -= 1
        free = int(self.window) - self.in_flight
        while self._waiting and free > 0:
            future = self._waiting.popleft()
            if not future.done():
                future.set_result(None)
                free -= 1

    def release(self, ticket: Ticket, limits: dict | None, *, rate_limited: bool = False,
                retry_after_s: float | None = None) -> None:
        """The answer (or error) to `ticket` came back with these rate limits (read_rate_limits)."""
        now = asyncio.get_running_loop().time()
        first = not self.learned
        self.learned = True
        if limits:
            self.headers_seen = True
            self._observe(ticket, limits, now)
        if ticket.blind:
            for name in BUCKETS:
                self.blind_answered[name] += ticket.costs[name]
        if rate_limited:
            self.rate_limited += 1
            self.backoff_s = min(max(self.backoff_s * 2, 0.5), 30.0)
            # the buckets already wait for a limit the headers show spent; anything else backs off
            spent = bool(limits and any(remaining is not None and remaining < ticket.costs.get(name, 1.0)
                                        for name, (_, remaining, _) in limits.items()))
            wait = retry_after_s if retry_after_s is not None else (0.0 if spent else self.backoff_s)
            if not limits:
                self.window = max(1.0, self.window / 2)
            self.blocked_until = max(self.blocked_until, now + wait)
        else:
            self.backoff_s = 0.0
            if first:
                self.window = float(self.concurrency)
            elif not self.headers_seen and self.window < self.concurrency:
                self.window = min(float(self.concurrency), self.window + 1.0 / self.window)
        self._leave()

    def _observe(self, ticket: Ticket, limits: dict, now: float) -> None:
        for name, (limit, remaining, reset_s) in limits.items():
            if name not in BUCKETS:
                continue
            bucket = self.buckets.get(name)
            if bucket is None:
                bucket = self.buckets[name] = _Bucket(name, limit, now)
            fresh = not bucket.observed
            bucket.observed = True
            if name in self.hand_set_rates:  # --rpm / --tpm: the rate the user gave, within the provider's
                bucket.limit = min(self.hand_set_rates[name], limit)
                bucket.rate = bucket.limit / 60.0 * HAND_SET_MARGIN
            elif limit != bucket.limit:
                bucket.limit, bucket.rate = limit, limit / 60.0 * RATE_MARGIN
            bucket.reset_s = reset_s
            if remaining is None:
                if fresh:
                    bucket.capacity = bucket.level = limit
                continue
            # the server's level when it took this request, less what went out since (counted
            # even before the bucket was known; calls still waiting for a bucket have not gone
            # out), plus refill
            sent_after = self._sent_after(ticket, name)
            bucket.capacity = max(bucket.capacity, remaining + ticket.costs[name])
            bucket.refill(now)
            # (the refill since it was sent, except on the first answer: at the start of a run the
            # first requests can leave well after they were let through)
            refilled = 0.0 if fresh else bucket.rate * max(now - ticket.sent_at, 0.0)
            estimate = remaining - sent_after + refilled
            estimate = min(estimate, bucket.capacity)
            bucket.level = estimate if fresh else min(bucket.level, estimate)
            bucket.at = now

    def _sent_after(self, ticket: Ticket, name: str) -> float:
        """What the server may not have counted yet in the `remaining` of this ticket's answer:
        the calls sent after it, and, for a call of the blind first wave (sent together, so they
        reach the server in any order), the others of that wave still unanswered."""
        if not ticket.blind:
            return self.sent[name] - ticket.marks[name]
        return self.sent[name] - ticket.costs[name] - self.blind_answered[name]


class Pacers:
    """The run's pacers, one per provider + model + endpoint + key, made on first use."""

    def __init__(self, concurrency: int, manual: dict | None = None, tokens: dict | None = None):
        """`manual` / `tokens`: provider prefix -> evalkit.limits.RateLimiter / TokenLimiter."""
        self.concurrency = concurrency
        self.manual = {prefix: _Bucket.hand_set("requests", limiter.rpm) for prefix, limiter in (manual or {}).items()}
        self.tokens = {prefix: _Bucket.hand_set("tokens", limiter.tpm) for prefix, limiter in (tokens or {}).items()}
        self.by_key: dict[tuple, Pacer] = {}

    def for_provider(self, provider) -> Pacer | None:
        if not getattr(provider, "remote", False):
            return None
        prefix, _, model = provider.ref.partition(":")
        secret = provider._secret() if hasattr(provider, "_secret") else None
        family = limit_family(model)
        key = (prefix, family, provider.endpoint(), key_hash(secret))
        pacer = self.by_key.get(key)
        if pacer is None:
            pacer = self.by_key[key] = Pacer(f"{prefix}:{family}", self.concurrency, manual=self.manual.get(prefix),
                                             tokens=self.tokens.get(prefix))
        return pacer

    def waiting_reason(self, now: float) -> str | None:
        for pacer in self.by_key.values():
            reason = pacer.waiting_reason(now)
            if reason:
                return reason
        return None
