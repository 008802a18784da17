"""`replay:PATH`: answers from a recording, checked against the request the run would send.

A recording is JSONL, one line per call: `{"case_id": ..., "output": "..."}`, with optional
`route` (a line without one answers every route; a line naming the route wins), `repeat`
(none means repeat 0), `latency_ms`, `input_tokens`, `output_tokens`, `model`, and what a run
writes for each row: `request_sha256` and `request_parts` (evalkit.fingerprint) and
`provenance`. A run's results.jsonl is a recording as it stands, and `evalkit record` keeps
only these fields. A call with no line becomes an error row, never a crash.

The line travels with the answer, so the executor can tell a verified recording (the same
request, answered live) from a stale one, a stand-in's, or one without fingerprints
(evalkit.provenance).
"""

from __future__ import annotations

import json
from typing import Any

from evalkit.errors import BadInput
from evalkit.providers.base import Provider, ProviderError, ProviderRequest, ProviderResponse


class ReplayProvider(Provider):
    provenance = "unverified"  # of a call with no line; answered ones are judged line by line

    def prepare(self) -> None:
        from evalkit.yamlfile import jsonl_records, read_text

        path = self.suite.resolve(self.model)
        self.path = path
        own: dict[tuple[str, int], dict[str, Any]] = {}  # lines that name this route
        shared: dict[tuple[str, int], dict[str, Any]] = {}  # lines that name no route
        case_ids = set()
        for number, record in jsonl_records(path, read_text(path, "recording")):
            if not isinstance(record, dict) or "case_id" not in record or "output" not in record:
                raise BadInput("a recording line needs case_id and output", where=f"{path}:{number}")
            case_ids.add(str(record["case_id"]))
            if record.get("route") not in (None, self.route_name):
                continue
            key = (str(record["case_id"]), int(record.get("repeat") or 0))
            (shared if record.get("route") is None else own).setdefault(key, record)
        holdout = {case.id for case in getattr(self.suite, "holdout", [])}
        if holdout and not case_ids & holdout:
            raise BadInput(f"the recording answers none of the suite's {len(holdout)} cases "
                           f"(its case ids: {', '.join(sorted(case_ids)[:3]) or 'none'}...): "
                           f"is it the recording of another suite?", where=str(path))
        self._lines = {**shared, **own}

    async def complete(self, request: ProviderRequest) -> ProviderResponse:
        record = self._lines.get((request.case_id, request.repeat))
        if record is None:
            raise ProviderError("replay_missing", f"no recorded output for case {request.case_id!r} "
                                                  f"(repeat {request.repeat}) in {self.path.name}")
        output = record["output"]
        if output is None:
            error = record.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            raise ProviderError("replay_error", str(message or "the recorded call returned no output"))
        return ProviderResponse(
            text=output if isinstance(output, str) else json.dumps(output),
            model=record.get("model"),
            input_tokens=record.get("input_tokens"),
            output_tokens=record.get("output_tokens"),
            latency_ms=record.get("latency_ms"),
            cached_input_tokens=record.get("cached_input_tokens"),
            cache_write_tokens=record.get("cache_write_tokens"),
            reasoning_tokens=record.get("reasoning_tokens"),
            recording=record,
        )

    def model_info(self) -> dict[str, Any]:
        return {"resolved_model": f"replay:{self.model}"}
