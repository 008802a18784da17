"""`replay:PATH`: recorded raw outputs, one JSONL line per case (DESIGN section 5).

A line is `{"case_id": ..., "output": "..."}` with optional `route`, `repeat`,
`latency_ms`, `input_tokens`, `output_tokens`. Lines that name another route are
ignored, and a line that names this route wins over one that names none; a case with
no line becomes an error row, never a crash.
"""

from __future__ import annotations

import json
from typing import Any

from evalkit.errors import BadInput
from evalkit.providers.base import Provider, ProviderError, ProviderRequest, ProviderResponse


class ReplayProvider(Provider):
    def prepare(self) -> None:
        from evalkit.yamlfile import jsonl_records, read_text

        path = self.suite.resolve(self.model)
        self.path = path
        own: dict[tuple[str, int], dict[str, Any]] = {}  # lines that name this route
        shared: dict[tuple[str, int], dict[str, Any]] = {}  # lines that name no route
        for number, record in jsonl_records(path, read_text(path, "replay file")):
            if not isinstance(record, dict) or "case_id" not in record or "output" not in record:
                raise BadInput("a replay line needs case_id and output", where=f"{path}:{number}")
            if record.get("route") not in (None, self.route_name):
                continue
            key = (str(record["case_id"]), int(record.get("repeat", 0)))
            (shared if record.get("route") is None else own).setdefault(key, record)
        self._lines = {**shared, **own}

    async def complete(self, request: ProviderRequest) -> ProviderResponse:
        record = self._lines.get((request.case_id, request.repeat)) or self._lines.get((request.case_id, 0))
        if record is None:
            raise ProviderError("replay_missing", f"no recorded output for case {request.case_id!r} in {self.path.name}")
        output = record["output"]
        if output is None:
            raise ProviderError("replay_error", str(record.get("error") or "the recorded call returned no output"))
        return ProviderResponse(
            text=output if isinstance(output, str) else json.dumps(output),
            model=record.get("model"),
            input_tokens=record.get("input_tokens"),
            output_tokens=record.get("output_tokens"),
            latency_ms=record.get("latency_ms"),
        )

    def model_info(self) -> dict[str, Any]:
        return {"resolved_model": f"replay:{self.model}"}
