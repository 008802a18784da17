"""The stub server for the benchmark, in its own process or in this one.

Run as a script, it serves `evalkit.testing.StubServer` in a separate process, so the CPU
time measured for a client is the client's alone:

    python benchmarks/stub_process.py --latency-ms 200 [--jitter-ms 20] [--error-rate 0.01]

It serves the OpenAI (`/v1/chat/completions`) and Anthropic (`/v1/messages`) wire formats,
prints one JSON line `{"port": N}`, then answers commands read from stdin, one per line,
with one JSON line each: `load ANSWERS.json`, `stats` (completion requests, all requests,
most in flight at once, the time of the first completion request; with a rate limit, the 429s,
the requests let through and their tokens), `reset`, `latency MS`, `limit JSON` (a fresh
`RateLimit(**JSON)`, or `null` for none), `quit` (also on end of input).

An answers file maps the text of a request's last user message to the output to send back,
so every request is answered with its case's gold output; anything else gets `{"label": null}`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

UNKNOWN = '{"label": null}'


class AnswerBook:
    """A StubServer responder: the gold output of the request's case, found by the exact text
    of its last user message (a dict lookup, so the stub stays cheap at thousands of cases).
    It counts completion requests, which the stub's own count mixes with model lookups."""

    def __init__(self, answers: dict[str, str] | None = None):
        self.answers = dict(answers or {})
        self.completions = 0
        self.misses = 0
        self._lock = threading.Lock()

    def __call__(self, kind: str, body: dict[str, Any]) -> str:
        with self._lock:
            self.completions += 1
        for message in reversed(body.get("messages") or []):
            if message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, list):  # Anthropic content blocks
                    content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
                answer = self.answers.get(content) if isinstance(content, str) else None
                if answer is not None:
                    return answer
                break
        with self._lock:
            self.misses += 1
        return UNKNOWN

    def reset(self) -> None:
        with self._lock:
            self.completions = 0
            self.misses = 0


def _stats(server, book: AnswerBook) -> dict[str, int]:
    stats = {"completions": book.completions, "requests": server.request_count,
             "max_in_flight": server.max_in_flight, "misses": book.misses, "first_at": server.first_completion_at}
    limit = server.rate_limit
    if limit is not None:
        span = limit.last_at - limit.first_at if limit.first_at is not None else 0.0
        stats.update(rejected=limit.rejected, answered=limit.answered, admitted_tokens=limit.admitted_tokens,
                     admitted_span_s=span)
    return stats


def _set_limit(server, settings: dict[str, Any] | None) -> None:
    """A fresh rate limit (evalkit.testing.stub_server.ratelimit.RateLimit keyword arguments), or none."""
    from evalkit.testing import RateLimit

    server.rate_limit = RateLimit(**settings) if settings else None


class LocalStub:
    """The stub in this process (for the smoke test): the same interface as StubProcess."""

    def __init__(self, latency_ms: float = 0.0, *, record_requests: bool = False):
        from evalkit.testing import StubServer

        self.book = AnswerBook()
        self.server = StubServer(self.book, latency_ms=latency_ms, record_requests=record_requests).start()
        self.base_url = self.server.base_url_openai

    def load(self, answers_path: Path) -> None:
        self.book.answers.update(json.loads(Path(answers_path).read_text(encoding="utf-8")))

    def stats(self) -> dict[str, int]:
        return _stats(self.server, self.book)

    def reset(self) -> None:
        self.server.reset_counts()
        self.book.reset()

    def set_latency(self, latency_ms: float) -> None:
        self.server.latency_ms = float(latency_ms)

    def set_limit(self, settings: dict[str, Any] | None) -> None:
        _set_limit(self.server, settings)

    def close(self) -> None:
        self.server.stop()


class StubProcess:
    """The stub in a child process, driven through its stdin and stdout."""

    def __init__(self, latency_ms: float = 0.0, python: str = sys.executable, *, jitter_ms: float = 0.0,
                 error_rate: float = 0.0):
        self.process = subprocess.Popen([python, str(Path(__file__).resolve()), "--latency-ms", str(latency_ms),
                                         "--jitter-ms", str(jitter_ms), "--error-rate", str(error_rate)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        hello = self._read()
        self.base_url = f"http://127.0.0.1:{hello['port']}/v1"

    def _read(self) -> dict[str, Any]:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the stub process ended unexpectedly")
        return json.loads(line)

    def _ask(self, command: str) -> dict[str, Any]:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def load(self, answers_path: Path) -> None:
        reply = self._ask(f"load {Path(answers_path).resolve()}")
        if "error" in reply:
            raise RuntimeError(reply["error"])

    def stats(self) -> dict[str, int]:
        return self._ask("stats")

    def reset(self) -> None:
        self._ask("reset")

    def set_latency(self, latency_ms: float) -> None:
        self._ask(f"latency {latency_ms}")

    def set_limit(self, settings: dict[str, Any] | None) -> None:
        reply = self._ask(f"limit {json.dumps(settings)}")
        if "error" in reply:
            raise RuntimeError(reply["error"])

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self._ask("quit")
            except (OSError, RuntimeError, ValueError):
                pass
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def serve(latency_ms: float, jitter_ms: float = 0.0, error_rate: float = 0.0) -> None:
    from evalkit.testing import StubServer

    book = AnswerBook()
    server = StubServer(book, latency_ms=latency_ms, jitter_ms=jitter_ms, error_rate=error_rate,
                        record_requests=False).start()

    def say(data: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()

    say({"port": server.port})
    try:
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "load":
                try:
                    book.answers.update(json.loads(Path(argument).read_text(encoding="utf-8")))
                    say({"ok": True, "answers": len(book.answers)})
                except (OSError, ValueError) as error:
                    say({"error": f"cannot load {argument}: {error}"})
            elif command == "stats":
                say(_stats(server, book))
            elif command == "reset":
                server.reset_counts()
                book.reset()
                say({"ok": True})
            elif command == "latency":
                server.latency_ms = float(argument)
                say({"ok": True})
            elif command == "limit":
                try:
                    _set_limit(server, json.loads(argument))
                    say({"ok": True})
                except (TypeError, ValueError) as error:
                    say({"error": f"bad limit {argument}: {error}"})
            elif command == "quit":
                say({"ok": True})
                break
            else:
                say({"error": f"unknown command {command!r}"})
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="latency varies by up to this, either way (seeded)")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 429 or 500")
    args = parser.parse_args(argv)
    serve(args.latency_ms, args.jitter_ms, args.error_rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
