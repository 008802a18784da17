"""Make a run's planned calls and write a row per answer.

Answers already in the response cache are written at once (`--cache`, see evalkit.cache); the
rest go through one global concurrency limit, an optional per-provider requests-per-minute
limit (`--rpm`, see evalkit.limits) and the retry loop: 429, 5xx, timeouts and connection
errors are retried with exponential backoff and jitter, waiting at least what
`retry-after-ms` / `retry-after` ask; other errors become error rows. Each row is appended
the moment its answer arrives. With `--batch` the calls go through evalkit.batch.lane, which
uses this executor's rows, cache and live path.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from evalkit.batch import STATE_FILE
from evalkit.gcfreeze import freeze_more
from evalkit.planning import Call
from evalkit.pricing import call_cost
from evalkit.providers.base import ProviderError
from evalkit.scoring import Score
from evalkit.store import safe_text

if TYPE_CHECKING:
    from evalkit.runner import RunOptions


#: calls rendered (and looked up in the cache) at a time, ahead of the workers that make them
RENDER_AHEAD = 32


class Executor:
    """Answers calls from the cache, then runs the rest with one global concurrency limit,
    per-provider rate limits and retries, writing a row per answer."""

    def __init__(self, calls: list[Call], writer, scorer, options: RunOptions, cache=None):
        self.calls, self.writer, self.scorer, self.options, self.cache = calls, writer, scorer, options, cache
        self.calls_made = 0
        self.retries = 0
        self.retries_by_route: Counter[str] = Counter()
        self.cache_hits = 0
        self.bar = None
        self.gate = asyncio.Semaphore(options.concurrency)  # calls in flight; model lookups take a slot too
        self.stopping = False  # set by the run's signal handler: no new call starts

    def _backoff(self, attempt: int, error: ProviderError) -> float:
        options = self.options
        delay = min(options.max_backoff_s, options.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        if error.retry_after_s is not None:
            delay = max(delay, error.retry_after_s)
        return min(delay, options.max_retry_after_s)

    async def _call_with_retries(self, call: Call):
        """(response, error, attempts, latency_ms): one of response and error is None."""
        attempts = self.options.attempts
        provider, request, limiter = call.provider, call.request, call.limiter
        attempt = 0
        while True:
            attempt += 1
            if limiter is not None:
                await limiter.acquire()
            if self.stopping:
                raise asyncio.CancelledError  # the run was stopped: this call is abandoned unrecorded
            self.calls_made += 1
            started = time.perf_counter()
            try:
                response = await provider.complete(request)
            except ProviderError as error:
                if not error.retryable or attempt >= attempts:
                    if attempt > 1:
                        error = ProviderError(error.type, f"{error.message} (gave up after {attempt} attempts)",
                                              retryable=error.retryable, status=error.status,
                                              retry_after_s=error.retry_after_s)
                    return None, error, attempt, (time.perf_counter() - started) * 1000
                self.retries += 1
                self.retries_by_route[request.route] += 1
                await asyncio.sleep(self._backoff(attempt, error))
                continue
            except Exception as error:  # noqa: BLE001 - a provider bug must not lose the run
                return None, ProviderError(type(error).__name__, str(error)), attempt, (time.perf_counter() - started) * 1000
            if response.latency_ms is None:
                response.latency_ms = (time.perf_counter() - started) * 1000
            if isinstance(response.text, str):
                response.text = safe_text(response.text)  # a lone surrogate is kept as its escape
            response.attempts = attempt
            return response, None, attempt, response.latency_ms

    def _row(self, call: Call, response, error, attempts: int, latency_ms) -> dict[str, Any]:
        request = call.request
        if error is not None:
            return {"case_id": request.case_id, "route": request.route, "repeat": request.repeat, "tags": call.tags,
                    "expected_label": call.expected, "output": None, "parsed_ok": False, "parse_error": None,
                    "predicted_label": None, "correct": False, "error": {"type": error.type, "message": error.message},
                    "latency_ms": latency_ms, "input_tokens": None, "output_tokens": None, "cost_usd": None,
                    "cached": False, "retrieved": call.retrieved, "model": None, "finish_reason": None,
                    "request_id": None, "attempts": attempts}
        try:
            score = self.scorer.score(response.text)
        except Exception as error:  # noqa: BLE001 - no model output may stop the run
            score = Score(False, f"could not score this output: {type(error).__name__}", None)
        return {"case_id": request.case_id, "route": request.route, "repeat": request.repeat, "tags": call.tags,
                "expected_label": call.expected, "output": response.text, "parsed_ok": score.parsed_ok,
                "parse_error": score.parse_error, "predicted_label": score.predicted_label,
                "correct": score.predicted_label == call.expected, "error": None, "latency_ms": response.latency_ms,
                "input_tokens": response.input_tokens, "output_tokens": response.output_tokens,
                "cost_usd": call_cost(call.price, response.input_tokens, response.output_tokens),
                "cached": response.cached, "retrieved": call.retrieved, "model": response.model,
                "finish_reason": response.finish_reason, "request_id": response.request_id,
                "attempts": response.attempts}

    def _write(self, row: dict[str, Any]) -> None:
        self.writer.append(row)
        if self.bar is not None:
            self.bar.update(1)

    def answer_from_cache(self, calls: list[Call] | None = None) -> list[Call]:
        """Render these calls (default: all of them) and write the rows that need no call: the
        answers in the cache, with `--cache read` its misses as error rows, and a call whose
        template failed as an error row. Return the calls still to make. A call is looked up
        once: calls looked up before pass straight through."""
        calls = self.calls if calls is None else calls
        pending = [call for call in calls if call.looked_up]
        fresh = [call for call in calls if not call.looked_up] if pending else calls
        for call in fresh:
            call.looked_up = True
            call.render()
        cache = self.cache
        hits = {}
        if cache is not None:
            keys = [c.cache_key for c in fresh if c.cache_mode in ("read", "readwrite") and c.problem is None]
            if keys:
                hits = cache.get_many(keys)
        for call in fresh:
            if call.problem is not None:
                self._write(self._row(call, None, ProviderError("template_error", call.problem), 0, None))
                continue
            if cache is not None and call.cache_mode in ("read", "readwrite"):
                hit = hits.get(call.cache_key)
                if hit is not None:
                    self.cache_hits += 1
                    self._write(self._row(call, hit, None, 0, hit.latency_ms))
                    continue
                if call.cache_mode == "read":
                    miss = ProviderError("cache_miss", "no cached response for this request, and --cache read makes no "
                                                       "calls: record the run first with --cache readwrite")
                    self._write(self._row(call, None, miss, 0, None))
                    continue
            pending.append(call)
        return pending

    async def _one(self, call: Call, gate: asyncio.Semaphore) -> None:
        async with gate:
            response, error, attempts, latency = await self._call_with_retries(call)
        if response is not None and call.cache_mode in ("write", "readwrite") and self.cache is not None:
            self.cache.put(call.cache_key, response)
        self._write(self._row(call, response, error, attempts, latency))

    async def run(self) -> None:
        """Make every call. Cancelling this (a signal) abandons the calls in flight unrecorded."""
        if self.options.batch or (self.writer.dir / STATE_FILE).exists():
            pending = self.answer_from_cache()  # the batch lane submits them all at once
            if pending:
                from evalkit.batch.lane import run_lane  # --batch, or resuming a run that used it

                await run_lane(self, pending)  # batch-capable routes through the batch APIs, the rest via run_live
            return
        await self.run_live(self.calls)

    async def run_live(self, pending: list[Call]) -> None:
        """Make these calls now, concurrently, with rate limits and retries: `concurrency`
        workers take the calls in order, each rendered and looked up in the cache a few at a
        time just before it is due (see `_due`)."""
        if not pending:
            return
        for provider in {id(c.provider): c.provider for c in pending}.values():
            opener = getattr(provider, "open", None)  # optional: SDK import and client set-up
            if opener is not None:
                opener()
        freeze_more()  # the SDK's modules and clients live as long as the run
        due = self._due(pending)
        workers = min(self.options.concurrency, len(pending))
        await asyncio.gather(*(self._worker(due) for _ in range(workers)))

    def _due(self, calls: list[Call]):
        """The calls to make, in order: rendered and answered from the cache RENDER_AHEAD at a
        time, so the first request goes out without waiting for the whole plan."""
        for start in range(0, len(calls), RENDER_AHEAD):
            yield from self.answer_from_cache(calls[start:start + RENDER_AHEAD])

    async def _worker(self, due) -> None:
        """Make the next due call until none is left (the workers share one iterator; taking
        the next call never awaits, so no two workers take the same one)."""
        for call in due:
            if self.stopping:
                raise asyncio.CancelledError
            await self._one(call, self.gate)
