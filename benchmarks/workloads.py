"""The benchmark's suites, and the exact requests and gold answers that go with them.

Two workloads, each written into a scratch folder with all four route kinds (base,
prompted with similar few-shot examples, RAG, fine-tuned), every route `openai:` with its
`base_url` at the stub:

* `support_triage(folder, base_url, n)`: the example suite with `n` of its cases as holdout
  (its 46 holdout cases, then train cases moved to holdout), the rest as the few-shot pool;
* `banking77(folder, base_url, dataset)`: `../shared/datasets/banking77` test.csv (3,080
  cases, 77 labels) as holdout, train.csv as the few-shot pool and a per-label corpus.

`prepare(suite_path)` renders every call with evalkit's own route plans and returns the
`chat.completions.create` arguments the SDK loop sends (the same model, messages,
response_format and parameters as evalkit) and the answer book for the stub.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_SUITE = REPO / "evals" / "support_triage.yaml"
BANKING77 = REPO.parent / "shared" / "datasets" / "banking77"
BENCH_KEY = "sk-bench-not-a-real-key"


@dataclass
class Workload:
    name: str
    suite: Path
    requests: Path  # JSON: {"calls": [create() keyword arguments], "response_formats": [...]}, see sdk_loop.py
    answers: Path  # JSON object: last user message -> gold output
    calls: int


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def _with_stub(routes: dict[str, dict[str, Any]], base_url: str) -> dict[str, dict[str, Any]]:
    return {name: {**route, "base_url": base_url} for name, route in routes.items()}


def support_triage(folder: Path, base_url: str, n: int = 50) -> Path:
    """The example suite with `n` holdout cases, every route pointed at the stub."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = yaml.safe_load(EXAMPLE_SUITE.read_text(encoding="utf-8"))
    source = (EXAMPLE_SUITE.parent / spec["cases"]).resolve()
    cases = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    holdout = [c for c in cases if c.get("split", "holdout") == "holdout"]
    train = [c for c in cases if c.get("split") == "train"]
    if len(holdout) + len(train) < n:
        raise ValueError(f"the example suite has only {len(holdout) + len(train)} cases")
    moved = [{**c, "split": "holdout"} for c in train[: max(n - len(holdout), 0)]]
    holdout = (holdout + moved)[:n]
    _write_jsonl(folder / "cases.jsonl", holdout + train[len(moved):])
    spec["cases"] = "cases.jsonl"
    spec["task"]["output_schema"] = str((EXAMPLE_SUITE.parent / spec["task"]["output_schema"]).resolve())
    spec["corpus"] = str((EXAMPLE_SUITE.parent / spec["corpus"]).resolve())
    spec["routes"] = _with_stub(spec["routes"], base_url)
    spec["allow_outside_paths"] = True  # the schema and corpus stay in the checkout, outside the scratch folder
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _read_banking(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def banking77(folder: Path, base_url: str, dataset: Path = BANKING77, *, limit: int | None = None) -> Path:
    """banking77's test split as holdout (all 3,080 cases unless `limit`), four routes."""
    from evalkit.cases import normalise_text

    folder.mkdir(parents=True, exist_ok=True)
    labels = json.loads((dataset / "categories.json").read_text(encoding="utf-8"))
    test = _read_banking(dataset / "test.csv")[:limit]
    train = _read_banking(dataset / "train.csv")
    seen = {normalise_text(r["text"]) for r in test}
    train = [r for r in train if normalise_text(r["text"]) not in seen]
    holdout_cases = [{"id": f"b77-{i:05d}", "input": r["text"], "expected": r["category"]} for i, r in enumerate(test)]
    train_cases = [{"id": f"b77-t{i:05d}", "input": r["text"], "expected": r["category"], "split": "train"}
                   for i, r in enumerate(train)]
    _write_jsonl(folder / "holdout.jsonl", holdout_cases)
    _write_jsonl(folder / "train.jsonl", train_cases)
    corpus = folder / "corpus"
    corpus.mkdir(exist_ok=True)
    by_label: dict[str, list[str]] = {}
    for row in train:
        by_label.setdefault(row["category"], []).append(row["text"].replace("\n", " "))
    for label in labels:
        examples = "\n\n".join(by_label.get(label, [])[:12])
        (corpus / f"{label}.md").write_text(f"{label.replace('_', ' ')}: questions like these.\n\n{examples}\n",
                                            encoding="utf-8")
    schema = {"type": "object", "additionalProperties": False, "required": ["label"],
              "properties": {"label": {"type": "string", "enum": labels}}}
    routes = {
        "base": {"kind": "base", "model": "openai:gpt-4.1-mini",
                 "system": "Classify the banking customer's message. Answer with JSON: {\"label\": one of "
                           "{{ labels | join(', ') }}}."},
        "prompted": {"kind": "prompted", "model": "openai:gpt-4.1-mini",
                     "system": "Classify the banking customer's message into one intent label. Answer with JSON "
                               "{\"label\": ...}.\n\n{{ examples }}",
                     "examples": {"k": 8, "strategy": "similar"}},
        "rag": {"kind": "rag", "model": "openai:gpt-4.1-mini",
                "system": "Classify the banking customer's message; the reference notes list typical messages "
                          "per label. Answer with JSON {\"label\": ...}.\n\n{{ context }}",
                "retrieval": {"k": 3, "chunk_chars": 600, "overlap": 0}},
        "tuned": {"kind": "finetuned", "model": "openai:ft:gpt-4.1-mini-2025-04-14:bench::b77",
                  "base_model": "gpt-4.1-mini-2025-04-14",
                  "system": "Classify the banking customer's message."},
    }
    spec = {"name": "banking77_bench", "task": {"labels": labels, "output_format": "json", "output_schema": schema,
                                                "label_field": "label"},
            "cases": ["holdout.jsonl", "train.jsonl"], "corpus": "corpus",
            "defaults": {"temperature": 0, "max_tokens": 50, "seed": 7, "timeout_s": 60},
            "routes": _with_stub(routes, base_url)}
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def planning(folder: Path, base_url: str, dataset: Path = BANKING77, *, n: int = 20_000, pool: int = 2_000) -> Path:
    """A 20,000-case suite (banking77's messages, each used more than once with a numbered
    variant) with a prompted route (8 similar examples from a pool of `pool` train cases) and a
    RAG route (banking77's per-label corpus): the time before its first request is planning."""
    from evalkit.cases import normalise_text

    folder.mkdir(parents=True, exist_ok=True)
    labels = json.loads((dataset / "categories.json").read_text(encoding="utf-8"))
    rows = _read_banking(dataset / "train.csv") + _read_banking(dataset / "test.csv")
    train, rest = rows[:pool], rows[pool:]
    seen = {normalise_text(r["text"]) for r in train}
    rest = [r for r in rest if normalise_text(r["text"]) not in seen]
    holdout = []
    for i in range(n):
        row = rest[i % len(rest)]
        round_ = i // len(rest)
        text = row["text"] if round_ == 0 else f"{row['text']} (follow-up {round_})"
        holdout.append({"id": f"p-{i:05d}", "input": text, "expected": row["category"]})
    train_cases = [{"id": f"p-t{i:05d}", "input": r["text"], "expected": r["category"], "split": "train"}
                   for i, r in enumerate(train)]
    _write_jsonl(folder / "cases.jsonl", holdout + train_cases)
    corpus = folder / "corpus"
    corpus.mkdir(exist_ok=True)
    by_label: dict[str, list[str]] = {}
    for row in train:
        by_label.setdefault(row["category"], []).append(row["text"].replace("\n", " "))
    for label in labels:
        examples = "\n\n".join(by_label.get(label, [])[:12])
        (corpus / f"{label}.md").write_text(f"{label.replace('_', ' ')}: questions like these.\n\n{examples}\n",
                                            encoding="utf-8")
    schema = {"type": "object", "additionalProperties": False, "required": ["label"],
              "properties": {"label": {"type": "string", "enum": labels}}}
    routes = {
        "prompted": {"kind": "prompted", "model": "openai:gpt-4.1-mini",
                     "system": "Classify the banking customer's message into one intent label. Answer with JSON "
                               "{\"label\": ...}.\n\n{{ examples }}",
                     "examples": {"k": 8, "strategy": "similar"}},
        "rag": {"kind": "rag", "model": "openai:gpt-4.1-mini",
                "system": "Classify the banking customer's message; the reference notes list typical messages "
                          "per label. Answer with JSON {\"label\": ...}.\n\n{{ context }}",
                "retrieval": {"k": 3, "chunk_chars": 600, "overlap": 0}},
    }
    spec = {"name": "planning_bench", "task": {"labels": labels, "output_format": "json", "output_schema": schema,
                                               "label_field": "label"},
            "cases": "cases.jsonl", "corpus": "corpus",
            "defaults": {"temperature": 0, "max_tokens": 50, "seed": 7, "timeout_s": 60},
            "routes": _with_stub(routes, base_url)}
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def sdk_arguments(suite, route_name: str, provider, messages: list[dict[str, str]]) -> dict[str, Any]:
    """What a hand-written loop passes to `chat.completions.create` for this call: the model,
    the messages, the suite's parameters and the same json_schema response_format."""
    from evalkit.providers.openai import schema_name, strict_compatible
    from evalkit.planning import route_params

    params = {k: v for k, v in route_params(suite, route_name).items() if v is not None and k != "timeout_s"}
    arguments: dict[str, Any] = {"model": provider.model, "messages": messages, **params}
    schema = suite.output_schema
    if schema is not None and suite.spec.task.output_format == "json":
        arguments["response_format"] = {"type": "json_schema", "json_schema": {
            "name": schema_name(suite.name), "schema": schema, "strict": strict_compatible(schema)}}
    return arguments


def prepare(name: str, suite_path: Path, folder: Path) -> Workload:
    """Render every call of the suite with evalkit's route plans: the SDK loop's requests and the stub's answers."""
    import os

    from evalkit.routes import serialise_expected
    from evalkit.planning import build_providers, plan_calls
    from evalkit.suite import load_suite

    os.environ.setdefault("OPENAI_API_KEY", BENCH_KEY)
    suite = load_suite(suite_path)
    providers = build_providers(suite, list(suite.spec.routes), offline=False)
    calls, formats, answers = [], [], {}
    for call in plan_calls(suite, providers, 1):
        call.render()
        request = call.request
        arguments = sdk_arguments(suite, request.route, call.provider, request.messages)
        if "response_format" in arguments:  # one shared object, as a script would hold it, not one per call
            if arguments["response_format"] not in formats:
                formats.append(arguments["response_format"])
            arguments["response_format"] = formats.index(arguments["response_format"])
        calls.append(arguments)
        user = [m["content"] for m in request.messages if m["role"] == "user"][-1]
        answers[user] = serialise_expected(request.case, suite)
    folder.mkdir(parents=True, exist_ok=True)
    requests_path, answers_path = folder / f"{name}.requests.json", folder / f"{name}.answers.json"
    requests_path.write_text(json.dumps({"response_formats": formats, "calls": calls}, ensure_ascii=False),
                             encoding="utf-8")
    answers_path.write_text(json.dumps(answers, ensure_ascii=False), encoding="utf-8")
    return Workload(name, suite_path, requests_path, answers_path, len(calls))


def main(argv: list[str] | None = None) -> int:
    """Write a workload into a folder and print it as JSON (the benchmark runs this in a child
    process, so the measuring process never loads evalkit and its peak RSS stays small)."""
    import argparse
    import sys
    from dataclasses import asdict

    parser = argparse.ArgumentParser(description="write a benchmark workload")
    parser.add_argument("kind", choices=["support_triage", "banking77", "planning"])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--cases", type=int, help="holdout cases (support_triage: default 50; banking77: all)")
    args = parser.parse_args(argv)
    if args.kind == "support_triage":
        suite = support_triage(args.folder / "suite", args.base_url, args.cases or 50)
    elif args.kind == "planning":  # only the time to the first request is measured: no requests or answers
        suite = planning(args.folder / "suite", args.base_url, n=args.cases or 20_000)
        sys.stdout.write(json.dumps({"name": "planning", "suite": str(suite), "requests": "", "answers": "",
                                     "calls": 2 * (args.cases or 20_000)}) + "\n")
        return 0
    else:
        suite = banking77(args.folder / "suite", args.base_url, limit=args.cases)
    workload = prepare(args.kind, suite, args.folder)
    sys.stdout.write(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in asdict(workload).items()}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
