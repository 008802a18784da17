"""Run a suite: plan (case x route x repeat), call providers concurrently, score, store.

Every route's requests are rendered before the first call, so bad templates stop the
run with exit 2 before anything is spent. Rows are appended the moment they finish; a
failed call is an error row; Ctrl-C or SIGTERM stops cleanly and the run can resume.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evalkit import __version__
from evalkit.cases import expected_label
from evalkit.errors import BadInput, RunIncomplete
from evalkit.providers.base import Provider, ProviderError, ProviderRequest, get_provider_class, split_model
from evalkit.suite import LoadedSuite, load_suite


@dataclass
class RunOptions:
    out: Path | None = None
    offline: bool = False
    concurrency: int = 8
    repeats: int = 1
    routes: list[str] | None = None
    resume: Path | None = None
    max_error_rate: float = 0.5
    attempts: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    progress: bool | None = None  # None: a bar only when stderr is a terminal


@dataclass
class RunResult:
    run_dir: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    complete: bool
    calls_made: int
    warnings: list[str] = field(default_factory=list)

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


def offline_model(kind: str) -> str:
    from evalkit.providers.local import OFFLINE_BY_KIND

    return f"local:{OFFLINE_BY_KIND[kind]}"


def build_providers(suite: LoadedSuite, route_names: list[str], offline: bool) -> dict[str, Provider]:
    """One provider per route; a missing key stops here, before any call."""
    providers = {}
    for name in route_names:
        route = suite.spec.routes[name]
        model = offline_model(route.kind) if offline else route.model
        prefix, model_name = split_model(model)
        cls = get_provider_class(prefix)
        provider = cls(model_name, route_name=name, route=route, suite=suite)
        provider.ref = model
        variable = provider.key_variable()
        if variable and not os.environ.get(variable):
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


def plan_calls(suite: LoadedSuite, providers: dict[str, Provider], repeats: int) -> list[Call]:
    from evalkit.pricing import price_for

    plans = build_plans(suite, list(providers))
    label_field = suite.spec.task.label_field
    calls = []
    for name, provider in providers.items():
        route = suite.spec.routes[name]
        params = {**suite.spec.defaults.model_dump(), **route.params}
        price = price_for(provider.ref, suite.spec.pricing)
        for case in suite.holdout:
            rendered = plans[name].render(case)
            for repeat in range(repeats):
                request = ProviderRequest(case.id, name, repeat, rendered.messages, params, suite.output_schema,
                                          case, rendered.examples, rendered.context)
                calls.append(Call(request, provider, expected_label(case, label_field), case.tags, rendered.retrieved, price))
    return calls


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
    routes = {}
    for name, provider in providers.items():
        route = suite.spec.routes[name]
        prefix = split_model(route.model)[0]
        info = {"kind": route.kind, "model": route.model,
                "ran_as": provider.ref,
                **{k: v for k, v in route.model_dump(include={"base_model", "job_id", "training_file_sha256", "provider", "base_url"}).items() if v},
                **provider.model_info()}
        info["provider"] = info.get("provider", prefix)
        routes[name] = info
    return {
        "run_id": run_id,
        "status": "running",
        "suite": {"name": suite.name, "path": str(suite.path), "sha256": suite.sha256,
                  "spec": suite.spec.model_dump(mode="json"), "output_schema": suite.output_schema},
        "cases_sha256": suite.cases_sha256,
        "evalkit_version": __version__,
        "git": git_state(suite.folder),
        "started_at": _now(),
        "ended_at": None,
        "offline": options.offline,
        "repeats": options.repeats,
        "concurrency": options.concurrency,
        "routes": routes,
    }


class _Executor:
    """Runs calls with one global concurrency limit, retries, and a row written per answer."""

    def __init__(self, calls: list[Call], writer, scorer, options: RunOptions):
        self.calls, self.writer, self.scorer, self.options = calls, writer, scorer, options
        self.calls_made = 0
        self.retries = 0
        self.bar = None

    async def _call_with_retries(self, call: Call):
        options = self.options
        attempt = 0
        while True:
            attempt += 1
            self.calls_made += 1
            started = time.perf_counter()
            try:
                response = await call.provider.complete(call.request)
            except ProviderError as error:
                if not error.retryable or attempt >= options.attempts:
                    return None, error, attempt, (time.perf_counter() - started) * 1000
                self.retries += 1
                delay = min(options.max_backoff_s, options.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                if error.retry_after_s is not None:
                    delay = max(delay, error.retry_after_s)
                await asyncio.sleep(delay)
                continue
            except Exception as error:  # a provider bug must not lose the run
                return None, ProviderError(type(error).__name__, str(error)), attempt, (time.perf_counter() - started) * 1000
            if response.latency_ms is None and not response.cached:
                response.latency_ms = (time.perf_counter() - started) * 1000
            response.attempts = max(response.attempts, attempt)
            return response, None, attempt, response.latency_ms

    def _row(self, call: Call, response, error, attempts: int, latency_ms) -> dict[str, Any]:
        from evalkit.pricing import call_cost

        request = call.request
        row: dict[str, Any] = {"case_id": request.case_id, "route": request.route, "repeat": request.repeat,
                               "tags": call.tags, "expected_label": call.expected}
        if error is not None:
            row.update(output=None, parsed_ok=False, parse_error=None, predicted_label=None, correct=False,
                       error={"type": error.type, "message": error.message}, latency_ms=latency_ms,
                       input_tokens=None, output_tokens=None, cost_usd=None, cached=False, retrieved=call.retrieved,
                       model=None, finish_reason=None, request_id=None, attempts=attempts)
            return row
        score = self.scorer.score(response.text)
        row.update(output=response.text, parsed_ok=score.parsed_ok, parse_error=score.parse_error,
                   predicted_label=score.predicted_label, correct=score.predicted_label == call.expected,
                   error=None, latency_ms=response.latency_ms, input_tokens=response.input_tokens,
                   output_tokens=response.output_tokens,
                   cost_usd=call_cost(call.price, response.input_tokens, response.output_tokens),
                   cached=response.cached, retrieved=call.retrieved, model=response.model,
                   finish_reason=response.finish_reason, request_id=response.request_id, attempts=response.attempts)
        return row

    async def _one(self, call: Call, gate: asyncio.Semaphore) -> None:
        async with gate:
            response, error, attempts, latency = await self._call_with_retries(call)
        self.writer.append(self._row(call, response, error, attempts, latency))
        if self.bar is not None:
            self.bar.update(1)

    async def run(self) -> bool:
        """True when every call finished; False when stopped by a signal."""
        gate = asyncio.Semaphore(self.options.concurrency)
        loop = asyncio.get_running_loop()
        tasks = [asyncio.ensure_future(self._one(call, gate)) for call in self.calls]
        stopped = asyncio.Event()

        def stop() -> None:
            stopped.set()
            for task in tasks:
                task.cancel()

        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            for provider in {id(c.provider): c.provider for c in self.calls}.values():
                await provider.aclose()
        return not stopped.is_set()


def _progress_bar(total: int, options: RunOptions):
    show = options.progress if options.progress is not None else (sys.stderr.isatty() and not os.environ.get("CI"))
    if not show or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="call", file=sys.stderr, mininterval=0.2, leave=False)


def run_suite(suite: str | Path | LoadedSuite, options: RunOptions | None = None) -> RunResult:
    """Run every holdout case through the suite's routes and write the run directory."""
    from evalkit import store
    from evalkit.scoring import Scorer

    options = options or RunOptions()
    if not isinstance(suite, LoadedSuite):
        suite = load_suite(suite)
    route_names = options.routes or list(suite.spec.routes)
    unknown = [r for r in route_names if r not in suite.spec.routes]
    if unknown:
        raise BadInput(f"unknown route {unknown[0]!r}: the suite has {', '.join(suite.spec.routes)}")
    if options.repeats < 1 or options.concurrency < 1:
        raise BadInput("--repeats and --concurrency must be at least 1")

    providers = build_providers(suite, route_names, options.offline)
    calls = plan_calls(suite, providers, options.repeats)

    if options.resume is not None:
        run_dir = options.resume
        previous = store.load_run(run_dir)
        if previous.manifest["suite"]["sha256"] != suite.sha256 or previous.manifest.get("cases_sha256") != suite.cases_sha256:
            raise BadInput("the suite or its cases changed since this run started: start a new run", where=str(run_dir))
        manifest = previous.manifest
        done = {store.row_key(r) for r in previous.rows}
        calls = [c for c in calls if (c.request.case_id, c.request.route, c.request.repeat) not in done]
        manifest["status"] = "running"
    else:
        run_id = datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        run_dir = options.out or Path("reports") / suite.name / run_id
        if (run_dir / store.RESULTS).exists():
            raise BadInput("the output folder already holds a run: pass --resume to finish it, or choose another --out", where=str(run_dir))
        manifest = new_manifest(suite, providers, options, run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    store.write_json(run_dir / store.MANIFEST, manifest)
    if options.resume is None:
        store.write_cases(run_dir, suite.holdout)

    writer = store.RunWriter(run_dir)
    executor = _Executor(calls, writer, Scorer(suite.spec.task, suite.output_schema), options)
    executor.bar = _progress_bar(len(calls), options)
    try:
        complete = asyncio.run(executor.run())
    finally:
        writer.close()
        if executor.bar is not None:
            executor.bar.close()

    summary = finish_run(run_dir, manifest, complete=complete, max_error_rate=options.max_error_rate,
                         retries=executor.retries)
    return RunResult(run_dir, manifest, summary, complete, executor.calls_made)


def finish_run(run_dir: Path, manifest: dict[str, Any], *, complete: bool, max_error_rate: float, retries: int = 0) -> dict[str, Any]:
    """Summarise the stored rows, write summary.json and report.md, close the manifest."""
    from evalkit import store

    manifest["status"] = "complete" if complete else "incomplete"
    manifest["ended_at"] = _now()
    run = store.load_run(run_dir)
    run.manifest = manifest
    summary = write_summary(run)
    manifest["errors"] = {route: s["errors"] for route, s in summary["routes"].items()}
    manifest["cache_hits"] = sum(s["cached"] for s in summary["routes"].values())
    manifest["retries"] = manifest.get("retries", 0) + retries
    manifest["max_error_rate"] = max_error_rate
    manifest["error_rate_exceeded"] = sorted(
        route for route, s in summary["routes"].items() if s["n"] and s["errors"] / s["n"] > max_error_rate)
    store.write_json(run_dir / store.MANIFEST, manifest)
    return summary


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
