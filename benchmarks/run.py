"""The benchmark: how much evalkit adds to the provider's own time (`make bench`).

    .venv/bin/python benchmarks/run.py [--quick] [--no-scale] [--out benchmarks/RESULTS.md]

It starts the stub server (evalkit.testing.StubServer, OpenAI wire format) in a process of
its own, then measures, alternating and repeated, `evalkit run` on a 50-case x 4-route copy
of the example suite (200 calls) and a bare asyncio + AsyncOpenAI + semaphore loop making
the same 200 requests, at concurrency 1, 8 and 32 with 200 ms of latency; then a cached
re-run, the cold start of `evalkit --version`, and the scale run: banking77's 3,080 test cases
x 4 routes (12,320 calls) at concurrency 64 with 50 ms, the time to write the summary and
report of those rows, and how that time grows with 10x the rows. Each measured command is a
child process: wall time, CPU time (user + sys) and peak RSS are its own, never the stub's.

It writes RESULTS.md (the table, the ratios to the SDK loop of the same run, the machine,
and benchmarks/findings.md) and results.json (every measurement) next to this file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.measure import median, run_measured  # noqa: E402
from benchmarks.workloads import BANKING77, BENCH_KEY, Workload  # noqa: E402

#: the issue's targets
TARGETS = {"wall_ratio": 1.15, "cpu_ratio": 1.5, "rss_mb": 150.0, "cached_s": 1.5, "cold_start_s": 0.3,
           "scale_wall_ratio": 1.2, "scale_rss_mb": 300.0, "summary_s": 3.0, "growth_10x": 12.0,
           "fast_wall_ratio": 1.15, "first_request_s": 2.0}


@dataclass
class Config:
    cases: int = 50  # holdout cases of the support-triage suite; x 4 routes = calls
    concurrencies: tuple[int, ...] = (1, 8, 32)
    reps: dict[int, int] = field(default_factory=lambda: {1: 2, 8: 3, 32: 5})
    latency_ms: float = 200.0
    cached_reps: int = 5
    cold_starts: int = 10
    warmup: bool = True
    scale: bool = True
    scale_cases: int | None = None  # banking77 test cases (None: all 3,080)
    scale_concurrency: int = 64
    scale_latency_ms: float = 50.0
    scale_reps: int = 3
    summary_reps: int = 3
    growth: bool = True
    calls: bool = True  # the 200-call pairs, the cached re-run and the cold start
    fast_latency_ms: float = 20.0  # the scale workload again against a fast server (a local vLLM or Ollama)
    fast_reps: int = 3
    first_request: bool = False  # how long a 20,000-case suite waits before its first request (on in full runs)
    first_request_cases: int = 20_000
    first_request_reps: int = 3


class Bench:
    """Runs and records the measurements against one stub (a StubProcess or a LocalStub)."""

    def __init__(self, config: Config, stub, scratch: Path, python: str = sys.executable, log=print):
        self.config, self.stub, self.scratch, self.python, self.log = config, stub, scratch, python, log
        self.evalkit = str(Path(python).parent / "evalkit")
        self.records: list[dict[str, Any]] = []
        self._serial = 0

    # -- plumbing

    def env(self, cache_dir: Path | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "CI")}
        env["OPENAI_API_KEY"] = BENCH_KEY
        env["EVALKIT_CACHE_DIR"] = str(cache_dir or self.fresh("cache"))
        return env

    def fresh(self, stem: str) -> Path:
        self._serial += 1
        return self.scratch / f"{stem}-{self._serial:03d}"

    def prepare(self, kind: str, cases: int | None) -> Workload:
        """Write a workload in a child process (so this process never loads evalkit's imports,
        whose memory a child would otherwise report as its own peak RSS)."""
        folder = self.fresh(kind)
        argv = [self.python, str(HERE / "workloads.py"), kind, str(folder), "--base-url", self.stub.base_url]
        if cases is not None:
            argv += ["--cases", str(cases)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"preparing the {kind} workload failed:\n{done.stderr}")
        data = json.loads(done.stdout.strip().splitlines()[-1])
        workload = Workload(data["name"], Path(data["suite"]), Path(data["requests"]), Path(data["answers"]), data["calls"])
        if data["answers"]:
            self.stub.load(workload.answers)
        return workload

    def first_request_time(self, workload: Workload, rep: int) -> dict[str, Any]:
        """Start `evalkit run` and stop it (SIGTERM) once the stub has seen its first completion
        request: the seconds from start to that request are the planning time."""
        import signal

        out = self.fresh("first")
        self.stub.reset()
        log = out.with_suffix(".log").open("wb")
        started = time.time()
        child = subprocess.Popen([self.evalkit, "run", str(workload.suite), "--out", str(out), "--no-progress",
                                  "--concurrency", "64", "--cache", "off"],
                                 env=self.env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        first = status = usage = None
        try:
            while first is None:
                pid, status, usage = os.wait4(child.pid, os.WNOHANG)
                if pid:  # it ended by itself
                    break
                status = None
                first = self.stub.stats().get("first_at")
                time.sleep(0 if first is not None else 0.02)
        finally:
            if status is None:
                child.send_signal(signal.SIGTERM)
                _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
            log.close()
        if first is None:
            raise RuntimeError(f"the run ended before its first request (see {out.with_suffix('.log')})")
        record = {"figure": "first_request", "tool": "evalkit", "rep": rep, "calls": workload.calls,
                  "first_request_s": first - started, "wall_s": first - started, "returncode": child.returncode,
                  "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_mb": usage.ru_maxrss / 1024}
        self.records.append(record)
        return record

    def _record(self, figure: str, tool: str, measured, **extra) -> dict[str, Any]:
        record = {"figure": figure, "tool": tool, **extra, **measured.as_dict()}
        self.records.append(record)
        return record

    # -- one measured command each

    def evalkit_run(self, workload: Workload, concurrency: int, figure: str, *, cache_dir: Path | None = None,
                    rep: int = 0) -> dict[str, Any]:
        out = self.fresh("run")
        cache_dir = cache_dir or self.fresh("cache")
        self.stub.reset()
        measured = run_measured([self.evalkit, "run", str(workload.suite), "--out", str(out), "--concurrency",
                                 str(concurrency), "--no-progress"], env=self.env(cache_dir), log=out.with_suffix(".log"))
        rows = _count_lines(out / "results.jsonl")
        return self._record(figure, "evalkit", measured, concurrency=concurrency, rep=rep, calls=workload.calls,
                            rows=rows, run_dir=str(out), cache_dir=str(cache_dir), **self.stub.stats())

    def sdk_run(self, workload: Workload, concurrency: int, figure: str, *, rep: int = 0,
                tool: str = "sdk") -> dict[str, Any]:
        """The bare loop: through `create` (tool "sdk"), or through the client's `post` ("sdk-post")."""
        out = self.fresh(tool).with_suffix(".jsonl")
        self.stub.reset()
        measured = run_measured([self.python, str(HERE / "sdk_loop.py"), str(workload.requests), "--base-url",
                                 self.stub.base_url, "--concurrency", str(concurrency), "--out", str(out)]
                                + (["--post"] if tool == "sdk-post" else []),
                                env=self.env(), log=out.with_suffix(".log"))
        return self._record(figure, tool, measured, concurrency=concurrency, rep=rep, calls=workload.calls,
                            rows=_count_lines(out), **self.stub.stats())

    # -- the figures

    def pairs(self, workload: Workload, concurrency: int, reps: int, figure: str,
              tools: tuple[str, ...] = ("evalkit", "sdk")) -> None:
        """evalkit and the bare loops in turn, the order rotating between reps."""
        for rep in range(reps):
            order = tools[rep % len(tools):] + tools[:rep % len(tools)]
            for tool in order:
                record = (self.evalkit_run(workload, concurrency, figure, rep=rep) if tool == "evalkit" else
                          self.sdk_run(workload, concurrency, figure, rep=rep, tool=tool))
                self.log(f"  {figure} c={concurrency} rep {rep} {tool:7s} wall {record['wall_s']:6.2f} s  "
                         f"cpu {record['cpu_s']:6.2f} s  rss {record['maxrss_mb']:5.0f} MB  "
                         f"requests {record['completions']}  max in flight {record['max_in_flight']}")

    def cached(self, workload: Workload, cache_dir: Path, reps: int) -> None:
        for rep in range(reps):
            record = self.evalkit_run(workload, 8, "cached", cache_dir=cache_dir, rep=rep)
            self.log(f"  cached re-run rep {rep}: wall {record['wall_s']:.2f} s, requests {record['requests']}")

    def cold_start(self, n: int) -> None:
        for rep in range(n):
            self._record("cold_start", "evalkit", run_measured([self.evalkit, "--version"], env=self.env()), rep=rep)
            self._record("cold_start", "python", run_measured([self.python, "-c", "pass"], env=self.env()), rep=rep)
        self.log(f"  evalkit --version: {median(self.walls('cold_start', 'evalkit')):.3f} s (median of {n})")

    def summary_time(self, run_dir: Path, figure: str, reps: int) -> None:
        for rep in range(reps):
            log = self.fresh("summary").with_suffix(".log")
            measured = run_measured([self.python, str(HERE / "summary_time.py"), str(run_dir)], env=self.env(), log=log)
            timing = json.loads(log.read_text(encoding="utf-8").strip().splitlines()[-1])
            self._record(figure, "evalkit", measured, rep=rep, **timing)
        self.log(f"  {figure}: {median(self.values(figure, 'evalkit', 'summary_report_s')):.2f} s "
                 f"for {timing['rows']} rows")

    def walls(self, figure: str, tool: str, concurrency: int | None = None) -> list[float]:
        return self.values(figure, tool, "wall_s", concurrency)

    def values(self, figure: str, tool: str, key: str, concurrency: int | None = None) -> list[float]:
        return [r[key] for r in self.records if r["figure"] == figure and r["tool"] == tool
                and (concurrency is None or r.get("concurrency") == concurrency)]

    # -- the whole benchmark

    def compile_evalkit(self) -> None:
        """Write evalkit's bytecode before anything is measured, as installing a package does. The
        warm-up run was meant to, but with PYTHONDONTWRITEBYTECODE set (as it is in some shells and
        containers) an editable install compiles all of evalkit again in every measured run, about
        0.3 s each, while the SDK's bytecode was written when it was installed. In a child process:
        this one never imports evalkit."""
        code = ("import compileall, os, evalkit; "
                "compileall.compile_dir(os.path.dirname(evalkit.__file__), quiet=1)")
        subprocess.run([self.python, "-c", code], check=False, capture_output=True)

    def run(self) -> None:
        config = self.config
        self.compile_evalkit()
        if config.calls:
            self.calls()
        if config.scale:
            self.scale()
        if config.first_request:
            self.planning()

    def calls(self) -> None:
        config = self.config
        self.stub.set_latency(config.latency_ms)
        workload = self.prepare("support_triage", config.cases)
        self.log(f"support triage: {workload.calls} calls, {config.latency_ms:g} ms latency")
        if config.warmup:  # compile bytecode, warm the page cache: not recorded
            self.evalkit_run(workload, max(config.concurrencies), "warmup")
            self.sdk_run(workload, max(config.concurrencies), "warmup")
        self.cold_start(config.cold_starts)
        for concurrency in config.concurrencies:
            self.pairs(workload, concurrency, config.reps.get(concurrency, 1), "calls")
        last = [r for r in self.records if r["figure"] == "calls" and r["tool"] == "evalkit"][-1]
        self.cached(workload, Path(last["cache_dir"]), config.cached_reps)

    def planning(self) -> None:
        config = self.config
        self.stub.set_latency(config.latency_ms)
        workload = self.prepare("planning", config.first_request_cases)
        self.log(f"planning: {workload.calls:,} calls (prompted with 8 similar examples, RAG)")
        for rep in range(config.first_request_reps):
            record = self.first_request_time(workload, rep)
            self.log(f"  first request after {record['first_request_s']:.2f} s (rep {rep})")
            floor = self.sdk_floor(rep)
            self.log(f"  the SDK's import and client alone: {floor['wall_s']:.2f} s (rep {rep})")

    def sdk_floor(self, rep: int) -> dict[str, Any]:
        """What any script pays before its first request: start Python, import the SDK, build
        its client. The first-request wait is read against it (both vary with the machine's day)."""
        code = "import openai; openai.AsyncOpenAI(api_key='sk-bench', base_url='http://127.0.0.1:9/v1')"
        return self._record("sdk_floor", "sdk", run_measured([self.python, "-c", code], env=self.env()), rep=rep)

    def scale(self) -> None:
        config = self.config
        self.stub.set_latency(config.scale_latency_ms)
        workload = self.prepare("banking77", config.scale_cases)
        self.log(f"scale: banking77, {workload.calls} calls, concurrency {config.scale_concurrency}, "
                 f"{config.scale_latency_ms:g} ms latency")
        if config.fast_reps:
            self.stub.set_latency(config.fast_latency_ms)
            self.log(f"scale at {config.fast_latency_ms:g} ms: {workload.calls} calls, concurrency {config.scale_concurrency}")
            self.pairs(workload, config.scale_concurrency, config.fast_reps, "scale_fast", ("evalkit", "sdk", "sdk-post"))
            self.stub.set_latency(config.scale_latency_ms)
        if not config.scale_reps:
            return
        self.pairs(workload, config.scale_concurrency, config.scale_reps, "scale")
        run_dir = Path([r for r in self.records if r["figure"] == "scale" and r["tool"] == "evalkit"][-1]["run_dir"])
        self.summary_time(run_dir, "summary", config.summary_reps)
        if config.growth:
            from benchmarks.summary_time import scaled_copy

            for factor, figure in ((0.1, "summary_0.1x"), (10, "summary_10x")):
                copy = self.fresh("scaled")
                scaled_copy(run_dir, copy, factor)
                self.summary_time(copy, figure, config.summary_reps)


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


# -- the report

def machine(python: str = sys.executable) -> dict[str, Any]:
    """The machine, and the versions installed for `python` (the interpreter measured), read in a
    child process so this one never imports them."""
    code = ("import json, platform; from importlib.metadata import version, PackageNotFoundError\n"
            "def v(n):\n    try: return version(n)\n    except PackageNotFoundError: return 'absent'\n"
            "print(json.dumps({'python': platform.python_version(), "
            "**{k: v(n) for k, n in (('evalkit', 'evalkit-harness'), ('openai', 'openai'), ('numpy', 'numpy'), "
            "('trio', 'trio'))}}))")
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    versions = json.loads(done.stdout)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "cpus": os.cpu_count(), "cpu": cpu,
            "os": f"{platform.system()} {platform.release()}", "interpreter": python, **versions}


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _fast_rows(bench, n: int, c: int) -> list[list[str]]:
    """The fast-server figures: wall and CPU per call against the loop through `create` (the
    target), then against the loop through `post` (evalkit's own cost on the path it takes)."""
    server = f"{bench.config.fast_latency_ms:g} ms server"
    ev = median(bench.walls("scale_fast", "evalkit"))
    ev_cpu = median(bench.values("scale_fast", "evalkit", "cpu_s")) / n * 1000
    rows = []
    for tool, against in (("sdk", ""), ("sdk-post", ", against the bare loop through the client's `post`")):
        if not bench.walls("scale_fast", tool):
            continue
        wall = median(bench.walls("scale_fast", tool))
        cpu = median(bench.values("scale_fast", tool, "cpu_s")) / n * 1000
        target = tool == "sdk"
        rows += [[f"wall, {n:,} calls, concurrency {c}, {server}{against}", f"{ev:.1f} s", f"{wall:.1f} s",
                  f"{_ratio(ev, wall):.2f}x", f"≤ {TARGETS['fast_wall_ratio']}x" if target else "",
                  _met(_ratio(ev, wall) <= TARGETS["fast_wall_ratio"]) if target else ""],
                 [f"CPU per call, {n:,} calls, {server}{against}", f"{ev_cpu:.2f} ms", f"{cpu:.2f} ms",
                  f"{_ratio(ev_cpu, cpu):.2f}x", "", ""]]
    return rows


def figures(bench: Bench) -> list[list[str]]:
    """The headline table: figure, evalkit, SDK loop, ratio, target, met."""
    rows = []
    calls = bench.config.cases * 4
    for c in bench.config.concurrencies if bench.config.calls else ():
        ev, sdk = median(bench.walls("calls", "evalkit", c)), median(bench.walls("calls", "sdk", c))
        ratio = _ratio(ev, sdk)
        target = f"≤ {TARGETS['wall_ratio']}x" if c > 1 else "(none)"
        rows.append([f"wall, {calls} calls, concurrency {c}", f"{ev:.2f} s", f"{sdk:.2f} s", f"{ratio:.2f}x", target,
                     _met(ratio <= TARGETS["wall_ratio"]) if c > 1 else ""])
    for c in bench.config.concurrencies if bench.config.calls else ():
        ev = median(bench.values("calls", "evalkit", "cpu_s", c)) / calls * 1000
        sdk = median(bench.values("calls", "sdk", "cpu_s", c)) / calls * 1000
        ratio = _ratio(ev, sdk)
        rows.append([f"CPU per call, concurrency {c}", f"{ev:.1f} ms", f"{sdk:.1f} ms", f"{ratio:.2f}x",
                     f"≤ {TARGETS['cpu_ratio']}x", _met(ratio <= TARGETS["cpu_ratio"])])
    if bench.config.calls:
        rss, rss_sdk = max(bench.values("calls", "evalkit", "maxrss_mb")), max(bench.values("calls", "sdk", "maxrss_mb"))
        rows.append([f"peak RSS, {calls} calls (max of all runs)", f"{rss:.0f} MB", f"{rss_sdk:.0f} MB",
                     f"{_ratio(rss, rss_sdk):.2f}x", f"≤ {TARGETS['rss_mb']:.0f} MB", _met(rss <= TARGETS["rss_mb"])])
        for c in bench.config.concurrencies:
            ev = [r for r in bench.records if r["figure"] == "calls" and r["tool"] == "evalkit" and r["concurrency"] == c]
            sdk = [r for r in bench.records if r["figure"] == "calls" and r["tool"] == "sdk" and r["concurrency"] == c]
            rows.append([f"requests / most in flight, concurrency {c}", _served(ev), _served(sdk), "", f"{calls} / {c}",
                         _met(all(r["completions"] == calls and r["max_in_flight"] <= c for r in ev + sdk))])
        cached = bench.walls("cached", "evalkit")
        sent = max(r["requests"] for r in bench.records if r["figure"] == "cached")
        rows.append([f"cached re-run, {calls} calls (requests sent: {sent})", f"{median(cached):.2f} s", "", "",
                     f"≤ {TARGETS['cached_s']} s", _met(max(cached) <= TARGETS["cached_s"] and sent == 0)])
        cold, python = median(bench.walls("cold_start", "evalkit")), median(bench.walls("cold_start", "python"))
        rows.append(["`evalkit --version` cold start", f"{cold:.3f} s", f"(python -c pass: {python:.3f} s)", "",
                     f"≤ {TARGETS['cold_start_s']} s", _met(cold <= TARGETS["cold_start_s"])])
    if bench.config.scale and bench.values("scale_fast", "evalkit", "wall_s") and not bench.values("scale", "evalkit", "wall_s"):
        n = [r["calls"] for r in bench.records if r["figure"] == "scale_fast"][0]
        c = bench.config.scale_concurrency
        rows += _fast_rows(bench, n, c)
    if bench.config.scale and bench.values("scale", "evalkit", "wall_s"):
        n = [r["calls"] for r in bench.records if r["figure"] == "scale"][0]
        c = bench.config.scale_concurrency
        ev, sdk = median(bench.walls("scale", "evalkit")), median(bench.walls("scale", "sdk"))
        rows.append([f"wall, {n:,} calls, concurrency {c}", f"{ev:.1f} s", f"{sdk:.1f} s", f"{_ratio(ev, sdk):.2f}x",
                     f"≤ {TARGETS['scale_wall_ratio']}x", _met(_ratio(ev, sdk) <= TARGETS["scale_wall_ratio"])])
        ev_cpu, sdk_cpu = (median(bench.values("scale", t, "cpu_s")) / n * 1000 for t in ("evalkit", "sdk"))
        rows.append([f"CPU per call, {n:,} calls", f"{ev_cpu:.2f} ms", f"{sdk_cpu:.2f} ms", f"{_ratio(ev_cpu, sdk_cpu):.2f}x",
                     "", ""])
        rss, rss_sdk = max(bench.values("scale", "evalkit", "maxrss_mb")), max(bench.values("scale", "sdk", "maxrss_mb"))
        rows.append([f"peak RSS, {n:,} calls", f"{rss:.0f} MB", f"{rss_sdk:.0f} MB", f"{_ratio(rss, rss_sdk):.2f}x",
                     f"≤ {TARGETS['scale_rss_mb']:.0f} MB", _met(rss <= TARGETS["scale_rss_mb"])])
        scale_records = [r for r in bench.records if r["figure"] == "scale"]
        rows.append([f"requests / most in flight, {n:,} calls", _served([r for r in scale_records if r["tool"] == "evalkit"]),
                     _served([r for r in scale_records if r["tool"] == "sdk"]), "", f"{n:,} / {c}",
                     _met(all(r["completions"] == n and r["max_in_flight"] <= c for r in scale_records))])
        if bench.values("scale_fast", "evalkit", "wall_s"):
            rows += _fast_rows(bench, n, c)
        summary = median(bench.values("summary", "evalkit", "summary_report_s"))
        rows_n = bench.values("summary", "evalkit", "rows")[0]
        rows.append([f"summary + report, {rows_n:,} rows", f"{summary:.2f} s", "", "", f"≤ {TARGETS['summary_s']:.0f} s",
                     _met(summary <= TARGETS["summary_s"])])
        rows.append([f"peak RSS, loading {rows_n:,} rows + summary + report",
                     f"{max(bench.values('summary', 'evalkit', 'maxrss_mb')):.0f} MB", "", "", "", ""])
        if bench.config.growth:
            small = median(bench.values("summary_0.1x", "evalkit", "summary_report_s"))
            big = median(bench.values("summary_10x", "evalkit", "summary_report_s"))
            big_rows = bench.values("summary_10x", "evalkit", "rows")[0]
            small_rows = bench.values("summary_0.1x", "evalkit", "rows")[0]
            rows.append([f"growth: summary + report, {small_rows:,} -> {rows_n:,} rows", f"{_ratio(summary, small):.1f}x time",
                         "", "", f"≤ {TARGETS['growth_10x']:.0f}x", _met(_ratio(summary, small) <= TARGETS["growth_10x"])])
            rows.append([f"growth: summary + report, {rows_n:,} -> {big_rows:,} rows ({big:.1f} s)",
                         f"{_ratio(big, summary):.1f}x time", "", "", f"≤ {TARGETS['growth_10x']:.0f}x",
                         _met(_ratio(big, summary) <= TARGETS["growth_10x"])])
            rows.append([f"peak RSS, loading {big_rows:,} rows + summary + report",
                         f"{max(bench.values('summary_10x', 'evalkit', 'maxrss_mb')):.0f} MB", "", "", "", ""])
    if bench.values("first_request", "evalkit", "first_request_s"):
        first = bench.values("first_request", "evalkit", "first_request_s")
        n = [r["calls"] for r in bench.records if r["figure"] == "first_request"][0]
        floor = bench.walls("sdk_floor", "sdk")
        rows.append([f"wait before the first request, {bench.config.first_request_cases:,} cases x 2 routes "
                     f"({n:,} calls; prompted, similar k=8, and RAG)", f"{median(first):.2f} s",
                     f"(Python + `import openai` + client: {median(floor):.2f} s)" if floor else "", "",
                     f"< {TARGETS['first_request_s']:.0f} s", _met(max(first) < TARGETS["first_request_s"])])
    return rows


def _served(records: list[dict[str, Any]]) -> str:
    if not records:
        return ""
    counts = sorted({r["completions"] for r in records})
    flights = sorted({r["max_in_flight"] for r in records})
    return f"{'/'.join(map(str, counts))} / {'/'.join(map(str, flights))}"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(bench: Bench, info: dict[str, Any], elapsed_s: float) -> str:
    config = bench.config
    out = ["# evalkit benchmark results", "",
           "Generated by `make bench` (`benchmarks/run.py`, see benchmarks/README.md); every figure below was "
           "measured in the same run. Ratios are evalkit over the bare asyncio + AsyncOpenAI + semaphore loop "
           "making the same requests against the same stub server; wall and CPU figures are medians over the "
           "repetitions, peak RSS the largest.", "",
           f"Machine: {info['cpus']} CPUs ({info['cpu']}), {info['os']}, Python {info['python']}, "
           f"openai {info['openai']}, numpy {info['numpy']}, evalkit {info['evalkit']}. Run on {info['date']}, "
           f"{elapsed_s / 60:.1f} minutes in all.", "",
           f"Measured install: `{info['interpreter']}` ("
           + ("trio is absent: a user's install" if info.get("trio") == "absent" else
              f"trio {info.get('trio')} is installed, as in the development environment, and httpcore imports it "
              "whenever it is there") + ").", "",
           f"Workload: the example suite's cases ({config.cases} holdout x 4 routes: base, prompted with 8 similar "
           f"examples, RAG, fine-tuned), structured output (json_schema), stub latency {config.latency_ms:g} ms; "
           f"repetitions per concurrency {', '.join(f'{c}: {config.reps.get(c, 1)}' for c in config.concurrencies)}.", ""]
    if config.scale:
        out += [f"Scale: banking77 test.csv x 4 routes at concurrency {config.scale_concurrency}, stub latency "
                f"{config.scale_latency_ms:g} ms, {config.scale_reps} repetitions each"
                + (f"; the same at {config.fast_latency_ms:g} ms (a fast local server), {config.fast_reps} rounds of "
                   "evalkit, the loop through `create` and the loop through the client's `post`"
                   if config.fast_reps else "") + ".", ""]
    if config.first_request:
        out += [f"Planning: a {config.first_request_cases:,}-case suite (banking77 messages) with a prompted route "
                f"(8 similar examples) and a RAG route; the wait is from starting `evalkit run` to the stub's first "
                f"completion request, {config.first_request_reps} repetitions, each followed by the floor any script "
                f"pays first: starting Python, importing the SDK and building its client.", ""]
    out += ["## Figures", "", _table(["figure", "evalkit", "SDK loop", "ratio", "target", ""], figures(bench)), ""]
    out += ["## Every measurement", "",
            _table(["figure", "tool", "concurrency", "rep", "wall s", "CPU s", "peak RSS MB", "requests", "max in flight"],
                   [[r["figure"], r["tool"], r.get("concurrency", ""), r.get("rep", ""), f"{r['wall_s']:.3f}",
                     f"{r['cpu_s']:.2f}", f"{r['maxrss_mb']:.0f}", r.get("completions", ""), r.get("max_in_flight", "")]
                    for r in bench.records if r["figure"] in ("calls", "scale", "scale_fast", "cached")]), ""]
    findings = HERE / "findings.md"
    if findings.exists():
        out += [findings.read_text(encoding="utf-8").strip(), ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 cases, one repetition, no scale run: a quick look")
    parser.add_argument("--no-scale", action="store_true", help="skip the banking77 scale run")
    parser.add_argument("--out", type=Path, help="the Markdown report (default benchmarks/RESULTS.md; "
                        "with --quick, evalkit-bench-quick.md in the temporary folder)")
    parser.add_argument("--json", type=Path, default=None, help="every measurement as JSON (default: beside --out)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (runs, logs)")
    parser.add_argument("--reps", type=int, help="repetitions of the scale, fast-server, planning and summary figures "
                        "(default 3)")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter whose evalkit and openai are measured, evalkit and the SDK loop alike "
                             "(default: this one; `make bench` gives it a user's install, .venv-bench)")
    parser.add_argument("--only", nargs="+", choices=["fast", "first_request", "scale"],
                        help="measure only these (no 200-call pairs): the 20 ms scale case, the 20,000-case "
                             "planning time, the 50 ms scale case and its summary times")
    args = parser.parse_args(argv)

    config = Config()
    if args.out is None:
        args.out = Path(tempfile.gettempdir()) / "evalkit-bench-quick.md" if args.quick else HERE / "RESULTS.md"
    if args.quick:
        config = Config(cases=10, reps={1: 1, 8: 1, 32: 1}, cached_reps=2, cold_starts=3, scale=False)
    config.first_request = not args.quick
    if args.no_scale or not (BANKING77 / "test.csv").exists():
        if not args.no_scale and not args.quick:
            print(f"note: {BANKING77} is absent: no scale run", file=sys.stderr)
        config.scale = False
        config.first_request = False
    if args.reps is not None:
        config.scale_reps = config.fast_reps = config.first_request_reps = config.summary_reps = args.reps
    if args.only:
        wanted = set(args.only)
        config.calls = False
        config.scale = config.scale and bool(wanted & {"scale", "fast"})
        config.scale_reps = config.scale_reps if "scale" in wanted else 0
        config.fast_reps = config.fast_reps if "fast" in wanted else 0
        config.first_request = config.first_request and "first_request" in wanted
        config.growth = config.growth and "scale" in wanted

    from benchmarks.stub_process import StubProcess

    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="evalkit-bench-"))
    stub = StubProcess(latency_ms=config.latency_ms)
    bench = Bench(config, stub, scratch, python=args.python, log=lambda message: print(message, flush=True))
    try:
        bench.run()
    finally:
        stub.close()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"scratch folder kept: {scratch}")
    info = machine(args.python)
    elapsed = time.perf_counter() - started
    args.out.write_text(render_markdown(bench, info, elapsed), encoding="utf-8")
    json_path = args.json or args.out.with_suffix(".json")
    json_path.write_text(json.dumps({"machine": info, "config": asdict(config), "targets": TARGETS,
                                     "records": [{k: v for k, v in r.items() if k not in ("run_dir", "cache_dir")}
                                                 for r in bench.records]}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} and {json_path} ({elapsed / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
