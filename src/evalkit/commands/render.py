"""evalkit render SUITE: the requests a run would send, without sending any."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("render", help="print the rendered requests of a suite without calling anything (a dry run)",
                       description="Render every route's requests (system prompt, few-shot examples, retrieved "
                                   "context, messages and parameters) exactly as a run sends them to the configured "
                                   "models, with each request's fingerprint. Nothing is called and no key is needed.")
    p.add_argument("suite", type=Path, help="suite YAML file")
    p.add_argument("--route", action="append", dest="routes", metavar="ROUTE", help="only this route (repeatable)")
    p.add_argument("--case", action="append", dest="cases", metavar="ID", help="only this case (repeatable)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N holdout cases")
    p.add_argument("--json", action="store_true", help="one JSON object per request, as requests.jsonl holds them")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    import json

    from evalkit.errors import BadInput
    from evalkit.planning import render_requests
    from evalkit.suite import load_suite

    if args.limit is not None and args.limit < 1:
        raise BadInput(f"--limit must be at least 1, got {args.limit}")
    lines = render_requests(load_suite(args.suite), args.routes, args.cases, args.limit)
    for line in lines:
        if args.json:
            print(json.dumps(line, ensure_ascii=False))
            continue
        print(f"=== {line['route']} · {line['case_id']} · {line['model']} · {line['endpoint'] or 'no endpoint'}")
        print(f"request_sha256 {line['request_sha256']}")
        print("params " + json.dumps(line["params"], sort_keys=True))
        for message in line["messages"]:
            content = message.get("content")
            print(f"--- {message.get('role')}")
            print(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False))
        print()
    return 0
