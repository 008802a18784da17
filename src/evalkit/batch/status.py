"""What `evalkit batch status RUN_DIR` reports: each batch of the run with its state and
counts, asking the provider about the batches still open (unless told not to, or no key is
set), and how many of each batch's requests already have a row. Nothing is written: the run
itself (or its resume) is the only writer of batches.json."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path
from typing import Any

from evalkit.batch.state import BatchRecord, BatchState
from evalkit.errors import BadInput
from evalkit.providers.base import ProviderError


def describe_counts(counts: dict[str, int]) -> str:
    """`completed 48, failed 2 of 50` (OpenAI) or `succeeded 48, expired 2` (Anthropic)."""
    shown = ", ".join(f"{name} {n}" for name, n in counts.items() if n and name != "total")
    if "total" in counts:
        return f"{shown or 'none done'} of {counts['total']}"
    return shown or "-"


async def _ask(records: list[BatchRecord]) -> dict[str, Any]:
    """The provider's current word on each record: a Progress, or the reason it could not be had."""
    from evalkit.batch.adapters import adapter_by_name

    async def one(record: BatchRecord):
        key = os.environ.get(record.api_key_env or "")
        if not key:
            return f"stored state ({record.api_key_env or 'the key'} is not set)"
        adapter = adapter_by_name(record.provider)(record.base_url, key)
        try:
            return await adapter.progress(record.id)
        except ProviderError as error:
            return f"stored state (the provider did not answer: {error.message})"
        finally:
            await adapter.aclose()

    answers = await asyncio.gather(*(one(r) for r in records))
    return {record.id: answer for record, answer in zip(records, answers)}


def batch_status(run_dir: str | Path, *, refresh: bool = True) -> dict[str, Any]:
    """`{"run_dir", "suite", "open", "batches": [{id, provider, route, model, attempt, requests,
    rows, status, ended, counts, submitted_at, ended_at, error, source}]}`; `source` is
    "provider" when the state was just asked for, else why the stored state is shown. `rows`
    counts the rows this batch answered (a resubmitted request's row belongs to the new batch)."""
    from evalkit import store

    run_dir = Path(run_dir)
    state = BatchState.load(run_dir)
    if state is None:
        raise BadInput("this run has no batches.json: it did not run with --batch", where=str(run_dir))
    manifest_path = run_dir / store.MANIFEST
    suite = None
    if manifest_path.exists():
        import json

        suite = json.loads(manifest_path.read_text(encoding="utf-8")).get("suite", {}).get("path")
    rows = Counter(r.get("batch_id") for r in store.load_rows(run_dir) if r.get("batch_id"))
    open_records = [r for r in state.batches if not r.ended and r.confirmed]
    fresh = asyncio.run(_ask(open_records)) if refresh and open_records else {}
    batches = []
    for record in state.batches:
        entry = {"id": record.id, "provider": record.provider, "route": record.route, "model": record.model,
                 "attempt": record.attempt, "requests": len(record.requests), "rows": rows.get(record.id, 0),
                 "status": record.status, "ended": record.ended, "counts": dict(record.counts),
                 "submitted_at": record.submitted_at, "ended_at": record.ended_at, "error": record.error,
                 "source": "stored state" if record.ended else "stored state (not asked)"}
        if not record.confirmed:
            entry.update(status="unconfirmed", source="the run stopped before the provider's answer to this "
                                                     "submission was recorded: resuming the run looks it up")
        answer = fresh.get(record.id)
        if isinstance(answer, str):
            entry["source"] = answer
        elif answer is not None:
            entry.update(status=answer.status, ended=answer.ended, counts=dict(answer.counts), source="provider",
                         error=answer.error or record.error)
        batches.append(entry)
    return {
        "run_dir": str(run_dir),
        "suite": suite,
        "open": sum(1 for b in batches if not b["ended"]),
        "batches": batches,
    }
