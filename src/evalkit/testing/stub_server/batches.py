"""Batches (``evalkit run --batch``), in each provider's wire format.

``POST /v1/batches``                     OpenAI batch creation from an uploaded ``purpose=batch``
                                         JSONL file (``custom_id``, ``method``, ``url``, ``body``).
``GET  /v1/batches/{id}``                the batch; ``POST /v1/batches/{id}/cancel`` cancels it.
``POST /v1/messages/batches``            Anthropic Message Batch creation (``requests``:
                                         ``[{custom_id, params}]``).
``GET  /v1/messages/batches/{id}``       the batch; ``.../results`` its results as JSONL;
                                         ``POST .../cancel`` cancels it.

The input and output files of OpenAI batches are the stub's ``files`` (see ``files``).

A batch reports itself in progress for the first ``batch_polls`` retrievals (default 1) and
ends on the next one: then every request is answered by the responder, exactly as the live
endpoint would answer it (OpenAI: output and error files; Anthropic: per-request results).
``batch_order`` sets the order of the result lines: ``"request"`` (default), ``"reverse"`` or
``"shuffle"`` (seeded).  ``batch_fault(kind, number, body)`` injects per-request failures:
``number`` is the batch's 0-based creation ordinal, ``body`` the request's body; return None,
``"expired"``, ``"errored"`` (a 500 / api_error) or ``("errored", status, message)``.  An
OpenAI batch with an expired request ends ``expired`` (the rest still answered), as a batch
whose completion window ran out does.  ``batches_created`` counts successful creations (both
providers) and ``batches`` keeps each batch by id, with its ``requests`` as
``[(custom_id, body)]``.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evalkit.testing.stub_server.common import (
    Handled,
    StubRequest,
    _BadRequest,
    _NotFound,
    anthropic_error_body,
    openai_error_body,
)


class _BatchesMixin:
    """The batch endpoints of StubServer (see the module docstring)."""

    # Set by StubServer.__init__ (or defined by a sibling mixin); declared for the type checker.
    _lock: threading.Lock
    files: dict[str, dict[str, Any]]
    batches: dict[str, dict[str, Any]]
    batch_order: str
    batch_polls: int
    batch_fault: Callable[[str, int, dict[str, Any]], Any] | None
    seed: int

    if TYPE_CHECKING:
        @property
        def url(self) -> str: ...

        async def _handle_chat_completions(self, req: StubRequest) -> Handled: ...

        async def _handle_messages(self, req: StubRequest) -> Handled: ...

        def _store_file(self, provider: str, upload: Any, purpose: Any, filename: str | None = None) -> dict[str, Any]:
            ...

    _ANTHROPIC_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
    _OPENAI_ENDED = ("completed", "expired", "cancelled", "failed")

    def _new_batch(self, kind: str, requests: list[tuple[str, dict[str, Any]]], **fields: Any) -> dict[str, Any]:
        with self._lock:
            number = len(self.batches)
            batch_id = f"batch_stub{number + 1}" if kind == "openai" else f"msgbatch_stub{number + 1}"
            batch = {"id": batch_id, "kind": kind, "number": number, "requests": requests, "polls": 0,
                     "created_at": int(time.time()), "ended_at": None, "cancelled": False, "results": None, **fields}
            self.batches[batch_id] = batch
        return batch

    def _batch(self, req: StubRequest, kind: str) -> tuple[dict[str, Any], str]:
        batch_id, _, tail = req.rest.partition("/")
        batch = self.batches.get(batch_id)
        if batch is None or batch["kind"] != kind:
            raise _NotFound(f"No batch found with id {batch_id!r}.")
        return batch, tail

    def _ordered(self, items: list[Any], batch: dict[str, Any]) -> list[Any]:
        if self.batch_order == "reverse":
            return list(reversed(items))
        if self.batch_order == "shuffle":
            items = list(items)
            random.Random(self.seed * 7919 + batch["number"]).shuffle(items)
        return items

    def _fault(self, kind: str, batch: dict[str, Any], body: dict[str, Any]) -> tuple[str, int, str] | None:
        """(what, status, message) for an injected failure, or None."""
        if batch["cancelled"]:
            return ("canceled", 0, "The batch was cancelled before this request ran.")
        fault = self.batch_fault(kind, batch["number"], body) if self.batch_fault is not None else None
        if fault is None:
            return None
        if fault == "expired":
            return ("expired", 0, "This request could not be executed before the completion window expired.")
        if fault == "errored":
            return ("errored", 500, "Stub injected batch item error (Internal Server Error).")
        what, status, message = fault
        return (what, int(status), message)

    async def _answer_item(self, kind: str, batch: dict[str, Any], index: int, body: dict[str, Any]) -> tuple[int, Any]:
        """One batched request answered as the live endpoint answers it: (status, payload)."""
        request_id = f"req_b{batch['number'] + 1}x{index + 1}"
        req = StubRequest(-1, request_id, kind, "POST", "", "", "", {}, body)
        try:
            if kind == "openai":
                status, payload, _ = await self._handle_chat_completions(req)
            else:
                status, payload, _ = await self._handle_messages(req)
        except _BadRequest as exc:
            if kind == "openai":
                return 400, openai_error_body(400, str(exc))
            return 400, anthropic_error_body(400, str(exc))
        return status, payload

    def _should_end(self, batch: dict[str, Any]) -> bool:
        batch["polls"] += 1
        return batch["results"] is None and (batch["cancelled"] or batch["polls"] > self.batch_polls)

    # OpenAI

    def _output_file(self, lines: list[dict[str, Any]], batch: dict[str, Any], name: str) -> str | None:
        if not lines:
            return None
        content = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in self._ordered(lines, batch))
        upload = {"filename": f"{batch['id']}_{name}.jsonl", "bytes": len(content.encode("utf-8")), "content": content}
        return self._store_file("openai", upload, "batch_output")["id"]

    async def _handle_openai_batch_create(self, req: StubRequest) -> Handled:
        body = req.body
        for field in ("input_file_id", "endpoint", "completion_window"):
            if not body.get(field):
                raise _BadRequest(f"Missing required parameter: '{field}'.")
        if body["endpoint"] != "/v1/chat/completions":
            raise _BadRequest(f"endpoint: the stub batches only /v1/chat/completions, not {body['endpoint']!r}.")
        if body["completion_window"] != "24h":
            raise _BadRequest("completion_window: only '24h' is supported.")
        stored = self.files.get(body["input_file_id"])
        if stored is None or stored["provider"] != "openai":
            raise _BadRequest(f"input_file_id: no such file {body['input_file_id']!r}.")
        if stored["purpose"] != "batch":
            raise _BadRequest(f"input_file_id: the file's purpose is {stored['purpose']!r}, not 'batch'.")
        requests: list[tuple[str, dict[str, Any]]] = []
        problems: list[dict[str, Any]] = []
        seen: set = set()
        models: set = set()
        for number, line in enumerate(stored["content"].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                problems.append(
                    {"code": "invalid_json_line", "line": number, "message": "This line is not valid JSON."}
                )
                continue
            if not isinstance(item, dict) or not isinstance(item.get("body"), dict) or not item.get("custom_id"):
                problems.append(
                    {
                        "code": "invalid_request",
                        "line": number,
                        "message": "Each line needs custom_id, method, url and body.",
                    }
                )
            elif item.get("method") != "POST" or item.get("url") != body["endpoint"]:
                problems.append(
                    {
                        "code": "invalid_url",
                        "line": number,
                        "message": f"The url must be {body['endpoint']} with method POST.",
                    }
                )
            elif item["custom_id"] in seen:
                problems.append(
                    {
                        "code": "duplicate_custom_id",
                        "line": number,
                        "message": f"The custom_id {item['custom_id']!r} is not unique.",
                    }
                )
            else:
                seen.add(item["custom_id"])
                models.add(item["body"].get("model"))
                requests.append((item["custom_id"], item["body"]))
        if len(models) > 1:
            problems.append(
                {
                    "code": "mismatched_model",
                    "line": None,
                    "message": "All requests of a batch must use the same model.",
                }
            )
        batch = self._new_batch("openai", requests, endpoint=body["endpoint"], input_file_id=body["input_file_id"],
                                metadata=body.get("metadata"), errors=problems or None,
                                status="failed" if problems else "validating", output_file_id=None, error_file_id=None)
        return 200, self._openai_batch_object(batch), None

    async def _finish_openai_batch(self, batch: dict[str, Any]) -> None:
        outputs: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        expired = False
        for index, (custom_id, body) in enumerate(batch["requests"]):
            line_id = f"batch_req_stub{batch['number'] + 1}x{index + 1}"
            fault = self._fault("openai", batch, body)
            if fault is not None and fault[0] in ("expired", "canceled"):
                expired = expired or fault[0] == "expired"
                code = "batch_expired" if fault[0] == "expired" else "batch_cancelled"
                errors.append({"id": line_id, "custom_id": custom_id, "response": None,
                               "error": {"code": code, "message": fault[2]}})
                continue
            if fault is not None:
                status, payload = fault[1], openai_error_body(fault[1], fault[2])
            else:
                status, payload = await self._answer_item("openai", batch, index, body)
            line = {
                "id": line_id,
                "custom_id": custom_id,
                "error": None,
                "response": {
                    "status_code": status,
                    "request_id": f"req_b{batch['number'] + 1}x{index + 1}",
                    "body": payload,
                },
            }
            (outputs if status == 200 else errors).append(line)
        batch["results"] = outputs + errors
        batch["output_file_id"] = self._output_file(outputs, batch, "output")
        batch["error_file_id"] = self._output_file(errors, batch, "errors")
        batch["counts"] = {"total": len(batch["requests"]), "completed": len(outputs), "failed": len(errors)}
        batch["status"] = "cancelled" if batch["cancelled"] else ("expired" if expired else "completed")
        batch["ended_at"] = int(time.time())

    def _openai_batch_object(self, batch: dict[str, Any]) -> dict[str, Any]:
        status = batch["status"]
        counts = batch.get("counts") or {"total": len(batch["requests"]), "completed": 0, "failed": 0}
        ended = batch["ended_at"]
        return {
            "id": batch["id"],
            "object": "batch",
            "endpoint": batch["endpoint"],
            "errors": {"object": "list", "data": batch["errors"]} if batch["errors"] else None,
            "input_file_id": batch["input_file_id"],
            "completion_window": "24h",
            "status": status,
            "output_file_id": batch["output_file_id"],
            "error_file_id": batch["error_file_id"],
            "created_at": batch["created_at"],
            "in_progress_at": batch["created_at"] if status != "validating" else None,
            "expires_at": batch["created_at"] + 86400,
            "finalizing_at": ended,
            "completed_at": ended if status == "completed" else None,
            "failed_at": ended if status == "failed" else None,
            "expired_at": ended if status == "expired" else None,
            "cancelling_at": ended if status == "cancelled" else None,
            "cancelled_at": ended if status == "cancelled" else None,
            "request_counts": counts,
            "metadata": batch["metadata"],
            "model": batch["requests"][0][1].get("model") if batch["requests"] else None,
        }

    async def _handle_openai_batch_list(self, req: StubRequest) -> Handled:
        """Every OpenAI batch, newest first, on one page (the SDK's paginator stops at has_more false)."""
        with self._lock:
            batches = [b for b in self.batches.values() if b["kind"] == "openai"]
        data = [self._openai_batch_object(b) for b in reversed(batches)]
        return 200, {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                     "last_id": data[-1]["id"] if data else None, "has_more": False}, None

    async def _handle_openai_batch(self, req: StubRequest) -> Handled:
        batch, tail = self._batch(req, "openai")
        if tail:
            raise _NotFound(f"Invalid URL (GET {req.path})")
        if batch["status"] not in self._OPENAI_ENDED:
            if self._should_end(batch):
                await self._finish_openai_batch(batch)
            else:
                batch["status"] = "in_progress"
        return 200, self._openai_batch_object(batch), None

    async def _handle_openai_batch_cancel(self, req: StubRequest) -> Handled:
        batch, tail = self._batch(req, "openai")
        if tail != "cancel":
            raise _NotFound(f"Invalid URL (POST {req.path})")
        if batch["status"] not in self._OPENAI_ENDED:
            batch["cancelled"] = True
            batch["status"] = "cancelling"
        return 200, self._openai_batch_object(batch), None

    # Anthropic

    async def _handle_anthropic_batch_create(self, req: StubRequest) -> Handled:
        requests = req.body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise _BadRequest("requests: Field required (a non-empty list)")
        seen: set = set()
        checked: list[tuple[str, dict[str, Any]]] = []
        for index, item in enumerate(requests):
            custom_id = item.get("custom_id") if isinstance(item, dict) else None
            params = item.get("params") if isinstance(item, dict) else None
            if not isinstance(custom_id, str) or not self._ANTHROPIC_CUSTOM_ID.match(custom_id):
                raise _BadRequest(f"requests.{index}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
            if custom_id in seen:
                raise _BadRequest(f"requests.{index}.custom_id: {custom_id!r} is not unique within the batch")
            if not isinstance(params, dict):
                raise _BadRequest(f"requests.{index}.params: Field required")
            for field in ("model", "messages", "max_tokens"):
                if field not in params:
                    raise _BadRequest(f"requests.{index}.params.{field}: Field required")
            seen.add(custom_id)
            checked.append((custom_id, params))
        batch = self._new_batch("anthropic", checked)
        return 200, self._anthropic_batch_object(batch), None

    async def _finish_anthropic_batch(self, batch: dict[str, Any]) -> None:
        results: list[dict[str, Any]] = []
        for index, (custom_id, params) in enumerate(batch["requests"]):
            fault = self._fault("anthropic", batch, params)
            if fault is not None and fault[0] in ("expired", "canceled"):
                result: dict[str, Any] = {"type": fault[0]}
            elif fault is not None:
                result = {
                    "type": "errored",
                    "error": anthropic_error_body(fault[1], fault[2], f"req_b{batch['number'] + 1}x{index + 1}"),
                }
            else:
                status, payload = await self._answer_item("anthropic", batch, index, params)
                result = (
                    {"type": "succeeded", "message": payload}
                    if status == 200
                    else {"type": "errored", "error": payload}
                )
            results.append({"custom_id": custom_id, "result": result})
        batch["results"] = results
        batch["ended_at"] = int(time.time())

    @staticmethod
    def _rfc3339(stamp: int | None) -> str | None:
        return None if stamp is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))

    def _anthropic_batch_object(self, batch: dict[str, Any]) -> dict[str, Any]:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if batch["results"] is None:
            counts["processing"] = len(batch["requests"])
        else:
            for item in batch["results"]:
                counts[item["result"]["type"]] += 1
        ended = batch["ended_at"] is not None
        return {
            "id": batch["id"], "type": "message_batch",
            "processing_status": "ended" if ended else ("canceling" if batch["cancelled"] else "in_progress"),
            "request_counts": counts, "ended_at": self._rfc3339(batch["ended_at"]),
            "created_at": self._rfc3339(batch["created_at"]), "expires_at": self._rfc3339(batch["created_at"] + 86400),
            "archived_at": None, "cancel_initiated_at": None,
            "results_url": f"{self.url}/v1/messages/batches/{batch['id']}/results" if ended else None,
        }

    async def _handle_anthropic_batch(self, req: StubRequest) -> Handled:
        batch, tail = self._batch(req, "anthropic")
        if tail == "results":
            if batch["results"] is None:
                raise _BadRequest(f"Message Batch {batch['id']} has not yet ended: its results are not available.")
            lines = self._ordered(batch["results"], batch)
            content = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode("utf-8")
            return 200, content, {"content-type": "application/binary"}
        if tail:
            raise _NotFound(f"Invalid URL (GET {req.path})")
        if self._should_end(batch):
            await self._finish_anthropic_batch(batch)
        return 200, self._anthropic_batch_object(batch), None

    async def _handle_anthropic_batch_cancel(self, req: StubRequest) -> Handled:
        batch, tail = self._batch(req, "anthropic")
        if tail != "cancel":
            raise _NotFound(f"Invalid URL (POST {req.path})")
        if batch["results"] is None:
            batch["cancelled"] = True
        return 200, self._anthropic_batch_object(batch), None
