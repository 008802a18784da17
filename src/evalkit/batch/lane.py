"""The batch lane: submit, poll, collect, resubmit, and write rows as a live run does.

The runner hands over the calls the cache did not answer (`run_lane`). Calls of routes whose
provider has a batch engine go to it; the rest run live at the same time. For the batched
calls:

1. each one is matched to the last stored batch that holds it (a resumed run): those are
   only collected, never sent again; the others are grouped by route, split under the
   provider's limits and submitted, each batch written to batches.json as soon as its id
   exists;
2. every `poll_s` seconds the open batches are looked at; an ended batch's results are joined
   to the calls on custom_id and written as rows (and into the response cache), with
   `batch: true`, the batch's id, no latency and the batch price;
3. expired and server-errored requests are submitted again, `resubmit` times (default once),
   then become error rows carrying the provider's reason; bad requests and cancelled ones
   become error rows at once.

Cancelling the run (Ctrl-C, SIGTERM) leaves the batches running at the provider; resuming
the run collects them.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from evalkit.batch import BatchOptions
from evalkit.batch.adapters import BatchAdapter, Outcome, adapter_class, entry_size, split
from evalkit.batch.state import BatchRecord, BatchState, Key, custom_id
from evalkit.manifest import now_iso as now
from evalkit.providers.base import Provider, ProviderError, ProviderResponse

if TYPE_CHECKING:
    from evalkit.planning import Call


def batch_price(price: Any) -> Any:
    """The batch rates of a price-table entry as a Price, or None (unknown cost) when the
    entry has none: a live price is never passed off as a batch price."""
    if price is None or price.batch_input is None or price.batch_output is None:
        return None
    return type(price)(input=price.batch_input, output=price.batch_output)


def call_key(call: Call) -> Key:
    request = call.request
    return request.case_id, request.route, request.repeat


def settings_for(option: Any, state: BatchState | None) -> BatchOptions:
    """The settings given (RunOptions.batch), completed by the ones the run started with, then the defaults."""
    given = option if isinstance(option, BatchOptions) else BatchOptions()
    return given.resolved(state.settings if state is not None else None)


async def run_lane(executor, pending: list[Call]) -> None:
    """Send batch-capable calls through the providers' batch APIs and the rest live, at the
    same time. `executor` is the run's Executor: its rows, cache, counters and live path are used."""
    run_dir = executor.writer.dir
    state = BatchState.load(run_dir)
    lane = Lane(executor, state or BatchState(BatchState.path_in(run_dir)), settings_for(executor.options.batch, state))
    batched, live = lane.partition(pending)
    if not batched:
        await executor.run_live(live)
        return
    await asyncio.gather(executor.run_live(live), lane.run(batched))


class Lane:
    """One session of the batch lane within a run."""

    def __init__(self, executor, state: BatchState, settings: BatchOptions):
        self.executor, self.state, self.settings = executor, state, settings
        self.calls: dict[Key, Call] = {}
        self.waiting: dict[str, set[Key]] = {}  # batch id -> the calls it still owes
        self.adapters: dict[str, BatchAdapter] = {}  # by route
        self._warned: set[str] = set()

    # -- helpers

    def notify(self, message: str, *, once: str | None = None) -> None:
        if once is not None:
            if once in self._warned:
                return
            self._warned.add(once)
        notify = self.executor.options.notify
        if notify is not None:
            notify(message)

    def partition(self, pending: list[Call]) -> tuple[list[Call], list[Call]]:
        """(calls with a batch engine, calls to run live)."""
        capable: dict[int, bool] = {}
        batched: list[Call] = []
        live: list[Call] = []
        for call in pending:
            provider = call.provider
            if id(provider) not in capable:
                capable[id(provider)] = adapter_class(provider) is not None
            (batched if capable[id(provider)] else live).append(call)
        routes = {call.request.route: call.provider.ref for call in live}
        if routes:
            listed = ", ".join(f"{route} ({ref})" for route, ref in sorted(routes.items()))
            self.notify(f"--batch: no batch API for {listed}: these calls run live")
        return batched, live

    def adapter(self, route: str, provider: Provider) -> BatchAdapter:
        if route not in self.adapters:
            cls = adapter_class(provider)
            assert cls is not None  # only providers with a batch adapter come here (partition)
            self.adapters[route] = cls.for_provider(provider, label=f"evalkit-{self.state.path.parent.name}-{route}")
        return self.adapters[route]

    def write(self, call: Call, response: ProviderResponse | None, error: ProviderError | None, attempt: int,
              batch_id: str | None) -> None:
        executor = self.executor
        row = executor.row(call, response, error, attempt, None)
        row["batch"] = True
        row["batch_id"] = batch_id
        executor.record(row, call)

    def fail(self, calls: list[Call], error: ProviderError, attempt: int, batch_id: str | None) -> None:
        for call in calls:
            self.write(call, None, error, attempt, batch_id)

    # -- the work

    async def run(self, calls: list[Call]) -> None:
        for call in calls:
            call.price = batch_price(call.price)
            self.calls[call_key(call)] = call
        await self.confirm_submissions()
        holder = self.state.latest()
        retrying = self.executor.options.retry_errors
        fresh = []
        for key, call in self.calls.items():
            record = holder.get(key)
            if record is None or (retrying and record.collected_at):  # --retry-errors: a collected error is sent again
                fresh.append(call)
            else:
                self.waiting.setdefault(record.id, set()).add(key)
        if self.waiting:
            count = sum(len(keys) for keys in self.waiting.values())
            self.notify(
                f"collecting {count} requests from {len(self.waiting)} batches submitted earlier "
                "(nothing is sent again)"
            )
        self.state.settings = self.settings.to_dict()
        self.state.save()
        try:
            await self.submit(fresh, attempt=1)
            await self.poll()
        except asyncio.CancelledError:
            if self.waiting:
                ids = ", ".join(sorted(self.waiting))
                self.notify(f"{len(self.waiting)} batches keep running at the provider ({ids}); "
                            f"`evalkit batch status {self.state.path.parent}` shows them, and resuming the run "
                            f"collects their results without sending anything twice")
            raise
        finally:
            for adapter in self.adapters.values():
                try:
                    await adapter.aclose()
                except Exception:  # noqa: BLE001 - closing must not hide the run's outcome
                    pass

    async def confirm_submissions(self) -> None:
        """Records whose batch id never arrived (the process was killed while submitting): look
        each one up by its mark and keep it when the provider created it; otherwise drop it, so
        its requests are submitted anew."""
        unconfirmed = [r for r in self.state.batches if not r.confirmed]
        for record in unconfirmed:
            provider = next((c.provider for c in self.calls.values() if c.request.route == record.route), None)
            found, adapter = None, None
            if provider is not None and record.submission:
                try:
                    adapter = self.adapter(record.route, provider)
                    found = await adapter.find_submission(record.submission)
                except ProviderError as error:
                    self.notify(f"could not look up a batch submitted just before the run stopped ({error.message}): "
                                f"its {len(record.requests)} requests are submitted again")
                if found is None and adapter is not None and not adapter.finds_submissions:
                    self.notify(f"the run stopped while submitting a batch of {len(record.requests)} requests to "
                                f"{record.provider}; if it was created, it shows in the provider's console and is "
                                f"paid for again now")
            if found is not None:
                record.id, record.input_file_id = found
                self.notify(f"found batch {record.id}, created just before the run stopped: collecting it")
            else:
                self.state.batches.remove(record)
        if unconfirmed:
            self.state.save()

    async def submit(self, calls: list[Call], *, attempt: int) -> None:
        by_route: dict[str, list[Call]] = {}
        for call in calls:
            by_route.setdefault(call.request.route, []).append(call)
        for route, group in by_route.items():
            provider = group[0].provider
            try:
                adapter = self.adapter(route, provider)
            except ProviderError as error:
                self.fail(group, error, attempt, None)
                continue
            entries = [(call, adapter.entry(custom_id(route, call.request.case_id, call.request.repeat),
                                            provider.request_body(call.request))) for call in group]
            limit = min(adapter.max_requests, self.settings.max_requests or adapter.max_requests)
            for chunk in split(
                entries, (entry_size(e) for _, e in entries), max_count=limit, max_bytes=adapter.max_bytes
            ):
                await self.submit_one(route, provider, adapter, chunk, attempt)

    async def submit_one(self, route: str, provider: Provider, adapter: BatchAdapter, chunk: list[tuple[Call, dict]],
                         attempt: int) -> None:
        from evalkit.providers.sdk import public_url

        calls = [call for call, _ in chunk]
        mark = uuid.uuid4().hex
        record = BatchRecord(
            id="", provider=adapter.provider, route=route, model=provider.model, attempt=attempt,
            requests={entry["custom_id"]: [call.request.case_id, call.request.repeat] for call, entry in chunk},
            submitted_at=now(), base_url=public_url(provider.base_url),
            api_key_env=provider.key_variable(), submission=mark)
        self.state.batches.append(record)
        self.state.save()  # before the provider hears of it: a kill mid-submission leaves the mark to look up
        metadata = {
            "source": "evalkit",
            "run": self.state.path.parent.name[:512],
            "route": route[:512],
            "submission": mark,
        }
        submission = asyncio.ensure_future(adapter.submit([entry for _, entry in chunk], metadata))
        stopped = False
        try:
            try:
                batch_id, file_id = await asyncio.shield(submission)
            except asyncio.CancelledError:
                # stopped (Ctrl-C, SIGTERM) while the provider was creating the batch: wait for its
                # answer, so a batch that exists is recorded and collected on resume, not paid twice
                stopped = True
                batch_id, file_id = await submission
        except ProviderError as error:
            self.state.batches.remove(record)
            self.state.save()
            if stopped:
                raise asyncio.CancelledError from None
            self.fail(calls, ProviderError(error.type, f"the batch was not accepted: {error.message}"), attempt, None)
            return
        record.id, record.input_file_id = batch_id, file_id
        self.state.save()  # before anything else: a killed process must not forget a paid batch
        self.waiting[batch_id] = {call_key(call) for call in calls}
        executor = self.executor
        executor.calls_made += len(calls)
        if attempt > 1:
            executor.retries += len(calls)
            executor.retries_by_route[route] += len(calls)
        if stopped:
            raise asyncio.CancelledError

    async def poll(self) -> None:
        while self.waiting:
            records = [self.state.find(batch_id) for batch_id in list(self.waiting)]
            await asyncio.gather(*(self.check(record) for record in records))
            if self.waiting:
                assert self.settings.poll_s is not None  # resolved(): every setting is filled in
                await asyncio.sleep(self.settings.poll_s)

    def _lost(self, record: BatchRecord, error: ProviderError) -> None:
        """A batch that cannot be followed any more: its calls become error rows."""
        keys = self.waiting.pop(record.id, set())
        failure = ProviderError(error.type, f"could not follow batch {record.id}: {error.message}")
        self.fail([self.calls[key] for key in sorted(keys)], failure, record.attempt, record.id)
        record.error, record.collected_at = failure.message, now()  # settled: --retry-errors sends them anew
        self.state.save()

    async def check(self, record: BatchRecord) -> None:
        """Look at one open batch; collect it when it has ended."""
        keys = self.waiting.get(record.id)
        if not keys:
            return
        try:
            adapter = self.adapter(record.route, self.calls[next(iter(keys))].provider)
            progress = await adapter.progress(record.id)
            if (record.status, record.counts, record.ended) != (progress.status, progress.counts, progress.ended):
                record.status, record.counts, record.ended = progress.status, progress.counts, progress.ended
                record.error = progress.error
                if progress.ended and record.ended_at is None:
                    record.ended_at = now()
                self.state.save()
            if not progress.ended:
                return
            found, absent = await adapter.outcomes(record.id, progress)
        except ProviderError as error:
            if error.retryable:
                self.notify(
                    f"batch {record.id}: {error.message}; still waiting for it", once=f"{record.id}:{error.type}"
                )
                return
            self._lost(record, error)
            return
        await self.settle(record, found, absent)

    async def settle(self, record: BatchRecord, found: dict[str, Outcome], absent: ProviderError) -> None:
        """Write the rows an ended batch answered; send the retryable failures again."""
        keys = self.waiting.pop(record.id, set())
        cache = self.executor.cache
        resubmit = self.settings.resubmit
        assert resubmit is not None  # resolved(): every setting is filled in
        again = []
        for key in sorted(keys):
            call = self.calls[key]
            outcome = found.get(custom_id(record.route, key[0], key[2]), absent)
            if isinstance(outcome, ProviderResponse):
                outcome.attempts = record.attempt
                if cache is not None and call.cache_mode in ("write", "readwrite"):
                    cache.put(call.cache_key, outcome)
                self.write(call, outcome, None, record.attempt, record.id)
            elif outcome.retryable and record.attempt <= resubmit:
                again.append(call)
            else:
                if record.attempt > 1:
                    outcome = ProviderError(outcome.type, f"{outcome.message} (gave up after {record.attempt} batch "
                                                          f"submissions)", status=outcome.status)
                self.write(call, None, outcome, record.attempt, record.id)
        if again:
            self.notify(f"batch {record.id}: sending {len(again)} expired or errored requests again")
            await self.submit(again, attempt=record.attempt + 1)
        record.collected_at = now()
        self.state.save()
