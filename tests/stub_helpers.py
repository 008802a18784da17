"""Helpers for tests that run suites against the local OpenAI/Anthropic stub server."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from evalkit.runner import RunOptions, run_suite

LABELS = ["billing_dispute", "cancellation", "login_failure", "refund_request"]
OPENAI_KEY = "sk-test-OPENAI-9f3a1c77e2b84d06"
ANTHROPIC_KEY = "sk-ant-test-ANTHROPIC-5d2e8b19c4a7"

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["label", "reason"],
          "properties": {"label": {"type": "string", "enum": LABELS}, "reason": {"type": "string"}}}

_WORDS = ["invoice", "account", "password", "parcel", "refund", "renewal", "card", "login", "plan", "email"]


def make_cases(n: int, *, train: int = 0, objects: bool = False) -> list[dict]:
    """`n` holdout cases (and `train` train cases) with distinct texts and labels in turn;
    with `objects`, `expected` is the whole gold output rather than the label."""
    cases = []
    for i in range(n + train):
        words = " ".join(_WORDS[(i * 7 + k) % len(_WORDS)] for k in range(4))
        split = "train" if i >= n else "holdout"
        label = LABELS[i % len(LABELS)]
        cases.append({"id": f"{'t' if split == 'train' else 'c'}{i:03d}", "input": f"Ticket {i}: trouble with {words}.",
                      "expected": {"label": label, "reason": f"ticket {i}"} if objects else label,
                      "split": split, "tags": ["even" if i % 2 == 0 else "odd"]})
    return cases


def write_suite(folder: Path, routes: dict, *, n: int = 6, train: int = 0, text_mode: bool = False,
                defaults: dict | None = None, corpus: bool = False, pricing: dict | None = None) -> Path:
    """A suite file (and its cases) in `folder`; routes as in the suite format."""
    cases = make_cases(n, train=train, objects=not text_mode)
    (folder / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    if text_mode:
        task = {"labels": LABELS, "output_format": "text"}
    else:
        task = {"labels": LABELS, "output_format": "json", "label_field": "label", "output_schema": SCHEMA}
    suite = {"name": "stubbed", "task": task, "cases": "cases.jsonl", "routes": routes,
             "defaults": {"temperature": 0, "max_tokens": 200, "seed": 7, "timeout_s": 10, **(defaults or {})}}
    if corpus:
        docs = folder / "corpus"
        docs.mkdir(exist_ok=True)
        (docs / "billing.md").write_text(
            "Billing disputes: a charge the customer contests.\n\nRefunds: money back.", encoding="utf-8"
        )
        (docs / "access.md").write_text(
            "Login failures: errors on sign in.\n\nCancellation: ending a plan.", encoding="utf-8"
        )
        suite["corpus"] = "corpus"
    if pricing:
        suite["pricing"] = pricing
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


def openai_route(stub, model: str = "gpt-4.1-mini", kind: str = "base", **extra) -> dict:
    return {"kind": kind, "model": f"openai:{model}", "base_url": stub.base_url_openai, **extra}


def anthropic_route(stub, model: str = "claude-haiku-4-5", kind: str = "base", **extra) -> dict:
    return {"kind": kind, "model": f"anthropic:{model}", "base_url": stub.base_url_anthropic, **extra}


def run(suite_path: Path, out: Path, **options):
    """run_suite with short backoffs, so retries take milliseconds."""
    settings = {"backoff_s": 0.01, "max_backoff_s": 0.05, "progress": False, **options}
    return run_suite(suite_path, RunOptions(out=out, **settings))


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines() if line]


def model_calls(stub) -> list[dict]:
    """The requests the stub received for completions (chat or messages), not model lookups."""
    return [r for r in stub.requests if r["method"] == "POST" and r["path"] in ("/v1/chat/completions", "/v1/messages")]


def gold(body: dict) -> str:
    """A responder answer: the label named by the case text's ticket number."""
    text = body["messages"][-1]["content"]
    number = int(text.split("Ticket ", 1)[1].split(":", 1)[0])
    return json.dumps({"label": LABELS[number % len(LABELS)], "reason": "stub"})


def isolate(monkeypatch, tmp_path: Path) -> None:
    """Fake keys from the test's environment only, a private cache directory, no base URL overrides."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


def tuned_better_responder(suite):
    """A stub responder for the example suite: the fine-tuned model answers every case with its
    gold output; the other models give the wrong reason code on every other case, so the tuned
    route is clearly better than the base route (as a gate that approves it needs to see)."""
    import hashlib

    from evalkit.testing.oracle import GoldResponder

    gold_answer = GoldResponder(suite)

    def respond(kind: str, body: dict) -> str:
        answer = gold_answer(kind, body)
        if str(body.get("model", "")).startswith("ft:"):
            return answer
        question = body["messages"][-1]["content"].encode()
        if hashlib.sha256(question).digest()[0] % 2:
            parsed = json.loads(answer)
            parsed["reason_code"] = "other" if parsed["reason_code"] != "other" else "bug_report"
            return json.dumps(parsed)
        return answer

    return respond
