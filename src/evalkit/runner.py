"""Run a suite: plan the calls, make them, then store, score and summarise the run.

Every route's requests are rendered before the first call (evalkit.planning), so bad
templates stop the run with exit 2 before anything is spent; a missing key stops it the same
way. The calls are made by evalkit.executor, which appends each row the moment its answer
arrives, so a killed run loses only the calls in flight, and `--resume RUN_DIR` makes only
the missing ones. Ctrl-C or SIGTERM aborts the calls in flight without recording them, marks
the run incomplete and leaves it ready to resume.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.cases import expected_label
from evalkit.errors import BadInput
from evalkit.executor import FAILED, Executor, QuotaExhausted
from evalkit.gcfreeze import long_lived_objects_frozen, pause_collection, resume_collection
from evalkit.manifest import new_manifest, now_iso, reported_models
from evalkit.planning import Call, attach_cache_keys, build_providers, cache_modes, plan_calls
from evalkit.providers.base import Provider, split_model
from evalkit.suite import LoadedSuite, load_suite

if TYPE_CHECKING:
    from evalkit.batch import BatchOptions
    from evalkit.judge import Judges
    from evalkit.pacing import Pacers

#: how long the model lookups (shutdown dates) may take in all before they count as unknown
LOOKUP_BUDGET_S = 12.0
#: what summarising a run loads (the metrics, their statistics and the report, about 0.2 s): a run
#: of remote calls loads them in a background thread while its calls wait on the network, so its
#: end does not wait for them
SUMMARY_MODULES = ("evalkit.stats", "evalkit.metrics", "evalkit.field_metrics", "evalkit.report.markdown",
                   "numpy.random")
#: how long the calls run before that starts: the first wave and its answers go first
PRELOAD_AFTER_S = 1.0


@dataclass
class RunOptions:
    out: Path | None = None
    offline: bool = False
    replay: Path | None = None  # every route answers from this recording (a results.jsonl or replay file)
    concurrency: int = 8
    repeats: int = 1
    routes: list[str] | None = None
    resume: Path | None = None
    retry_errors: bool = False  # with resume: drop the run's error rows and make those calls again
    max_error_rate: float = 0.5
    attempts: int = 4  # tries per call for retryable errors, the first one included
    backoff_s: float = 0.5  # first wait; doubles per retry, with jitter
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 120.0  # never wait longer than this, whatever the server asks
    timeout_s: float | None = None  # per-call timeout; None: the suite's (defaults.timeout_s, route params)
    rpm: dict[str, float] = field(default_factory=dict)  # provider prefix (or "*") -> requests per minute
    tpm: dict[str, float] = field(default_factory=dict)  # provider prefix (or "*") -> estimated tokens per minute
    max_wait_s: float = 600.0  # how long one call may wait out rate limits (429s), apart from `attempts`
    cache: str = "auto"  # auto | off | read | write | readwrite
    cache_dir: Path | None = None
    progress: bool | None = None  # None: a bar only when stderr is a terminal
    notify: Callable[[str], None] | None = None  # called with each warning as it arises
    #: `--batch`: routes whose provider has a batch API go through it (True: the default settings)
    batch: BatchOptions | bool | None = None
    cases: list[str] | None = None  # --case: only these holdout cases (evalkit.selection)
    tags: list[str] | None = None  # --tag: only holdout cases with any of these tags
    limit: int | None = None  # --limit: the first N of the picked cases


@dataclass
class RunResult:
    run_dir: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    complete: bool
    calls_made: int
    warnings: list[str] = field(default_factory=list)
    retries: int = 0  # made by this session, as the next field, by route
    retries_by_route: dict[str, int] = field(default_factory=dict)
    cache_hits: int = 0
    stopped: str | None = None  # why the run stopped early on its own (a quota or billing error)

    @property
    def exit_code(self) -> int:
        return 0 if self.complete and not self.manifest.get("error_rate_exceeded") else 3


def _progress_bar(total: int, options: RunOptions, pacers=None):
    """A bar on a terminal, lines every few seconds when stderr is not one (CI); none with
    progress=False (`--no-progress`)."""
    if options.progress is False or total == 0:
        return None
    from evalkit.progress import Progress

    tty = sys.stderr.isatty() and not os.environ.get("CI")
    return Progress(total, tty=bool(options.progress) or tty, pacers=pacers)


async def lookup_retirements(providers: dict[str, Provider], cache, today, *, network: bool = True,
                             slots: asyncio.Semaphore | None = None,
                             started: asyncio.Event | None = None) -> dict[str, dict[str, Any]]:
    """Per route: the model's shutdown date (the provider's answer, else the shipped table) and
    a warning when it is near. A failed or slow lookup is just "unknown"; it never fails the run.
    Without `network` only the shipped table is used.

    One lookup per (provider, model, base_url) the cache does not already answer. With `slots`,
    each lookup holds one of the run's concurrency slots while it waits; `started` is set once
    every lookup holds its slot, so calls queued after that wait behind them, not before."""
    import hashlib

    from evalkit.retirement import schedule
    from evalkit.suite import canonical_json

    known: dict[str, str | None] = {}  # lookup key -> shutdown date
    route_keys: dict[str, str] = {}
    pending: dict[str, Any] = {}  # lookup key -> the provider's lookup coroutine function
    for name, provider in (providers.items() if network else ()):
        if not provider.remote or not provider.finds_shutdown_date:
            continue
        prefix, model = split_model(provider.ref)
        identity = canonical_json({"provider": prefix, "model": model, "base_url": provider.base_url})
        key = route_keys[name] = hashlib.sha256(identity.encode()).hexdigest()
        if key in known or key in pending:
            continue
        stored = cache.model_info(key) if cache is not None else None
        if stored is not None:
            known[key] = stored.get("shutdown_date")
        else:
            pending[key] = provider.lookup_shutdown_date
    tasks: dict[str, asyncio.Future] = {}
    try:
        for key, lookup in pending.items():
            if slots is not None:
                await slots.acquire()
            tasks[key] = asyncio.ensure_future(_holding(slots, lookup))
    except BaseException:
        for task in tasks.values():
            task.cancel()
        raise
    finally:
        if started is not None:
            started.set()
    if tasks:
        done, _ = await asyncio.wait(tasks.values(), timeout=LOOKUP_BUDGET_S)
        for key, task in tasks.items():
            if task not in done:
                task.cancel()
            elif task.exception() is None:
                value = task.result()
                known[key] = value if isinstance(value, str) else None
                if cache is not None:
                    cache.put_model_info(key, {"shutdown_date": known[key]})
    result = {}
    for name, provider in providers.items():
        prefix, model = split_model(provider.ref)
        result[name] = schedule(prefix, model, known.get(route_keys.get(name, "")), today, route=name)
    return result


def import_quietly(names: tuple[str, ...]) -> None:
    """Import these modules ahead of need; a failure is left for the code that needs them to report."""
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - imported again where it is used, which reports it
            return


async def preload_later(names: tuple[str, ...], delay_s: float) -> None:
    """After `delay_s`, import `names` in a background thread (the event loop keeps running: the
    import gives the interpreter up every few milliseconds)."""
    import threading

    await asyncio.sleep(delay_s)
    threading.Thread(target=import_quietly, args=(names,), name="evalkit-preload", daemon=True).start()


async def _holding(slots: asyncio.Semaphore | None, lookup):
    """Run a lookup that already holds one of `slots`; give the slot back when it ends."""
    try:
        return await lookup()
    finally:
        if slots is not None:
            slots.release()


def _lock(run_dir: Path):
    """The run's lock (evalkit.store.lock_run): two writers would duplicate rows."""
    from evalkit.store import lock_run

    return lock_run(run_dir)


class _Stopper:
    """SIGINT, SIGTERM and SIGHUP stop the run, however often they arrive, from the moment its
    directory exists until its manifest is closed. The handler itself marks the executor as
    stopping, so no new call starts even while the event loop is busy, then cancels the calls
    in flight through the loop. Later signals change nothing: the run winds up, records that it
    was interrupted and says how to resume. The previous handlers come back afterwards."""

    NAMES = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self) -> None:
        self.requested = False
        self.session: _Session | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Future | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Stopper:
        import threading

        if threading.current_thread() is threading.main_thread():
            for name in self.NAMES:
                sig = getattr(signal, name, None)
                if sig is None:
                    continue
                try:
                    self._previous[sig] = signal.signal(sig, self._handle)
                except (ValueError, OSError):  # pragma: no cover - a platform without it
                    pass
        return self

    def __exit__(self, *exc_info) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)

    def _handle(self, signum, frame) -> None:
        first = not self.requested
        self.requested = True
        executor = self.session.executor if self.session is not None else None
        if executor is not None:
            executor.stopping = True
        if first and self.loop is not None and self.task is not None:
            try:
                self.loop.call_soon_threadsafe(self.task.cancel)
            except RuntimeError:  # the loop has closed: the run is winding up already
                pass


class _Session:
    """Everything one `run_suite` call does inside its event loop."""

    pacers: Pacers  # set by run_suite before main()

    def __init__(self, suite, providers, calls, run_dir, manifest, options, cache, resumed: bool,
                 stopper: _Stopper | None = None):
        self.suite, self.providers, self.calls, self.run_dir = suite, providers, calls, run_dir
        self.manifest, self.options, self.cache, self.resumed = manifest, options, cache, resumed
        self.warnings: list[str] = []
        self.executor: Executor | None = None
        self.judges: Judges | None = None
        self.stopped: str | None = None
        self.stopper = stopper or _Stopper()
        self.stopper.session = self

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        if self.options.notify is not None:
            self.options.notify(message)

    async def check_retirements(self, started: asyncio.Event) -> None:
        """Look up the models' shutdown dates into the manifest (while the calls run: the
        lookups wait on the network, and the calls need not wait for them)."""
        from evalkit import store

        today = datetime.now(timezone.utc).date()
        try:
            retirements = await lookup_retirements(
                self.providers,
                self.cache,
                today,
                network=self.options.cache != "read",
                slots=self.executor.slots if self.executor is not None else None,
                started=started,
            )
        except Exception as error:  # noqa: BLE001 - a lookup never fails the run
            retirements = {}
            self.warn(f"could not check the models' shutdown dates: {type(error).__name__}: {error}")
        finally:
            started.set()
        for name, info in retirements.items():
            self.manifest["routes"][name].update(info)
        store.write_json(self.run_dir / store.MANIFEST, self.manifest)

    async def write_cases(self) -> None:
        """cases.jsonl (the evaluated cases, for every later stage), written once the first row is
        in (or the calls are over): 20,000 cases take a tenth of a second to serialise, and the
        first requests need not wait behind them (`work` writes it if this never ran)."""
        if self.executor is not None:
            await self.executor.answered.wait()
        self.write_cases_now()

    def write_cases_now(self) -> None:
        from evalkit import store

        if not (self.run_dir / store.CASES).exists():
            store.write_cases(self.run_dir, self.suite.holdout)

    async def work(self, writer, scorer) -> None:
        self.executor = Executor(self.calls, writer, scorer, self.options, self.cache)
        self.executor.judges = self.judges
        self.executor.stopping = self.stopper.requested
        lookups = None
        remote = any(p.remote for p in self.providers.values())
        if not self.resumed and remote:
            started = asyncio.Event()
            lookups = asyncio.ensure_future(self.check_retirements(started))
            await started.wait()  # the lookups hold their slots before the first call queues
        self.executor.bar = _progress_bar(len(self.calls), self.options, getattr(self, "pacers", None))
        watcher = asyncio.ensure_future(self.executor.bar.watch()) if self.executor.bar is not None else None
        cases = asyncio.ensure_future(self.write_cases())
        preload = asyncio.ensure_future(preload_later(SUMMARY_MODULES, PRELOAD_AFTER_S)) if remote else None
        try:
            await self.executor.run()
            self.executor.answered.set()  # no row may come (every call resumed): cases.jsonl is due now
            await cases
            if lookups is not None:
                await lookups
        finally:
            if not cases.done():
                cases.cancel()
                self.write_cases_now()  # stopped before the first row: the run still gets its cases
            if lookups is not None and not lookups.done():
                lookups.cancel()
            if preload is not None:
                preload.cancel()
            if watcher is not None:
                watcher.cancel()
            if self.executor.bar is not None:
                self.executor.bar.close()
        for name, info in self.manifest["routes"].items():
            if info.get("retirement_warning") and name in self.providers:
                self.warn(info["retirement_warning"])

    async def main(self, writer, scorer) -> bool:
        """True when every call finished; False when stopped by SIGINT, SIGTERM or SIGHUP."""
        stopper = self.stopper
        if stopper.requested:
            return False
        work = asyncio.ensure_future(self.work(writer, scorer))
        stopper.loop, stopper.task = asyncio.get_running_loop(), work
        try:
            await work
            return not stopper.requested
        except QuotaExhausted as error:
            self.stopped = str(error)
            self.warn(f"stopped early: {error}")
            return False
        except asyncio.CancelledError:
            if not stopper.requested:
                raise
            return False
        finally:
            stopper.task = None
            for provider in [*self.providers.values(), *(self.judges.opened() if self.judges else [])]:
                try:
                    await provider.aclose()
                except Exception:  # noqa: BLE001 - closing must not hide the run's outcome
                    pass


def run_suite(suite: str | Path | LoadedSuite, options: RunOptions | None = None) -> RunResult:
    """Run every holdout case through the suite's routes and write the run directory."""
    pause_collection()  # no garbage collection while the suite loads and the calls are planned (evalkit.gcfreeze)
    try:
        return _run_suite(suite, options)
    finally:
        resume_collection()


def _run_suite(suite: str | Path | LoadedSuite, options: RunOptions | None) -> RunResult:
    from evalkit import store
    from evalkit.cache import ResponseCache
    from evalkit.limits import TokenLimiter, limiters_for
    from evalkit.pacing import Pacers
    from evalkit.scoring import Scorer

    options = options or RunOptions()
    if not isinstance(suite, LoadedSuite):
        suite = load_suite(suite)
    if options.repeats < 1 or options.concurrency < 1 or options.attempts < 1:
        raise BadInput("--repeats, --concurrency and --attempts must be at least 1")
    if options.offline and options.replay is not None:
        raise BadInput("--offline and --replay both replace every route: choose one")
    if not 0 <= options.max_error_rate <= 1:  # NaN fails too
        raise BadInput(f"--max-error-rate must be between 0 and 1 (both included), got {options.max_error_rate:g}")
    if options.timeout_s is not None and options.timeout_s <= 0:
        raise BadInput(f"--timeout must be positive, got {options.timeout_s:g}")

    previous = None
    if options.retry_errors and options.resume is None:
        raise BadInput("--retry-errors goes with --resume RUN_DIR: it makes a stored run's failed calls again")
    if options.resume is not None:
        previous = store.load_run(options.resume)
        if (
            previous.manifest["suite"]["sha256"] != suite.sha256
            or previous.manifest.get("cases_sha256") != suite.cases_sha256
        ):
            raise BadInput(
                "the suite or its cases changed since this run started: start a new run", where=str(options.resume)
            )
        planned = set(previous.manifest.get("routes") or {})
        strays = sorted({row.get("route") for row in previous.rows} - (planned & set(suite.spec.routes)), key=str)
        if strays:
            raise BadInput(f"results.jsonl holds rows of route {strays[0]!r}, which the run or its suite does not have "
                           f"(routes: {', '.join(sorted(planned))}): remove those rows or start a new run",
                           where=str(options.resume / store.RESULTS))
        # a resumed run keeps its own plan: its routes, repeats and offline stand-ins
        options = replace(options, routes=list(previous.manifest["routes"]),
                          repeats=int(previous.manifest.get("repeats", 1)),
                          offline=bool(previous.manifest.get("offline", False)),
                          replay=Path(previous.manifest["replay"]) if previous.manifest.get("replay") else None)
        picked = previous.manifest.get("selection") or {}
        options = replace(options, cases=picked.get("cases"), tags=picked.get("tags"), limit=picked.get("limit"))
    from evalkit.selection import pick_cases, selection_of

    selection = selection_of(options.cases, options.tags, options.limit)
    suite = pick_cases(suite, selection)

    route_names = options.routes or list(suite.spec.routes)
    unknown = [r for r in route_names if r not in suite.spec.routes]
    if unknown:
        raise BadInput(f"unknown route {unknown[0]!r}: the suite has {', '.join(suite.spec.routes)}")

    providers = build_providers(suite, route_names, options.offline, keyless_remote=options.cache == "read",
                                replay=options.replay)
    judges = None
    if any(spec.judge is not None for spec in suite.spec.task.fields.values()):
        from evalkit.judge import Judges

        judges = Judges(suite, offline=options.offline)
    modes = cache_modes(suite, providers, options.cache)
    prefixes = {split_model(p.ref)[0]: p.remote for p in providers.values()}
    pacers = Pacers(options.concurrency, limiters_for(prefixes, options.rpm),
                    limiters_for(prefixes, options.tpm, TokenLimiter, "--tpm"))
    if options.max_wait_s is None or not options.max_wait_s >= 0:
        raise BadInput(f"--max-wait must be zero or more seconds, got {options.max_wait_s}")
    by_route = {name: pacers.for_provider(provider) for name, provider in providers.items()}
    calls: Sequence[Call] = plan_calls(suite, providers, options.repeats, timeout_s=options.timeout_s,
                                       limiters=by_route)

    run_dir: Path
    if previous is not None:
        assert options.resume is not None  # previous was loaded from it
        run_dir = options.resume
        manifest = previous.manifest
        kept = [r for r in previous.rows if not r.get("error")] if options.retry_errors else previous.rows
        done = {store.row_key(r) for r in kept}
        calls = [c for c in calls if (c.request.case_id, c.request.route, c.request.repeat) not in done]
        manifest["status"] = "running"
        manifest.setdefault("resumed", []).append(
            {
                "at": now_iso(),
                "calls_left": len(calls),
                **({"errors_retried": len(previous.rows) - len(kept)} if options.retry_errors else {}),
            }
        )
    else:
        run_id = datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        run_dir = options.out or Path("reports") / suite.name / run_id
        _check_out(run_dir)
        manifest = new_manifest(suite, providers, options, run_id)
        if selection is not None:
            manifest["selection"] = {**selection, "n_cases": len(suite.holdout)}
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock(run_dir)
    stopper = _Stopper()
    cache = None
    try:
        stopper.__enter__()  # from here on a signal ends the run as "interrupted", never abruptly
        if previous is None and options.out is None and not store.point_latest(run_dir):
            latest = run_dir.parent / store.LATEST
            message = f"{latest} is not a link evalkit made: left as it is (the run is in {run_dir})"
            manifest.setdefault("warnings", []).append(message)
            if options.notify is not None:
                options.notify(message)
        remote_judges = judges is not None and any(p.remote for p in judges.opened())
        if any(mode != "off" for mode in modes.values()) or (remote_judges and options.cache != "off"):
            cache = ResponseCache(options.cache_dir)
            attach_cache_keys(calls, modes)
        manifest["cache"] = {"mode": options.cache, "routes": modes, "dir": str(cache.folder) if cache else None}
        store.write_json(run_dir / store.MANIFEST, manifest)
        if previous is not None and len(kept) < len(previous.rows):
            store.rewrite_rows(run_dir, kept)  # --retry-errors: the error rows make way for new answers

        session = _Session(suite, providers, calls, run_dir, manifest, options, cache, resumed=previous is not None,
                           stopper=stopper)
        session.judges = judges
        session.pacers = pacers
        if previous is None and not options.batch:
            from evalkit.pricing import caching_advice

            for message in caching_advice(suite, calls):
                session.warn(message)
        writer = store.RunWriter(run_dir)
        try:
            with long_lived_objects_frozen():
                complete = asyncio.run(session.main(writer, Scorer(suite.spec.task, suite.output_schema)))
            writer.check()  # the last rows went to the file the run opened, and it is still there
        except store.ResultsReplaced as error:
            manifest["status"] = "incomplete"
            manifest["ended_at"] = now_iso()
            manifest["warnings"] = sorted(set(manifest.get("warnings") or []) | {str(error)})
            store.write_json(run_dir / store.MANIFEST, manifest)
            raise store.ResultsReplaced(f"{error}; rows answered since were not kept. Check the run, then finish it "
                                        f"with: evalkit run {suite.path} --resume {run_dir}") from None
        finally:
            writer.close()
            if cache is not None:
                cache.close()
        executor = session.executor
        stats: dict[str, Any] = {"retries": executor.retries if executor else 0,
                 "retries_by_route": dict(executor.retries_by_route) if executor else {},
                 "calls_made": executor.calls_made if executor else 0}
        manifest["warnings"] = sorted(set(manifest.get("warnings") or []) | set(session.warnings))
        if session.stopped:
            manifest["stopped"] = session.stopped
        if executor is not None and executor.rate_limited:
            manifest["rate_limited"] = manifest.get("rate_limited", 0) + executor.rate_limited
        summary = finish_run(run_dir, manifest, complete=complete and not stopper.requested,
                             max_error_rate=options.max_error_rate, retries=stats["retries"], stats=stats)
        if session.stopped:  # a quota stop is not an interruption: the run cannot go on as it is
            manifest["status"] = "incomplete"
            store.write_json(run_dir / store.MANIFEST, manifest)
    finally:
        stopper.__exit__(None, None, None)
        lock.close()
    return RunResult(run_dir, manifest, summary, complete, stats["calls_made"], session.warnings,
                     retries=stats["retries"], retries_by_route=stats["retries_by_route"],
                     cache_hits=executor.cache_hits if executor else 0, stopped=session.stopped)


def _check_out(run_dir: Path) -> None:
    """A new run's folder must be new or empty: evalkit writes cases.jsonl, report.md and more
    there, and must never replace the user's files."""
    from evalkit import store

    if (run_dir / store.RESULTS).exists():
        raise BadInput(
            "the output folder already holds a run: pass --resume to finish it, or choose another --out",
            where=str(run_dir),
        )
    if run_dir.exists() and not run_dir.is_dir():
        raise BadInput("--out must be a folder, and this is a file", where=str(run_dir))
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise BadInput("--out must be a new or empty folder (this one holds files evalkit would overwrite); "
                       "choose another, or --resume a stopped run", where=str(run_dir))


def finish_run(run_dir: Path, manifest: dict[str, Any], *, complete: bool, max_error_rate: float, retries: int = 0,
               stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """Summarise the stored rows, write summary.json and report.md, close the manifest.
    `retries` and `stats` (retries_by_route, calls_made) add to what earlier sessions of the
    run recorded."""
    from evalkit import store

    manifest["ended_at"] = now_iso()
    run = store.load_run(run_dir)
    run.manifest = manifest
    summary = write_summary(run)
    manifest["errors"] = {route: s["errors"] for route, s in summary["routes"].items()}
    manifest["cache_hits"] = sum(s["cached"] for s in summary["routes"].values())
    manifest["retries"] = manifest.get("retries", 0) + retries
    if stats:
        by_route = Counter(manifest.get("retries_by_route") or {})
        by_route.update(stats.get("retries_by_route") or {})
        manifest["retries_by_route"] = dict(by_route)
        manifest["calls_made"] = manifest.get("calls_made", 0) + stats.get("calls_made", 0)
    for route, models in reported_models(run.rows).items():
        if route in manifest.get("routes", {}):
            manifest["routes"][route]["reported_model"] = models[0] if len(models) == 1 else models
    for route, found in summary_provenance(summary).items():
        manifest["routes"][route].update(provenance=found["provenance"], stale_parts=found["stale_parts"],
                                         evidence=found["evidence"])
    manifest["max_error_rate"] = max_error_rate
    manifest["error_rate_exceeded"] = sorted(
        route for route, s in summary["routes"].items() if s["n_rows"] and s["errors"] / s["n_rows"] > max_error_rate)
    # complete only when the run exits 0: a run stopped early, or with too many error rows, is not
    manifest["status"] = (
        ("complete" if not manifest["error_rate_exceeded"] else "incomplete") if complete else "interrupted"
    )
    store.write_json(run_dir / store.MANIFEST, manifest)
    return summary


def summary_provenance(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {route: s["provenance"] for route, s in summary["routes"].items() if s.get("provenance")}


def write_summary(run) -> dict[str, Any]:
    from evalkit import store
    from evalkit.metrics import summarize
    from evalkit.provenance import run_provenance
    from evalkit.report.markdown import render_report

    gold = {case_id: case.get("sources") for case_id, case in run.cases.items() if case.get("sources")}
    grades = {case_id: case["grades"] for case_id, case in run.cases.items() if case.get("grades")}
    summary = summarize(run.rows, run.labels, routes=run.routes, gold_sources=gold, fields=run.fields, grades=grades)
    for route, found in run_provenance(run.manifest, run.rows).items():
        if route in summary["routes"]:
            summary["routes"][route]["provenance"] = found
    store.write_json(run.dir / store.SUMMARY, summary)
    run.summary = summary
    store.write_text(run.dir / store.REPORT, render_report(run))
    return summary


def score_run(run_dir: str | Path, suite_path: str | Path | None = None) -> dict[str, Any]:
    """Re-score a stored run from its raw outputs (after a change to the label field, the
    extract pattern or the label set) and rewrite summary.json and report.md. No provider is called."""
    from evalkit import store

    run_dir = store.follow_latest(run_dir)
    if not (Path(run_dir) / store.MANIFEST).exists():
        store.load_run(run_dir)  # names what is missing
    lock = _lock(Path(run_dir))  # a run still appending rows would lose them to the rewrite
    try:
        return _score_locked(run_dir, suite_path)
    finally:
        lock.close()


def _score_locked(run_dir: Path, suite_path: str | Path | None) -> dict[str, Any]:
    from evalkit import store
    from evalkit.scoring import Scorer
    from evalkit.suite import Suite

    run = store.load_run(run_dir)
    if suite_path is not None:
        suite = load_suite(suite_path)
        spec, schema = suite.spec, suite.output_schema
        run.manifest["suite"].update(spec=spec.model_dump(mode="json"), output_schema=schema, sha256=suite.sha256)
        by_id = {c.id: c for c in suite.cases}
    else:
        spec, schema, by_id = (
            Suite.model_validate(run.manifest["suite"]["spec"]),
            run.manifest["suite"].get("output_schema"),
            {},
        )
    scorer = Scorer(spec.task, schema)
    for row in run.rows:
        if row.get("error") is None and row.get("output") is not None:
            case = by_id.get(row["case_id"])
            if case is not None:
                row["expected_label"] = expected_label(case, spec.task.label_field)
            score = scorer.score(row["output"])
            row.update(parsed_ok=score.parsed_ok, parse_error=score.parse_error, predicted_label=score.predicted_label,
                       correct=score.predicted_label == row["expected_label"])
        else:
            score = FAILED
        stored = run.cases.get(row["case_id"]) or {}
        expected = by_id[row["case_id"]].expected if row["case_id"] in by_id else stored.get("expected")
        sources = (
            [*row["retrieved"], *(stored.get("sources") or [])] if score.parsed_ok and row.get("retrieved") else []
        )
        row.pop("fields", None)
        row.pop("exact_match", None)
        row.update(scorer.field_scores(score, expected, sources))
    store.rewrite_rows(run.dir, run.rows)
    store.write_json(run.dir / store.MANIFEST, run.manifest)
    return write_summary(run)
