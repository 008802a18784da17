"""The rate-limit benchmark: 200 calls against a stub that enforces a provider's limits.

    .venv/bin/python benchmarks/ratelimit.py            # about 5 minutes; writes RATELIMIT.md and RATELIMIT.json
    .venv/bin/python benchmarks/ratelimit.py --quick    # 40 calls, the OpenAI request limit only

The stub (`stub_process.py`, its own process) limits the chat endpoints the way providers do
(`evalkit.testing.stub_server.ratelimit`): a bucket per limit holding 2 s of it, refilled
continuously; tokens counted as the serialised messages in characters / 4 + `max_tokens`;
429 answered at once, with or without `retry-after`; the rate-limit headers of the route's
dialect on every answer. The workload is the example suite's 4 routes x 50 cases at
`--concurrency 32` and 200 ms of latency: at 600 requests a minute, the first wave alone is
larger than the bucket. The token limit is set so that it allows the same 10 calls a second
on average.

For each case it reports wall time over what the limit allows (the answered requests at the
limit's rate, or their tokens at the token limit's, whichever is longer: the burst the
bucket grants at the start is the margin), the share of requests answered 429, the rows
answered and the exit code; for evalkit with no flags, with `--rpm` / `--tpm` set to the
limit, and for the bare SDK loop (`sdk_loop.py` with the SDK's own 2 retries). A last case
answers with the provider's quota error after 50 calls: evalkit must stop with exit 3.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.measure import run_measured  # noqa: E402
from benchmarks.stub_process import StubProcess  # noqa: E402

BENCH_KEY = "sk-bench-not-a-real-key"
RPM = 600
CONCURRENCY = 32
LATENCY_MS = 200


def _count_lines(path: Path) -> int:
    try:
        return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    except OSError:
        return 0


def _error_rows(path: Path) -> int:
    try:
        return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and json.loads(line).get("error"))
    except OSError:
        return 0


def mean_tokens(requests_path: Path) -> float:
    """The average request's tokens as the stub counts them (messages chars / 4 + max_tokens)."""
    calls = json.loads(requests_path.read_text(encoding="utf-8"))["calls"]
    counts = [len(json.dumps(c["messages"], ensure_ascii=False)) // 4 + 1 + int(c.get("max_tokens") or 0) for c in calls]
    return sum(counts) / len(counts)


def anthropic_suite(suite: Path, stub_root: str) -> Path:
    """The workload's suite with every route on `anthropic:claude-haiku-4-5` at the stub."""
    import yaml

    spec = yaml.safe_load(suite.read_text(encoding="utf-8"))
    for route in spec["routes"].values():
        route["model"] = "anthropic:claude-haiku-4-5"
        route["base_url"] = stub_root
        for key in ("base_model", "job_id", "training_file_sha256", "trained_tokens", "training_cost_usd", "provider"):
            route.pop(key, None)
    path = suite.with_name("suite_anthropic.yaml")
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


class RateBench:
    def __init__(self, scratch: Path, calls: int, python: str = sys.executable, log=print):
        self.scratch, self.python, self.log = scratch, python, log
        self.evalkit = str(Path(python).parent / "evalkit")
        self.stub = StubProcess(LATENCY_MS, python)
        self.records: list[dict[str, Any]] = []
        self.serial = 0
        folder = scratch / "workload"
        argv = [python, str(HERE / "workloads.py"), "support_triage", str(folder), "--base-url", self.stub.base_url,
                "--cases", str(calls // 4)]
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        data = json.loads(done.stdout.strip().splitlines()[-1])
        self.suite, self.requests, self.calls = Path(data["suite"]), Path(data["requests"]), data["calls"]
        self.stub.load(Path(data["answers"]))
        self.tokens = mean_tokens(self.requests)
        self.tpm = round(self.tokens * RPM)
        self.anthropic = anthropic_suite(self.suite, self.stub.base_url[: -len("/v1")])

    def fresh(self, stem: str) -> Path:
        self.serial += 1
        return self.scratch / f"{stem}-{self.serial:03d}"

    def env(self) -> dict[str, str]:
        import os

        env = {k: v for k, v in os.environ.items()
               if k not in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "CI")}
        env.update(OPENAI_API_KEY=BENCH_KEY, ANTHROPIC_API_KEY=BENCH_KEY, EVALKIT_CACHE_DIR=str(self.fresh("cache")))
        return env

    def one(self, case: str, limit: dict[str, Any], tool: str, flags: list[str], dialect: str = "openai") -> dict[str, Any]:
        self.stub.reset()
        self.stub.set_limit(limit)  # a fresh, full bucket
        out = self.fresh("run")
        if tool == "sdk":
            rows_path = out.with_suffix(".jsonl")
            argv = [self.python, str(HERE / "sdk_loop.py"), str(self.requests), "--base-url", self.stub.base_url,
                    "--concurrency", str(CONCURRENCY), "--out", str(rows_path), "--max-retries", "2"]
        else:
            rows_path = out / "results.jsonl"
            suite = self.anthropic if dialect == "anthropic" else self.suite
            argv = [self.evalkit, "run", str(suite), "--out", str(out), "--concurrency", str(CONCURRENCY),
                    "--no-progress", "--cache", "off", *flags]
        measured = run_measured(argv, env=self.env(), log=out.with_suffix(".log"))
        stats = self.stub.stats()
        answered = stats.get("answered", 0)
        sent = answered + stats.get("rejected", 0)
        allowed = answered * 60.0 / limit["rpm"] if limit.get("rpm") else 0.0
        if limit.get("tpm"):
            allowed = max(allowed, stats.get("admitted_tokens", 0.0) * 60.0 / limit["tpm"])
        if tool == "sdk":
            rows = sum(1 for line in rows_path.read_text(encoding="utf-8").splitlines() if '"output"' in line) \
                if rows_path.exists() else 0
        else:
            rows = _count_lines(rows_path) - _error_rows(rows_path)
        record = {"case": case, "tool": tool, "flags": " ".join(flags), "dialect": dialect, "limit": limit,
                  "wall_s": measured.wall_s, "cpu_s": measured.cpu_s, "allowed_s": allowed,
                  "ratio": measured.wall_s / allowed if allowed else None,
                  # the calls alone: first request let through to the last answer, start-up left out
                  "calls_s": stats.get("admitted_span_s", 0.0) + LATENCY_MS / 1000,
                  "requests": sent, "rejected": stats.get("rejected", 0),
                  "share_429": stats.get("rejected", 0) / sent if sent else 0.0,
                  "rows": rows, "calls": self.calls, "exit": measured.returncode, "mean_tokens": self.tokens}
        self.records.append(record)
        ratio = f"{record['ratio']:.2f}x" if record["ratio"] else "-"
        self.log(f"  {case:34s} {tool:7s} {record['flags']:18s} wall {measured.wall_s:6.2f} s  {ratio:>6s}  "
                 f"429s {record['rejected']:4d} ({record['share_429']:.1%})  rows {rows}/{self.calls}  exit {measured.returncode}")
        return record

    def run(self, quick: bool) -> None:
        rpm = {"rpm": RPM}
        tpm = {"tpm": self.tpm}
        cases = [("OpenAI 600 RPM, retry-after", {**rpm}, "openai"),
                 ("OpenAI 600 RPM, no retry-after", {**rpm, "retry_after": False}, "openai")]
        if not quick:
            cases += [(f"OpenAI {self.tpm:,} TPM, retry-after", {**tpm}, "openai"),
                      (f"OpenAI {self.tpm:,} TPM, no retry-after", {**tpm, "retry_after": False}, "openai"),
                      ("Anthropic 600 RPM, retry-after", {**rpm}, "anthropic"),
                      ("Anthropic 600 RPM, no retry-after", {**rpm, "retry_after": False}, "anthropic"),
                      (f"Anthropic {self.tpm:,} TPM, no retry-after", {**tpm, "retry_after": False}, "anthropic")]
        for case, limit, dialect in cases:
            self.one(case, limit, "evalkit", [], dialect)
        self.one("OpenAI 600 RPM, retry-after", {**rpm}, "evalkit", ["--rpm", f"openai={RPM}"])
        if not quick:
            self.one(f"OpenAI {self.tpm:,} TPM, retry-after", {**tpm}, "evalkit", ["--tpm", f"openai={self.tpm}"])
        self.one("OpenAI 600 RPM, retry-after", {**rpm}, "sdk", [])
        self.one("OpenAI 600 RPM, no retry-after", {**rpm, "retry_after": False}, "sdk", [])
        if not quick:
            self.one(f"OpenAI {self.tpm:,} TPM, retry-after", {**tpm}, "sdk", [])
        self.one("quota error after 50 calls", {**rpm, "quota_after": 50}, "evalkit", [])

    def close(self) -> None:
        self.stub.close()


def _medians(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (case, tool, flags): the repetition with the median wall time."""
    import statistics

    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["case"], r["tool"], r["flags"]), []).append(r)
    chosen = []
    for group in groups.values():
        middle = statistics.median_low([r["wall_s"] for r in group])
        median = next(r for r in group if r["wall_s"] == middle)
        ratios = [r["ratio"] for r in group if r["ratio"]]
        calls = [r["calls_s"] / r["allowed_s"] for r in group if r.get("allowed_s") and "calls_s" in r]
        chosen.append({**median, "reps": len(group), "rejected_max": max(r["rejected"] for r in group),
                       "rows_min": min(r["rows"] for r in group),
                       "ratio_range": (min(ratios), max(ratios)) if ratios else None,
                       "calls_range": (min(calls), max(calls)) if calls else None})
    return chosen


def render(bench: RateBench) -> str:
    lines = ["# Rate limits: the figures", "",
             f"{bench.calls} calls (the example suite's 4 routes) at `--concurrency {CONCURRENCY}`, {LATENCY_MS} ms "
             f"per answer, against a stub enforcing the limit with a 2-second bucket (mean request "
             f"{bench.tokens:.0f} tokens as counted). \"Allowed\" is what the limit allows for the requests "
             "answered; \"calls\" is the time from the first request let through to the last answer (the process's "
             "start-up left out); the SDK loop is AsyncOpenAI with its own 2 retries.", "",
             "Figures are the repetition with the median wall time (of an even number, the faster of the two in the middle); with several",
             "repetitions, the range of the ratios is in parentheses, the 429s and rows of the worst one",
             "in brackets.", "",
             "| limit | harness | wall / allowed | wall | calls / allowed | 429s (share of requests) | rows answered | exit |",
             "|---|---|---|---|---|---|---|---|"]
    for r in _medians(bench.records):
        harness = {"sdk": "bare SDK loop"}.get(r["tool"], "evalkit" + (f" `{r['flags']}`" if r["flags"] else ""))
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else "-"
        worst = f" [{r['rejected_max']}]" if r["reps"] > 1 and r["rejected_max"] != r["rejected"] else ""
        rows = f" [{r['rows_min']}]" if r["reps"] > 1 and r["rows_min"] != r["rows"] else ""
        calls = f"{r['calls_s'] / r['allowed_s']:.2f}x" if r.get("allowed_s") and "calls_s" in r else "-"
        if r["reps"] > 1 and r.get("ratio_range"):
            ratio += " ({:.2f}–{:.2f})".format(*r["ratio_range"])
        if r["reps"] > 1 and r.get("calls_range"):
            calls += " ({:.2f}–{:.2f})".format(*r["calls_range"])
        lines.append(f"| {r['case']} | {harness} | {ratio} | {r['wall_s']:.1f} s | {calls} | {r['rejected']} "
                     f"({r['share_429']:.1%}){worst} | {r['rows']} / {r['calls']}{rows} | {r['exit']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 calls, the request limit only")
    parser.add_argument("--out", type=Path, default=HERE / "RATELIMIT.md")
    parser.add_argument("--reps", type=int, default=1, help="repetitions of every case (the median is reported)")
    parser.add_argument("--render", type=Path, metavar="RATELIMIT.json", help="only write the table of saved records")
    args = parser.parse_args(argv)
    if args.render is not None:
        records = json.loads(args.render.read_text(encoding="utf-8"))
        saved = argparse.Namespace(records=records, calls=records[0]["calls"], tokens=records[0].get("mean_tokens", 0.0))
        args.out.write_text(render(saved), encoding="utf-8")
        print(render(saved))
        return 0
    with tempfile.TemporaryDirectory(prefix="evalkit-ratebench-") as scratch:
        bench = RateBench(Path(scratch), 40 if args.quick else 200)
        try:
            for rep in range(args.reps):
                bench.log(f"repetition {rep + 1} of {args.reps}")
                bench.run(args.quick)
        finally:
            bench.close()
    args.out.write_text(render(bench), encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(bench.records, indent=2) + "\n", encoding="utf-8")
    print(render(bench))
    return 0


if __name__ == "__main__":
    sys.exit(main())
