"""Run a suite: plan (case x route x repeat), call providers concurrently, score, store.

Every route's requests are rendered before the first call, so bad templates stop the run
with exit 2 before anything is spent; a missing key stops it the same way. Then:

* answers already in the response cache are written at once (`--cache`, see evalkit.cache);
* the rest go through one global concurrency limit, an optional per-provider
  requests-per-minute limit (`--rpm`, see evalkit.limits) and the retry loop: 429, 5xx,
  timeouts and connection errors are retried with exponential backoff and jitter, waiting
  at least what `retry-after-ms` / `retry-after` ask; other errors become error rows;
* each row is appended the moment its answer arrives, so a killed run loses only the calls
  in flight, and `--resume RUN_DIR` makes only the missing ones;
* Ctrl-C or SIGTERM aborts the calls in flight without recording them, marks the run
  incomplete and leaves it ready to resume.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from evalkit import __version__
from evalkit.cases import expected_label
from evalkit.errors import BadInput, RunIncomplete  # noqa: F401 - RunIncomplete is part of this module's API
from evalkit.pricing import call_cost
from evalkit.providers.base import Provider, ProviderError, ProviderRequest, get_provider_class, split_model
from evalkit.suite import LoadedSuite, load_suite

#: how long the model lookups (shutdown dates) may take in all before they count as unknown
LOOKUP_BUDGET_S = 12.0


@dataclass
class RunOptions:
    out: Path | None = None
    offline: bool = False
    replay: Path | None = None  # every route answers from this recording (a results.jsonl or replay file)
    concurrency: int = 8
    repeats: int = 1
    routes: list[str] | None = None
    resume: Path | None = None
    max_error_rate: float = 0.5
    attempts: int = 4  # tries per call for retryable errors, the first one included
    backoff_s: float = 0.5  # first wait; doubles per retry, with jitter
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 120.0  # never wait longer than this, whatever the server asks
    timeout_s: float | None = None  # per-call timeout; None: the suite's (defaults.timeout_s, route params)
    rpm: dict[str, float] = field(default_factory=dict)  # provider prefix (or "*") -> requests per minute
    cache: str = "auto"  # auto | off | read | write | readwrite
    cache_dir: Path | None = None
    progress: bool | None = None  # None: a bar only when stderr is a terminal
    notify: Callable[[str], None] | None = None  # called with each warning as it arises
    batch: Any = None  # evalkit.batch.BatchOptions (or True): routes with a batch API go through it (--batch)


@dataclass
class RunResult:
    run_dir: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    complete: bool
    calls_made: int
    warnings: list[str] = field(default_factory=list)
    retries: int = 0
    cache_hits: int = 0

    @property
    def exit_code(self) -> int:
        return 0 if self.complete and not self.manifest.get("error_rate_exceeded") else 3


@dataclass(slots=True)
class Call:
    request: ProviderRequest
    provider: Provider
    expected: str
    tags: list[str]
    retrieved: list[str] | None
    price: Any
    cache_key: str | None = None
    cache_mode: str = "off"
    limiter: Any = None


def offline_model(kind: str) -> str:
    from evalkit.providers.local import OFFLINE_BY_KIND

    return f"local:{OFFLINE_BY_KIND[kind]}"


def build_providers(suite: LoadedSuite, route_names: list[str], offline: bool, *,
                    keyless_remote: bool = False, replay: Path | None = None) -> dict[str, Provider]:
    """One provider per route; a missing key stops here, before any call. With
    `keyless_remote` (the cache answers everything: `--cache read`) remote providers need none."""
    providers = {}
    for name in route_names:
        route = suite.spec.routes[name]
        if replay is not None:
            model = f"replay:{Path(replay).resolve()}"
        else:
            model = offline_model(route.kind) if offline else route.model
        prefix, model_name = split_model(model)
        cls = get_provider_class(prefix)
        provider = cls(model_name, route_name=name, route=route, suite=suite)
        provider.ref = model
        variable = provider.key_variable()
        if variable and not os.environ.get(variable) and not (keyless_remote and provider.remote):
            raise BadInput(f"route {name!r} ({route.model}) needs an API key: set {variable}, "
                           f"or run with --offline to use the local stand-ins")
        providers[name] = provider
    for provider in providers.values():
        provider.prepare()
    return providers


def build_plans(suite: LoadedSuite, route_names: list[str]):
    from evalkit.retrieval import Retriever, load_documents
    from evalkit.routes import RoutePlan
    from evalkit.suite import Retrieval

    retrievers: dict[tuple[int, int], Retriever] = {}
    documents = None
    plans = {}
    for name in route_names:
        route = suite.spec.routes[name]
        retriever = None
        if route.kind == "rag":
            route.retrieval = route.retrieval or Retrieval()
            if documents is None:
                documents = load_documents(suite.corpus_path)
            key = (route.retrieval.chunk_chars, route.retrieval.overlap)
            if key not in retrievers:
                retrievers[key] = Retriever(documents, *key)
            retriever = retrievers[key]
        plans[name] = RoutePlan(name, route, suite, retriever)
    return plans


def route_params(suite: LoadedSuite, route_name: str, timeout_s: float | None = None) -> dict[str, Any]:
    """The request parameters of a route: the suite's defaults, the route's params over them,
    and `--timeout` over both."""
    params = {**suite.spec.defaults.model_dump(), **suite.spec.routes[route_name].params}
    if timeout_s is not None:
        params["timeout_s"] = timeout_s
    return params


def plan_calls(suite: LoadedSuite, providers: dict[str, Provider], repeats: int, *,
               timeout_s: float | None = None) -> list[Call]:
    from evalkit.pricing import price_for

    plans = build_plans(suite, list(providers))
    label_field = suite.spec.task.label_field
    calls = []
    for name, provider in providers.items():
        params = route_params(suite, name, timeout_s)  # one dict per route: providers configure once
        price = price_for(provider.ref, suite.spec.pricing)
        for case in suite.holdout:
            rendered = plans[name].render(case)
            for repeat in range(repeats):
                request = ProviderRequest(case.id, name, repeat, rendered.messages, params, suite.output_schema,
                                          case, rendered.examples, rendered.context)
                calls.append(Call(request, provider, expected_label(case, label_field), case.tags, rendered.retrieved, price))
    return calls


def cache_modes(suite: LoadedSuite, providers: dict[str, Provider], mode: str) -> dict[str, str]:
    from evalkit.cache import MODES, route_mode

    if mode not in MODES:
        raise BadInput(f"--cache must be one of {', '.join(MODES)}, got {mode!r}")
    return {name: route_mode(mode, remote=p.remote, temperature=route_params(suite, name).get("temperature"))
            for name, p in providers.items()}


def attach_cache_keys(calls: list[Call], modes: dict[str, str]) -> None:
    """Give every cached call its key (see evalkit.cache.KeyMaker)."""
    from evalkit.cache import KeyMaker
    from evalkit.providers.sdk import public_url

    makers: dict[str, KeyMaker] = {}
    for call in calls:
        request = call.request
        mode = modes.get(request.route, "off")
        if mode == "off":
            continue
        maker = makers.get(request.route)
        if maker is None:
            provider = call.provider
            prefix, model = split_model(provider.ref)
            maker = makers[request.route] = KeyMaker(
                provider=prefix, model=model, base_url=public_url(getattr(provider, "base_url", None)),
                params=request.params, schema=request.output_schema)
        call.cache_key = maker.key(request.messages, request.repeat)
        call.cache_mode = mode


def git_state(folder: Path) -> dict[str, Any]:
    import subprocess

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    return {"commit": commit, "dirty": bool(git("status", "--porcelain")) if commit else None}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_manifest(suite: LoadedSuite, providers: dict[str, Provider], options: RunOptions, run_id: str) -> dict[str, Any]:
    from evalkit.providers.sdk import public_url

    routes = {}
    for name, provider in providers.items():
        route = suite.spec.routes[name]
        prefix = split_model(route.model)[0]
        info = {"kind": route.kind, "model": route.model,
                "ran_as": provider.ref,
                **{k: v for k, v in route.model_dump(include={"base_model", "job_id", "training_file_sha256", "provider", "base_url"}).items() if v},
                **provider.model_info()}
        info["provider"] = info.get("provider", prefix)
        if info.get("base_url"):
            info["base_url"] = public_url(info["base_url"])
        routes[name] = info
    spec = suite.spec.model_dump(mode="json")
    for route in spec.get("routes", {}).values():
        if route.get("base_url"):
            route["base_url"] = public_url(route["base_url"])
    return {
        "run_id": run_id,
        "status": "running",
        "suite": {"name": suite.name, "path": str(suite.path), "sha256": suite.sha256,
                  "spec": spec, "output_schema": suite.output_schema},
        "cases_sha256": suite.cases_sha256,
        "evalkit_version": __version__,
        "git": git_state(suite.folder),
        "started_at": _now(),
        "ended_at": None,
        "offline": options.offline,
        "replay": str(Path(options.replay).resolve()) if options.replay else None,
        "repeats": options.repeats,
        "concurrency": options.concurrency,
        "attempts": options.attempts,
        "timeout_s": options.timeout_s,
        "rate_limits_rpm": dict(options.rpm) or None,
        "routes": routes,
        "warnings": [],
    }


class _Executor:
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
        score = self.scorer.score(response.text)
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

    def answer_from_cache(self) -> list[Call]:
        """Write the rows the cache answers (and, with `--cache read`, the misses as error
        rows); return the calls still to make."""
        readers = [c for c in self.calls if c.cache_mode in ("read", "readwrite")]
        if not readers or self.cache is None:
            return self.calls
        hits = self.cache.get_many(c.cache_key for c in readers)
        pending = []
        for call in self.calls:
            if call.cache_mode in ("read", "readwrite"):
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
        pending = self.answer_from_cache()
        if pending and (self.options.batch or (self.writer.dir / "batches.json").exists()):
            from evalkit.batch.lane import run_lane  # --batch, or resuming a run that used it

            await run_lane(self, pending)  # batch-capable routes through the batch APIs, the rest via run_live
            return
        await self.run_live(pending)

    async def run_live(self, pending: list[Call]) -> None:
        """Make these calls now, concurrently, with rate limits and retries."""
        if not pending:
            return
        for provider in {id(c.provider): c.provider for c in pending}.values():
            opener = getattr(provider, "open", None)  # optional: SDK import and client set-up
            if opener is not None:
                opener()
        freeze_more()  # the SDK's modules and clients live as long as the run
        await asyncio.gather(*(self._one(call, self.gate) for call in pending))


_FREEZING = False


@contextmanager
def long_lived_objects_frozen():
    """Keep the garbage collector's full passes off the objects that live as long as the run
    (the suite, its cases, every planned call, the SDK): they never become garbage before it
    ends, yet each full pass walked all of them, about a tenth of a 12,320-call run's CPU.
    Left alone when something else already froze objects (gc.freeze is process-wide)."""
    global _FREEZING
    import gc

    if gc.get_freeze_count() or _FREEZING:
        yield
        return
    _FREEZING = True
    gc.freeze()
    try:
        yield
    finally:
        _FREEZING = False
        gc.unfreeze()


def freeze_more() -> None:
    """Add the objects made since to the frozen ones, inside long_lived_objects_frozen."""
    if _FREEZING:
        import gc

        gc.freeze()


def _progress_bar(total: int, options: RunOptions):
    show = options.progress if options.progress is not None else (sys.stderr.isatty() and not os.environ.get("CI"))
    if not show or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="call", file=sys.stderr, mininterval=0.2, leave=False)


async def lookup_retirements(providers: dict[str, Provider], cache, today, *, network: bool = True,
                             gate: asyncio.Semaphore | None = None,
                             started: asyncio.Event | None = None) -> dict[str, dict[str, Any]]:
    """Per route: the model's shutdown date (the provider's answer, else the shipped table) and
    a warning when it is near. A failed or slow lookup is just "unknown"; it never fails the run.
    Without `network` only the shipped table is used.

    One lookup per (provider, model, base_url) the cache does not already answer. With `gate`,
    each lookup holds one of the run's concurrency slots while it waits; `started` is set once
    every lookup holds its slot, so calls queued after that wait behind them, not before."""
    import hashlib

    from evalkit.cache import _canonical
    from evalkit.retirement import schedule

    known: dict[str, str | None] = {}  # lookup key -> shutdown date
    route_keys: dict[str, str] = {}
    pending: dict[str, Any] = {}  # lookup key -> the provider's lookup coroutine function
    for name, provider in (providers.items() if network else ()):
        lookup = getattr(provider, "lookup_shutdown_date", None)
        if not provider.remote or lookup is None:
            continue
        prefix, model = split_model(provider.ref)
        identity = _canonical({"provider": prefix, "model": model, "base_url": getattr(provider, "base_url", None)})
        key = route_keys[name] = hashlib.sha256(identity.encode()).hexdigest()
        if key in known or key in pending:
            continue
        stored = cache.model_info(key) if cache is not None else None
        if stored is not None:
            known[key] = stored.get("shutdown_date")
        else:
            pending[key] = lookup
    tasks: dict[str, asyncio.Future] = {}
    try:
        for key, lookup in pending.items():
            if gate is not None:
                await gate.acquire()
            tasks[key] = asyncio.ensure_future(_holding(gate, lookup))
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


async def _holding(gate: asyncio.Semaphore | None, lookup):
    """Run a lookup that already holds a slot of `gate`; give the slot back when it ends."""
    try:
        return await lookup()
    finally:
        if gate is not None:
            gate.release()


def _lock(run_dir: Path):
    """Hold an exclusive lock on the run for this process: two writers would duplicate rows."""
    from evalkit import store

    handle = (run_dir / store.RESULTS).open("a", encoding="utf-8")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise BadInput("another evalkit process is writing this run; wait for it or stop it first", where=str(run_dir)) from None
    return handle


class _Session:
    """Everything one `run_suite` call does inside its event loop."""

    def __init__(self, suite, providers, calls, run_dir, manifest, options, cache, resumed: bool):
        self.suite, self.providers, self.calls, self.run_dir = suite, providers, calls, run_dir
        self.manifest, self.options, self.cache, self.resumed = manifest, options, cache, resumed
        self.warnings: list[str] = []
        self.executor: _Executor | None = None

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
            retirements = await lookup_retirements(self.providers, self.cache, today, network=self.options.cache != "read",
                                                   gate=self.executor.gate, started=started)
        except Exception as error:  # noqa: BLE001 - a lookup never fails the run
            retirements = {}
            self.warn(f"could not check the models' shutdown dates: {type(error).__name__}: {error}")
        finally:
            started.set()
        for name, info in retirements.items():
            self.manifest["routes"][name].update(info)
        store.write_json(self.run_dir / store.MANIFEST, self.manifest)

    async def work(self, writer, scorer) -> None:
        self.executor = _Executor(self.calls, writer, scorer, self.options, self.cache)
        lookups = None
        if not self.resumed and any(p.remote for p in self.providers.values()):
            started = asyncio.Event()
            lookups = asyncio.ensure_future(self.check_retirements(started))
            await started.wait()  # the lookups hold their slots before the first call queues
        self.executor.bar = _progress_bar(len(self.calls), self.options)
        try:
            await self.executor.run()
            if lookups is not None:
                await lookups
        finally:
            if lookups is not None and not lookups.done():
                lookups.cancel()
            if self.executor.bar is not None:
                self.executor.bar.close()
        for name, info in self.manifest["routes"].items():
            if info.get("retirement_warning") and name in self.providers:
                self.warn(info["retirement_warning"])

    async def main(self, writer, scorer) -> bool:
        """True when every call finished; False when stopped by SIGINT or SIGTERM."""
        loop = asyncio.get_running_loop()
        work = asyncio.ensure_future(self.work(writer, scorer))
        stopped = []

        def stop() -> None:
            stopped.append(True)
            work.cancel()

        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        try:
            await work
            return True
        except asyncio.CancelledError:
            if not stopped:
                raise
            return False
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            for provider in self.providers.values():
                try:
                    await provider.aclose()
                except Exception:  # noqa: BLE001 - closing must not hide the run's outcome
                    pass


def run_suite(suite: str | Path | LoadedSuite, options: RunOptions | None = None) -> RunResult:
    """Run every holdout case through the suite's routes and write the run directory."""
    from evalkit import store
    from evalkit.cache import ResponseCache
    from evalkit.limits import limiters_for
    from evalkit.scoring import Scorer

    options = options or RunOptions()
    if not isinstance(suite, LoadedSuite):
        suite = load_suite(suite)
    if options.repeats < 1 or options.concurrency < 1 or options.attempts < 1:
        raise BadInput("--repeats, --concurrency and --attempts must be at least 1")
    if options.offline and options.replay is not None:
        raise BadInput("--offline and --replay both replace every route: choose one")
    if options.timeout_s is not None and options.timeout_s <= 0:
        raise BadInput(f"--timeout must be positive, got {options.timeout_s:g}")

    previous = None
    if options.resume is not None:
        previous = store.load_run(options.resume)
        if previous.manifest["suite"]["sha256"] != suite.sha256 or previous.manifest.get("cases_sha256") != suite.cases_sha256:
            raise BadInput("the suite or its cases changed since this run started: start a new run", where=str(options.resume))
        # a resumed run keeps its own plan: its routes, repeats and offline stand-ins
        options = replace(options, routes=list(previous.manifest["routes"]),
                          repeats=int(previous.manifest.get("repeats", 1)),
                          offline=bool(previous.manifest.get("offline", False)),
                          replay=Path(previous.manifest["replay"]) if previous.manifest.get("replay") else None)

    route_names = options.routes or list(suite.spec.routes)
    unknown = [r for r in route_names if r not in suite.spec.routes]
    if unknown:
        raise BadInput(f"unknown route {unknown[0]!r}: the suite has {', '.join(suite.spec.routes)}")

    providers = build_providers(suite, route_names, options.offline, keyless_remote=options.cache == "read",
                                replay=options.replay)
    modes = cache_modes(suite, providers, options.cache)
    limiters = limiters_for({split_model(p.ref)[0]: p.remote for p in providers.values()}, options.rpm)
    calls = plan_calls(suite, providers, options.repeats, timeout_s=options.timeout_s)
    for call in calls:
        call.limiter = limiters.get(split_model(call.provider.ref)[0])

    if previous is not None:
        run_dir = options.resume
        manifest = previous.manifest
        done = {store.row_key(r) for r in previous.rows}
        calls = [c for c in calls if (c.request.case_id, c.request.route, c.request.repeat) not in done]
        manifest["status"] = "running"
        manifest.setdefault("resumed", []).append({"at": _now(), "calls_left": len(calls)})
    else:
        run_id = datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        run_dir = options.out or Path("reports") / suite.name / run_id
        if (run_dir / store.RESULTS).exists():
            raise BadInput("the output folder already holds a run: pass --resume to finish it, or choose another --out", where=str(run_dir))
        manifest = new_manifest(suite, providers, options, run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    if previous is None and options.out is None:
        store.point_latest(run_dir)
    lock = _lock(run_dir)
    cache = None
    try:
        if any(mode != "off" for mode in modes.values()):
            cache = ResponseCache(options.cache_dir)
            attach_cache_keys(calls, modes)
        manifest["cache"] = {"mode": options.cache, "routes": modes, "dir": str(cache.folder) if cache else None}
        store.write_json(run_dir / store.MANIFEST, manifest)
        if previous is None:
            store.write_cases(run_dir, suite.holdout)

        session = _Session(suite, providers, calls, run_dir, manifest, options, cache, resumed=previous is not None)
        writer = store.RunWriter(run_dir)
        try:
            with long_lived_objects_frozen():
                complete = asyncio.run(session.main(writer, Scorer(suite.spec.task, suite.output_schema)))
        finally:
            writer.close()
            if cache is not None:
                cache.close()
        executor = session.executor
        stats = {"retries": executor.retries if executor else 0,
                 "retries_by_route": dict(executor.retries_by_route) if executor else {},
                 "calls_made": executor.calls_made if executor else 0}
        manifest["warnings"] = sorted(set(manifest.get("warnings") or []) | set(session.warnings))
        summary = finish_run(run_dir, manifest, complete=complete, max_error_rate=options.max_error_rate,
                             retries=stats["retries"], stats=stats)
    finally:
        lock.close()
    return RunResult(run_dir, manifest, summary, complete, stats["calls_made"], session.warnings,
                     retries=stats["retries"], cache_hits=executor.cache_hits if executor else 0)


def finish_run(run_dir: Path, manifest: dict[str, Any], *, complete: bool, max_error_rate: float, retries: int = 0,
               stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """Summarise the stored rows, write summary.json and report.md, close the manifest.
    `retries` and `stats` (retries_by_route, calls_made) add to what earlier sessions of the
    run recorded."""
    from evalkit import store

    manifest["status"] = "complete" if complete else "incomplete"
    manifest["ended_at"] = _now()
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
    for route, models in _reported_models(run.rows).items():
        if route in manifest.get("routes", {}):
            manifest["routes"][route]["reported_model"] = models[0] if len(models) == 1 else models
    manifest["max_error_rate"] = max_error_rate
    manifest["error_rate_exceeded"] = sorted(
        route for route, s in summary["routes"].items() if s["n"] and s["errors"] / s["n"] > max_error_rate)
    store.write_json(run_dir / store.MANIFEST, manifest)
    return summary


def _reported_models(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per route, the model ids the servers reported, most frequent first."""
    counts: dict[str, Counter[str]] = {}
    for row in rows:
        if row.get("model"):
            counts.setdefault(row["route"], Counter())[row["model"]] += 1
    return {route: [m for m, _ in c.most_common()] for route, c in counts.items()}


def write_summary(run) -> dict[str, Any]:
    from evalkit import store
    from evalkit.metrics import summarize
    from evalkit.report.markdown import render_report

    gold = {case_id: case.get("sources") for case_id, case in run.cases.items() if case.get("sources")}
    summary = summarize(run.rows, run.labels, routes=run.routes, gold_sources=gold)
    store.write_json(run.dir / store.SUMMARY, summary)
    run.summary = summary
    (run.dir / store.REPORT).write_text(render_report(run), encoding="utf-8")
    return summary


def score_run(run_dir: str | Path, suite_path: str | Path | None = None) -> dict[str, Any]:
    """Re-score a stored run from its raw outputs (after a change to the label field, the
    extract pattern or the label set) and rewrite summary.json and report.md. No provider is called."""
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
        spec, schema, by_id = Suite.model_validate(run.manifest["suite"]["spec"]), run.manifest["suite"].get("output_schema"), {}
    scorer = Scorer(spec.task, schema)
    for row in run.rows:
        if row.get("error") is None and row.get("output") is not None:
            case = by_id.get(row["case_id"])
            if case is not None:
                row["expected_label"] = expected_label(case, spec.task.label_field)
            score = scorer.score(row["output"])
            row.update(parsed_ok=score.parsed_ok, parse_error=score.parse_error, predicted_label=score.predicted_label,
                       correct=score.predicted_label == row["expected_label"])
    store.rewrite_rows(run.dir, run.rows)
    store.write_json(run.dir / store.MANIFEST, run.manifest)
    return write_summary(run)
