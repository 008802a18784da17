"""Make a run's planned calls and write a row per answer.

Answers already in the response cache are written at once (`--cache`, see evalkit.cache); the
rest go through one global concurrency limit, the pacer of their provider, model and key
(evalkit.pacing: the provider's rate-limit headers, `--rpm` / `--tpm`) and the retry loop: a
rate-limit 429 is waited out until `--max-wait`; 5xx, timeouts and connection errors are
retried up to `--attempts` with exponential backoff and jitter, waiting at least what
`retry-after-ms` / `retry-after` ask; a quota or billing refusal stops the run
(QuotaExhausted); other errors become error rows. Each row is appended
the moment its answer arrives. With `--batch` the calls go through evalkit.batch.lane, which
uses this executor's rows, cache and live path.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from evalkit.batch import STATE_FILE
from evalkit.gcfreeze import freeze_more, resume_collection
from evalkit.planning import Call
from evalkit.pricing import call_cost
from evalkit.provenance import EVIDENCE, of_recording
from evalkit.providers.base import Provider, ProviderError, ProviderRequest, ProviderResponse, messages_json
from evalkit.rows import Row, result_row
from evalkit.scoring import Score
from evalkit.secrets import scrub
from evalkit.store import json_line, safe_text

if TYPE_CHECKING:
    from evalkit.judge import Judges
    from evalkit.runner import RunOptions


class QuotaExhausted(Exception):
    """A provider refused a call for quota or billing: every later call would fail too."""

    def __init__(self, model: str, message: str):
        super().__init__(f"{model}: quota or billing limit reached, so every later call would fail: {message}")
        self.model = model


#: calls rendered (and looked up in the cache) at a time, ahead of the workers that make them
RENDER_AHEAD = 32


class Executor:
    """Answers calls from the cache, then runs the rest with one global concurrency limit,
    per-provider rate limits and retries, writing a row per answer."""

    def __init__(self, calls: Sequence[Call], writer, scorer, options: RunOptions, cache=None):
        self.calls, self.writer, self.scorer, self.options, self.cache = calls, writer, scorer, options, cache
        self.calls_made = 0
        self.retries = 0
        self.retries_by_route: Counter[str] = Counter()
        self.cache_hits = 0
        self.rate_limited = 0  # 429s waited out
        self.bar = None
        self.slots = asyncio.Semaphore(options.concurrency)  # calls in flight; model lookups take a slot too
        self.judges: Judges | None = None  # when the task has judged fields
        self.stopping = False  # set by the run's signal handler: no new call starts
        self._opened: set[int] = set()  # the providers opened (by id)
        self.answered = asyncio.Event()  # set when the first row is written (the first requests are out)

    def _backoff(self, attempt: int, error: ProviderError) -> float:
        options = self.options
        delay = min(options.max_backoff_s, options.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        if error.retry_after_s is not None:
            delay = max(delay, error.retry_after_s)
        return min(delay, options.max_retry_after_s)

    async def _call_with_retries(self, call: Call, request: ProviderRequest | None = None):
        """(response, error, attempts, latency_ms): one of response and error is None. `request`
        replaces the call's own (a repair pass).

        `call.limiter` (evalkit.pacing.Pacer) paces every attempt and learns from each answer.
        A rate-limit error is waited out until `--max-wait` has passed since the first attempt,
        apart from `--attempts`, which counts the other retryable errors; a quota error stops
        the run (QuotaExhausted)."""
        attempts = self.options.attempts
        provider, pacer = call.provider, call.limiter
        request = request or call.request
        attempt = failures = 0
        first = None
        while True:
            attempt += 1
            if self.stopping:
                raise asyncio.CancelledError  # the run was stopped: this call is abandoned unrecorded
            ticket = await pacer.acquire(request) if pacer is not None else None
            self.calls_made += 1
            started = time.perf_counter()
            if first is None:
                first = started
            try:
                response = await provider.complete(request)
            except ProviderError as error:
                limited = error.type == "rate_limit"
                if ticket is not None:
                    pacer.release(ticket, error.rate_limits, rate_limited=limited, retry_after_s=error.retry_after_s)
                if error.type == "quota":
                    raise QuotaExhausted(call.provider.ref, error.message) from error
                if limited:
                    self.rate_limited += 1
                    waited = time.perf_counter() - first
                    if waited < self.options.max_wait_s:
                        self.retries += 1
                        self.retries_by_route[request.route] += 1
                        if pacer is None:  # no pacer waits for it: back off here
                            await asyncio.sleep(
                                min(self._backoff(min(attempt, 8), error), max(self.options.max_wait_s - waited, 0.0))
                            )
                        continue
                    error = ProviderError(
                        error.type,
                        f"{error.message} (still rate limited after {waited:.0f} s and {attempt} attempts: --max-wait)",
                        status=error.status,
                    )
                    return None, error, attempt, (time.perf_counter() - started) * 1000
                failures += 1
                if not error.retryable or failures >= attempts:
                    if attempt > 1:
                        error = ProviderError(
                            error.type,
                            f"{error.message} (gave up after {attempt} attempts)",
                            retryable=error.retryable,
                            status=error.status,
                            retry_after_s=error.retry_after_s,
                        )
                    return None, error, attempt, (time.perf_counter() - started) * 1000
                self.retries += 1
                self.retries_by_route[request.route] += 1
                await asyncio.sleep(self._backoff(failures, error))
                continue
            except Exception as error:  # noqa: BLE001 - a provider bug must not lose the run
                if ticket is not None:
                    pacer.release(ticket, None)
                return (
                    None,
                    ProviderError(type(error).__name__, str(error)),
                    attempt,
                    (time.perf_counter() - started) * 1000,
                )
            except BaseException:  # cancelled: give the place back
                if ticket is not None:
                    pacer.release(ticket, None)
                raise
            if ticket is not None:
                pacer.release(ticket, response.rate_limits)
            if response.latency_ms is None:
                response.latency_ms = (time.perf_counter() - started) * 1000
            if isinstance(response.text, str):
                response.text = safe_text(response.text)  # a lone surrogate is kept as its escape
            response.attempts = attempt
            return response, None, attempt, response.latency_ms

    def row(self, call: Call, response, error, attempts: int, latency_ms) -> Row:
        """The result row of `call`: scored from `response`, or an error row for `error`."""
        request = call.request
        fingerprint = call.fingerprint
        origin: dict[str, Any] = {
            "case_id": request.case_id, "route": request.route, "repeat": request.repeat, "tags": call.tags,
            "expected_label": call.expected, "request_sha256": fingerprint.sha256, "request_parts": fingerprint.parts,
            "retrieved": call.retrieved}
        if error is not None:
            failed = self.scorer.field_scores(FAILED, _expected(request), [])
            row = result_row(**origin, error={"type": error.type, "message": error.message}, latency_ms=latency_ms,
                             attempts=attempts, provenance=call.provider.provenance)
            row.update(failed)
            return row
        provenance, stale = answer_provenance(call, response)
        try:
            score = self.scorer.score(response.text)
        except Exception as error:  # noqa: BLE001 - no model output may stop the run
            score = Score(False, f"could not score this output: {type(error).__name__}", None)
        # a verified recording is priced as the configured model, from its recorded tokens
        price = call.recorded_price if provenance in EVIDENCE and call.recorded_price is not None else call.price
        cost = call_cost(price, response.input_tokens, response.output_tokens, cached=response.cached_input_tokens,
                         written=response.cache_write_tokens)
        row = result_row(**origin, output=response.text, parsed_ok=score.parsed_ok, parse_error=score.parse_error,
                         predicted_label=score.predicted_label, latency_ms=response.latency_ms,
                         input_tokens=response.input_tokens, output_tokens=response.output_tokens, cost_usd=cost,
                         cached=response.cached, model=response.model, finish_reason=response.finish_reason,
                         request_id=response.request_id, attempts=response.attempts, provenance=provenance)
        if response.retrieved is not None or response.cost_usd is not None or response.source_sha256 is not None:
            from evalkit.own_routes import add_own_fields

            add_own_fields(row, response)
        row.update(self.scorer.field_scores(score, _expected(request), _sources(call, row["retrieved"])))
        for name in ("cached_input_tokens", "cache_write_tokens", "reasoning_tokens"):
            value = getattr(response, name)
            if value is not None:
                row[name] = value
        if call.projected_price is not None and provenance not in EVIDENCE:
            # a stand-in's answer, priced as the configured model from its tokens: what the decision would cost
            row["projected_cost_usd"] = call_cost(call.projected_price, response.input_tokens, response.output_tokens)
        if stale:
            row["stale_parts"] = stale
        if response.recording is not None and response.recording.get("endpoint"):
            row["endpoint"] = response.recording["endpoint"]  # where the recorded answer came from
        return row

    def record(self, row: Row, call: Call) -> None:
        """Append the row (and its request) to the run, and count it on the progress bar."""
        self.writer.append(row, request_line_bytes(call))
        self.answered.set()
        if self.bar is not None:
            self.bar.update(1)

    def answer_from_cache(self, calls: Sequence[Call] | None = None) -> list[Call]:
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
                self.record(self.row(call, None, ProviderError("template_error", call.problem), 0, None), call)
                continue
            if cache is not None and call.cache_mode in ("read", "readwrite"):
                hit = hits.get(call.cache_key)
                if hit is not None:
                    self.cache_hits += 1
                    if self.judges or (call.repair_attempts and not self.scorer.score(hit.text).parsed_ok):
                        call.prefetched = hit  # judge calls or repair passes are still to make (or find cached)
                        pending.append(call)
                        continue
                    self.record(self.row(call, hit, None, 0, hit.latency_ms), call)
                    continue
                if call.cache_mode == "read":
                    miss = ProviderError("cache_miss", "no cached response for this request, and --cache read makes no "
                                                       "calls: record the run first with --cache readwrite")
                    self.record(self.row(call, None, miss, 0, None), call)
                    continue
            pending.append(call)
        return pending

    async def _one(self, call: Call, slots: asyncio.Semaphore) -> None:
        if call.prefetched is not None:
            response, error, attempts, latency = call.prefetched, None, 0, call.prefetched.latency_ms
        else:
            async with slots:
                response, error, attempts, latency = await self._call_with_retries(call)
            if response is not None and call.cache_mode in ("write", "readwrite") and self.cache is not None:
                self.cache.put(call.cache_key, response)
        repair = None
        if response is not None and call.repair_attempts:
            response, repair = await self._repair(call, response, slots)
        row = self.row(call, response, error, attempts, latency)
        if repair is not None:
            row["repair"] = repair
        if self.judges and response is not None:
            await self.judges.grade(row, call.request.case, self)
        self.record(row, call)

    async def ask(self, provider, request: ProviderRequest, key: str | None):
        """One call outside the plan (a judge's): from the cache when `key` is there, else made
        within the run's concurrency limit, with retries, and cached. (response, error message)."""
        from evalkit.planning import Call

        mode = self.options.cache
        if key is not None and self.cache is not None and mode in ("auto", "read", "readwrite"):
            found = self.cache.get(key)
            if found is not None:
                return found, None
            if mode == "read":
                return None, "no cached judge answer, and --cache read makes no calls"
        async with self.slots:
            response, error, _, _ = await self._call_with_retries(Call(request, provider, "", [], None, None))
        if response is None:
            return None, f"{error.type}: {error.message}"
        if key is not None and self.cache is not None and mode in ("auto", "write", "readwrite"):
            self.cache.put(key, response)
        return response, None

    async def _repair(self, call: Call, response, slots: asyncio.Semaphore):
        """Ask again with the validation error until the answer parses or the route's repair
        passes run out; (the whole answer, its `repair` entry or None when none was needed).
        Each pass is cached under its own request's fingerprint, like any call."""
        from evalkit.cache import cache_key
        from evalkit.repair import merge_passes, repair_messages

        score = self.scorer.score(response.text)
        if score.parsed_ok:
            return response, {"passes": 0, "first_parsed_ok": True}
        passes: list[tuple[ProviderResponse, Score]] = []
        first, current = response, response
        messages = call.request.messages
        while not score.parsed_ok and len(passes) < call.repair_attempts:
            messages = repair_messages(messages, current.text, score.parse_error)
            request = replace(call.request, messages=messages)
            key = None
            if call.cache_mode != "off" and self.cache is not None:
                key = cache_key(call.fingerprinter.of(messages).sha256, call.endpoint, request.repeat)
            found = self.cache.get(key) if key is not None and call.cache_mode in ("read", "readwrite") else None
            if found is None:
                async with slots:
                    found, error, _, _ = await self._call_with_retries(call, request)
                if found is None:
                    break  # a failed repair pass: the row keeps the last answer, unparsed
                if key is not None and call.cache_mode in ("write", "readwrite"):
                    self.cache.put(key, found)
            current = found
            score = self.scorer.score(current.text)
            passes.append((current, score))
        if not passes:
            return first, {"passes": 0, "first_parsed_ok": False, "outputs": [first.text]}
        entry = merge_passes(first, passes, lambda r: call_cost(call.price, r.input_tokens, r.output_tokens))
        whole = replace(current, input_tokens=_total(first.input_tokens, entry["input_tokens"]),
                        output_tokens=_total(first.output_tokens, entry["output_tokens"]),
                        latency_ms=_total(first.latency_ms, entry["latency_ms"]))
        return whole, entry

    async def run(self) -> None:
        """Make every call. Cancelling this (a signal) abandons the calls in flight unrecorded."""
        if self.options.batch or (self.writer.dir / STATE_FILE).exists():
            resume_collection()
            self.answered.set()  # a batch may take hours to answer: the run's files need not wait for it
            pending = self.answer_from_cache()  # the batch lane submits them all at once
            if pending:
                from evalkit.batch.lane import run_lane  # --batch, or resuming a run that used it

                await run_lane(self, pending)  # batch-capable routes through the batch APIs, the rest via run_live
            return
        await self.run_live(self.calls)

    async def run_live(self, pending: Sequence[Call]) -> None:
        """Make these calls now, concurrently, with rate limits and retries: `concurrency`
        workers take the calls in order, each rendered and looked up in the cache a few at a
        time just before it is due (see `_due`)."""
        if not pending:
            return
        # The first calls are looked up in the cache before any provider is opened: a run the
        # cache answers whole never imports an SDK or builds a client.
        first = self.answer_from_cache(pending[:RENDER_AHEAD])
        self._open([*(self.judges.opened() if self.judges else []), *(c.provider for c in first)])
        resume_collection()  # start-up is over (evalkit.gcfreeze.pause_collection)
        due = itertools.chain(first, self._due(pending, start=RENDER_AHEAD))
        workers = [asyncio.ensure_future(self._worker(due)) for _ in range(min(self.options.concurrency, len(pending)))]
        try:
            await asyncio.gather(*workers)
        except QuotaExhausted:  # stop every other call: they would be refused too
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise

    def _due(self, calls: Sequence[Call], start: int = 0):
        """The calls to make from `start` on, in order: rendered and answered from the cache
        RENDER_AHEAD at a time, so the first request goes out without waiting for the whole plan."""
        for first in range(start, len(calls), RENDER_AHEAD):
            missed = self.answer_from_cache(calls[first:first + RENDER_AHEAD])
            self._open([call.provider for call in missed])
            yield from missed

    def _open(self, providers: list[Provider]) -> None:
        """Open each provider the first time a call of its needs making (its SDK's import and
        client), outside any call's timing."""
        fresh = {id(p): p for p in providers if id(p) not in self._opened}
        for key, provider in fresh.items():
            provider.open()
            self._opened.add(key)
        if fresh:
            freeze_more()  # the SDK's modules and clients live as long as the run

    async def _worker(self, due) -> None:
        """Make the next due call until none is left (the workers share one iterator; taking
        the next call never awaits, so no two workers take the same one)."""
        for call in due:
            if self.stopping:
                raise asyncio.CancelledError
            await self._one(call, self.slots)


FAILED = Score(False, "no output", None)


def _total(first: Any, more: Any) -> Any:
    return None if first is None or more is None else first + more


def _expected(request) -> Any:
    return getattr(request.case, "expected", None)


def _sources(call: Call, retrieved: list[str] | None) -> list[str]:
    """The source ids a text field may cite: on a route that retrieved documents, their ids and
    the case's gold sources; elsewhere none (the `mentions_source` check does not apply)."""
    if not retrieved:
        return []
    return [*retrieved, *(getattr(call.request.case, "sources", None) or [])]


def answer_provenance(call: Call, response) -> tuple[str, list[str]]:
    """(provenance, stale parts) of an answer: a replayed one is checked against the request
    the run would send now; a cached one is `cache`; else what the provider is."""
    if response.recording is not None:
        fingerprint = call.fingerprint
        return of_recording(response.recording, fingerprint.parts, fingerprint.sha256)
    if response.cached:
        return "cache", []
    return call.provider.provenance, []


def request_line(call: Call) -> dict[str, Any]:
    """What requests.jsonl keeps of a call: the messages and parameters as sent, never a key."""
    request = call.request
    return {"request_sha256": call.fingerprint.sha256, "route": request.route, "case_id": request.case_id,
            "repeat": request.repeat, "model": call.provider.ref, "endpoint": call.endpoint,
            "messages": request.messages, "params": request.params,
            "output_schema": request.output_schema is not None}


def request_line_bytes(call: Call) -> bytes:
    """The requests.jsonl line of a call, `store.json_line(request_line(call))` byte for byte, with the
    messages' JSON made once per call (`messages_json`, which the pacer's token estimate uses too)."""
    request = call.request
    if not isinstance(request.messages, list):
        return json_line(request_line(call))
    head = json.dumps({"request_sha256": call.fingerprint.sha256, "route": request.route, "case_id": request.case_id,
                       "repeat": request.repeat, "model": call.provider.ref, "endpoint": call.endpoint},
                      ensure_ascii=False)
    tail = json.dumps({"params": request.params, "output_schema": request.output_schema is not None},
                      ensure_ascii=False)
    try:
        return scrub(f'{head[:-1]}, "messages": {messages_json(request)}, {tail[1:]}').encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # a lone surrogate: the line escapes it, as json_line does
        return json_line(request_line(call))
