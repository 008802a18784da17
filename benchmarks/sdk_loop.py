"""The floor: a bare asyncio + AsyncOpenAI + semaphore loop over prepared requests.

    python benchmarks/sdk_loop.py REQUESTS.json --base-url URL --concurrency N --out OUTPUTS.jsonl

REQUESTS.json holds `calls`, a list of `chat.completions.create` keyword arguments (model,
messages, temperature, ...), exactly what evalkit sends for the same calls, whose
`response_format` is an index into `response_formats` (one shared object per schema). The loop
writes one line per answer (its index and the message content), as the least a script that
keeps its results would do. Nothing else: no retries (unless `--max-retries`, the SDK's own),
no scoring, no cache.

With `--post` the loop sends each body through the client's `post` (the path evalkit takes
after a route's first call) and reads the content from the JSON answer: the floor for that
path, without the SDK's per-call request transform and response model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys


async def call_all(requests: list[dict], base_url: str, concurrency: int, out_path: str, max_retries: int = 0,
                   post: bool = False) -> int:
    import openai

    client = openai.AsyncOpenAI(api_key=os.environ.get("OPENAI_API_KEY", "sk-bench"), base_url=base_url,
                                max_retries=max_retries)
    http = __import__("httpx2" if hasattr(openai, "DefaultHttpx2Client") else "httpx")

    async def create(request: dict) -> str:
        response = await client.chat.completions.create(**request)
        return response.choices[0].message.content

    async def through_post(request: dict) -> str:
        response = await client.post("/chat/completions", body=request, cast_to=http.Response)
        return json.loads(response.content)["choices"][0]["message"]["content"]

    send = through_post if post else create
    gate = asyncio.Semaphore(concurrency)
    failures = 0
    with open(out_path, "w", encoding="utf-8") as out:

        async def one(index: int, request: dict) -> None:
            nonlocal failures
            async with gate:
                try:
                    output = await send(request)
                except Exception as error:  # noqa: BLE001 - count it, keep going
                    failures += 1
                    out.write(json.dumps({"i": index, "error": type(error).__name__}) + "\n")
                    return
            out.write(json.dumps({"i": index, "output": output}) + "\n")

        await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
    await client.close()
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bare AsyncOpenAI loop")
    parser.add_argument("requests")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", required=True)
    parser.add_argument("--max-retries", type=int, default=0,
                        help="the SDK's own retries (default 0; the rate-limit benchmark uses the SDK's default, 2)")
    parser.add_argument("--post", action="store_true", help="send through the client's post, not create")
    args = parser.parse_args(argv)
    with open(args.requests, encoding="utf-8") as handle:
        data = json.load(handle)
    requests = data["calls"]
    for request in requests:
        if "response_format" in request:
            request["response_format"] = data["response_formats"][request["response_format"]]
    failures = asyncio.run(call_all(requests, args.base_url, args.concurrency, args.out, args.max_retries, args.post))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
