"""A local HTTP stub of the OpenAI and Anthropic APIs, for tests and benchmarks.

The stub listens on ``127.0.0.1`` only (an ephemeral port) and runs an asyncio
event loop in one background thread.  HTTP/1.1 is parsed by hand (request line,
headers, ``Content-Length`` or chunked body, ``Expect: 100-continue``) and
connections are kept alive, so the SDKs' httpx connection pools reuse them.
Latency is an ``asyncio.sleep``, so hundreds of requests can be in flight at
once without a thread each.

Usage::

    with StubServer(lambda kind, body: '{"label": "spam"}', latency_ms=20) as stub:
        client = openai.OpenAI(base_url=stub.base_url_openai, api_key="sk-test", max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        assert stub.requests[0]["json"]["model"] == "gpt-4o-mini"

Endpoints
---------
``POST /v1/chat/completions``  OpenAI Chat Completion object; header ``x-request-id``.
``POST /v1/messages``          Anthropic Message object; header ``request-id``.
``GET  /v1/models``            OpenAI model list.
``GET  /v1/models/{id}``       OpenAI model object, with ``shutdown_date`` when known.

Fine-tuning (``evalkit ft launch`` / ``status``), in each provider's wire format:

``POST /v1/files``                       OpenAI file upload (multipart: ``purpose``, ``file``).
``POST /v1/fine_tuning/jobs``            OpenAI ``fine_tuning.job`` creation.
``GET  /v1/fine_tuning/jobs/{id}``       the job; each retrieval moves it one status on
                                         (validating_files, queued, running, succeeded).
``GET  /v1/fine_tuning/jobs/{id}/events`` its events, newest first.
``POST /v1/files/upload``                Together file upload (multipart: ``purpose``,
                                         ``file_name``, ``file_type``, ``file``).
``POST /v1/fine-tunes``                  Together job creation (``training_file``, ``model``,
                                         ``n_epochs``, ``training_method``, ``training_type``).
``GET  /v1/fine-tunes/{id}``             the job; each retrieval moves it on (pending, queued,
                                         running, completed).
``GET  /v1/fine-tunes/{id}/events``      ``{"data": [events]}``, oldest first.

``fine_tuning_refusal=(status, message)`` refuses every job creation with that error (an
organisation no longer allowed to tune); ``fine_tunable_models`` limits the base models
(others get 400 "not available for fine-tuning"); ``fine_tuning_outcome="failed"`` makes jobs
end failed.  Uploaded files are kept in ``files`` (id -> record with the ``content``) and jobs
in ``fine_tuning_jobs``.  Multipart bodies are parsed into a dict of fields; a file field
becomes ``{"filename", "content_type", "bytes", "content"}``.

Batches (``evalkit run --batch``), in each provider's wire format:

``GET  /v1/files/{id}``                  OpenAI file object; ``/v1/files/{id}/content`` its bytes.
``POST /v1/batches``                     OpenAI batch creation from an uploaded ``purpose=batch``
                                         JSONL file (``custom_id``, ``method``, ``url``, ``body``).
``GET  /v1/batches/{id}``                the batch; ``POST /v1/batches/{id}/cancel`` cancels it.
``POST /v1/messages/batches``            Anthropic Message Batch creation (``requests``:
                                         ``[{custom_id, params}]``).
``GET  /v1/messages/batches/{id}``       the batch; ``.../results`` its results as JSONL;
                                         ``POST .../cancel`` cancels it.

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

Anything else is answered 404 in the OpenAI error shape; a body that is not
JSON (or not a JSON object on a POST) is answered 400 in the route's shape.
``stream: true`` is refused with 400: the stub does not speak SSE.

Routing is the ``ROUTES`` table: ``(method, path) -> (kind, handler name)``.
A path ending in ``/`` matches as a prefix (longest prefix wins) and the
handler gets the rest of the path, URL-decoded, as ``req.rest``; any other path
matches exactly.  To add an endpoint, add a row and an ``async def
_handle_...(self, req) -> (status, payload, extra_headers)`` method.

``requests`` holds one dict per request received, in arrival order: ``n``,
``request_id``, ``path`` (without the query), ``query``, ``method``,
``headers`` (lower-cased names), ``json`` (parsed body or None) and ``status``
(None while in flight, 0 when no response was sent).

Failure injection
-----------------
* ``error_rate``: each routed request fails, with probability ``error_rate``,
  with a status drawn from ``error_statuses``; the response carries
  ``retry-after`` when ``retry_after_s`` is set, ``retry-after-ms`` when
  ``retry_after_ms`` is set and ``x-should-retry`` when ``should_retry`` is set.
* ``fail_script(n, kind, body)``: ``n`` is the request's 0-based ordinal since
  start (or the last ``reset_counts``), equal to its index in ``requests``;
  ``kind`` is ``"openai"`` or ``"anthropic"``; ``body`` the parsed JSON (None on
  GET).  Return None to answer normally, or ``(status, headers, message)`` or
  ``(status, headers, message, delay_s)``: an error response in the provider's
  shape with those extra headers (``message`` None for a default), sent after
  ``delay_s`` seconds instead of the configured latency.  A status of
  ``"hang"`` (or 0) sends no response: the stub waits ``delay_s`` seconds
  (default 60) and then closes the connection, so a client timeout shorter than
  that fires first; ``hang(0)`` drops the connection at once.  The helpers
  ``fail(...)`` and ``hang(...)`` build these tuples.  Scripted failures win
  over ``error_rate``; the random draws are made for every routed request either
  way, so a script does not shift the seeded sequence.  ``responder`` and
  ``fail_script`` run on the stub's event-loop thread: keep them quick (a
  responder may also be an ``async def``).
* Latency (``latency_ms`` +/- uniform ``jitter_ms``, seeded) applies to every
  routed answer, errors included; 404s and unparseable bodies are answered at
  once.

What the SDKs do on their own (openai 3.x, anthropic 2.x, read from their
``_base_client.py``): with ``max_retries > 0`` both retry 408, 409, 429 and
every 5xx, and connection errors and timeouts; ``x-should-retry: true`` /
``false`` overrides that decision either way.  The wait is ``retry-after-ms``
(preferred) or ``retry-after`` (seconds, float allowed, or an HTTP date);
OpenAI honours it only within (0, 120] s and refuses to retry at all above
120 s, Anthropic honours any positive value; otherwise exponential backoff
from 0.5 s up to 8 s with up to 25 % jitter.  Request ids surface as
``APIStatusError.request_id`` from ``x-request-id`` (OpenAI) or ``request-id``
(Anthropic).  evalkit builds its clients with ``max_retries=0`` and retries by
itself, so the stub never depends on SDK retries, and it only sends
``x-should-retry`` when asked to.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import re
import threading
import time
from http import HTTPStatus
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import unquote

__all__ = ["StubServer", "default_responder", "fail", "hang", "HANG"]

log = logging.getLogger(__name__)

HANG = "hang"
DEFAULT_HANG_S = 60.0
_HOST = "127.0.0.1"
_HEAD_LIMIT = 1 << 20  # max bytes of request line + headers
_MODEL_CREATED = 1_700_000_000

Responder = Callable[[str, Dict[str, Any]], Union[str, Dict[str, Any], Awaitable[Union[str, Dict[str, Any]]]]]
FailScript = Callable[[int, str, Any], Optional[tuple]]
Handled = Tuple[int, Any, Optional[Dict[str, str]]]

_PHRASES = {s.value: s.phrase for s in HTTPStatus}
_PHRASES.setdefault(529, "Overloaded")

_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def default_responder(kind: str, body: Dict[str, Any]) -> str:
    """The stub's default answer: the same small JSON document for every request."""
    return '{"label": "ok"}'


def _fmt_seconds(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def fail(
    status: int,
    message: Optional[str] = None,
    *,
    retry_after: Optional[float] = None,
    retry_after_ms: Optional[float] = None,
    should_retry: Optional[bool] = None,
    headers: Optional[Mapping[str, str]] = None,
    delay_s: Optional[float] = None,
) -> tuple:
    """Build a ``fail_script`` return value for an error response."""
    extra = {k.lower(): str(v) for k, v in (headers or {}).items()}
    if retry_after is not None:
        extra["retry-after"] = _fmt_seconds(retry_after)
    if retry_after_ms is not None:
        extra["retry-after-ms"] = _fmt_seconds(retry_after_ms)
    if should_retry is not None:
        extra["x-should-retry"] = "true" if should_retry else "false"
    if delay_s is None:
        return (status, extra, message)
    return (status, extra, message, float(delay_s))


def hang(seconds: float = DEFAULT_HANG_S) -> tuple:
    """Build a ``fail_script`` return value: no response, connection closed after ``seconds``."""
    return (HANG, {}, None, float(seconds))


def openai_error_body(status: int, message: str, code: Optional[str] = None) -> Dict[str, Any]:
    """The OpenAI error document: ``{"error": {"message", "type", "param", "code"}}``."""
    if status == 429:
        err_type, default_code = "requests", "rate_limit_exceeded"
    elif status >= 500:
        err_type, default_code = "server_error", None
    elif status == 401:
        err_type, default_code = "invalid_request_error", "invalid_api_key"
    else:
        err_type, default_code = "invalid_request_error", None
    return {"error": {"message": message, "type": err_type, "param": None, "code": code or default_code}}


def anthropic_error_body(status: int, message: str, request_id: Optional[str] = None) -> Dict[str, Any]:
    """The Anthropic error document: ``{"type": "error", "error": {"type", "message"}, "request_id"}``."""
    err_type = _ANTHROPIC_ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    doc: Dict[str, Any] = {"type": "error", "error": {"type": err_type, "message": message}}
    if request_id is not None:
        doc["request_id"] = request_id
    return doc


def _text_len(content: Any) -> int:
    """Characters of text in a message ``content`` (a string or a list of parts)."""
    if content is None:
        return 0
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        total = 0
        for part in content:
            if isinstance(part, str):
                total += len(part)
            elif isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    total += len(part["text"])
                elif "content" in part:
                    total += _text_len(part["content"])
                elif "input" in part:
                    total += len(json.dumps(part["input"]))
        return total
    return len(json.dumps(content))


def _messages_chars(messages: Any) -> int:
    if not isinstance(messages, list):
        return 0
    return sum(_text_len(m.get("content")) for m in messages if isinstance(m, dict))


def _as_json_object(value: Any) -> Optional[Dict[str, Any]]:
    if isinstance(value, dict):
        return value
    if isinstance(value, (str, bytes)):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


class _BadRequest(Exception):
    """Raised by handlers to answer 400 in the route's error shape."""


class StubRequest:
    """What a route handler receives."""

    __slots__ = ("n", "request_id", "kind", "method", "path", "rest", "query", "headers", "body")

    def __init__(self, n: int, request_id: str, kind: str, method: str, path: str, rest: str,
                 query: str, headers: Dict[str, str], body: Any) -> None:
        self.n = n
        self.request_id = request_id
        self.kind = kind
        self.method = method
        self.path = path
        self.rest = rest
        self.query = query
        self.headers = headers
        self.body = body


class _BatchesMixin:
    """The batch endpoints of StubServer (see the module docstring)."""

    _ANTHROPIC_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
    _OPENAI_ENDED = ("completed", "expired", "cancelled", "failed")

    def _new_batch(self, kind: str, requests: List[Tuple[str, Dict[str, Any]]], **fields: Any) -> Dict[str, Any]:
        with self._lock:
            number = len(self.batches)
            batch_id = f"batch_stub{number + 1}" if kind == "openai" else f"msgbatch_stub{number + 1}"
            batch = {"id": batch_id, "kind": kind, "number": number, "requests": requests, "polls": 0,
                     "created_at": int(time.time()), "ended_at": None, "cancelled": False, "results": None, **fields}
            self.batches[batch_id] = batch
        return batch

    def _batch(self, req: StubRequest, kind: str) -> Tuple[Dict[str, Any], str]:
        batch_id, _, tail = req.rest.partition("/")
        batch = self.batches.get(batch_id)
        if batch is None or batch["kind"] != kind:
            raise _NotFound(f"No batch found with id {batch_id!r}.")
        return batch, tail

    def _ordered(self, items: List[Any], batch: Dict[str, Any]) -> List[Any]:
        if self.batch_order == "reverse":
            return list(reversed(items))
        if self.batch_order == "shuffle":
            items = list(items)
            random.Random(self.seed * 7919 + batch["number"]).shuffle(items)
        return items

    def _fault(self, kind: str, batch: Dict[str, Any], body: Dict[str, Any]) -> Optional[Tuple[str, int, str]]:
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

    async def _answer_item(self, kind: str, batch: Dict[str, Any], index: int, body: Dict[str, Any]) -> Tuple[int, Any]:
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

    def _should_end(self, batch: Dict[str, Any]) -> bool:
        batch["polls"] += 1
        return batch["results"] is None and (batch["cancelled"] or batch["polls"] > self.batch_polls)

    # OpenAI

    async def _handle_openai_file(self, req: StubRequest) -> Handled:
        file_id, _, tail = req.rest.partition("/")
        stored = self.files.get(file_id)
        if stored is None or stored["provider"] != "openai" or tail not in ("", "content"):
            raise _NotFound(f"No such File object: {file_id}")
        if tail == "content":
            return 200, stored["content"].encode("utf-8"), {"content-type": "application/octet-stream"}
        return 200, {"id": file_id, "object": "file", "bytes": stored["bytes"], "created_at": int(time.time()),
                     "filename": stored["filename"], "purpose": stored["purpose"], "status": "processed",
                     "expires_at": None, "status_details": None}, None

    def _output_file(self, lines: List[Dict[str, Any]], batch: Dict[str, Any], name: str) -> Optional[str]:
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
        requests: List[Tuple[str, Dict[str, Any]]] = []
        problems: List[Dict[str, Any]] = []
        seen: set = set()
        models: set = set()
        for number, line in enumerate(stored["content"].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                problems.append({"code": "invalid_json_line", "line": number, "message": "This line is not valid JSON."})
                continue
            if not isinstance(item, dict) or not isinstance(item.get("body"), dict) or not item.get("custom_id"):
                problems.append({"code": "invalid_request", "line": number, "message": "Each line needs custom_id, method, url and body."})
            elif item.get("method") != "POST" or item.get("url") != body["endpoint"]:
                problems.append({"code": "invalid_url", "line": number, "message": f"The url must be {body['endpoint']} with method POST."})
            elif item["custom_id"] in seen:
                problems.append({"code": "duplicate_custom_id", "line": number, "message": f"The custom_id {item['custom_id']!r} is not unique."})
            else:
                seen.add(item["custom_id"])
                models.add(item["body"].get("model"))
                requests.append((item["custom_id"], item["body"]))
        if len(models) > 1:
            problems.append({"code": "mismatched_model", "line": None, "message": "All requests of a batch must use the same model."})
        batch = self._new_batch("openai", requests, endpoint=body["endpoint"], input_file_id=body["input_file_id"],
                                metadata=body.get("metadata"), errors=problems or None,
                                status="failed" if problems else "validating", output_file_id=None, error_file_id=None)
        return 200, self._openai_batch_object(batch), None

    async def _finish_openai_batch(self, batch: Dict[str, Any]) -> None:
        outputs: List[Dict[str, Any]] = []
        errors: List[Dict[str, Any]] = []
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
            line = {"id": line_id, "custom_id": custom_id, "error": None,
                    "response": {"status_code": status, "request_id": f"req_b{batch['number'] + 1}x{index + 1}", "body": payload}}
            (outputs if status == 200 else errors).append(line)
        batch["results"] = outputs + errors
        batch["output_file_id"] = self._output_file(outputs, batch, "output")
        batch["error_file_id"] = self._output_file(errors, batch, "errors")
        batch["counts"] = {"total": len(batch["requests"]), "completed": len(outputs), "failed": len(errors)}
        batch["status"] = "cancelled" if batch["cancelled"] else ("expired" if expired else "completed")
        batch["ended_at"] = int(time.time())

    def _openai_batch_object(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        status = batch["status"]
        counts = batch.get("counts") or {"total": len(batch["requests"]), "completed": 0, "failed": 0}
        ended = batch["ended_at"]
        return {
            "id": batch["id"], "object": "batch", "endpoint": batch["endpoint"], "errors":
            {"object": "list", "data": batch["errors"]} if batch["errors"] else None,
            "input_file_id": batch["input_file_id"], "completion_window": "24h", "status": status,
            "output_file_id": batch["output_file_id"], "error_file_id": batch["error_file_id"],
            "created_at": batch["created_at"], "in_progress_at": batch["created_at"] if status != "validating" else None,
            "expires_at": batch["created_at"] + 86400, "finalizing_at": ended,
            "completed_at": ended if status == "completed" else None, "failed_at": ended if status == "failed" else None,
            "expired_at": ended if status == "expired" else None,
            "cancelling_at": ended if status == "cancelled" else None, "cancelled_at": ended if status == "cancelled" else None,
            "request_counts": counts, "metadata": batch["metadata"],
            "model": batch["requests"][0][1].get("model") if batch["requests"] else None,
        }

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
        checked: List[Tuple[str, Dict[str, Any]]] = []
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

    async def _finish_anthropic_batch(self, batch: Dict[str, Any]) -> None:
        results: List[Dict[str, Any]] = []
        for index, (custom_id, params) in enumerate(batch["requests"]):
            fault = self._fault("anthropic", batch, params)
            if fault is not None and fault[0] in ("expired", "canceled"):
                result: Dict[str, Any] = {"type": fault[0]}
            elif fault is not None:
                result = {"type": "errored", "error": anthropic_error_body(fault[1], fault[2], f"req_b{batch['number'] + 1}x{index + 1}")}
            else:
                status, payload = await self._answer_item("anthropic", batch, index, params)
                result = {"type": "succeeded", "message": payload} if status == 200 else {"type": "errored", "error": payload}
            results.append({"custom_id": custom_id, "result": result})
        batch["results"] = results
        batch["ended_at"] = int(time.time())

    @staticmethod
    def _rfc3339(stamp: Optional[int]) -> Optional[str]:
        return None if stamp is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))

    def _anthropic_batch_object(self, batch: Dict[str, Any]) -> Dict[str, Any]:
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


class StubServer(_BatchesMixin):
    """OpenAI/Anthropic wire-format stub on 127.0.0.1; see the module docstring.

    Configuration attributes (``responder``, ``latency_ms``, ``jitter_ms``,
    ``error_rate``, ``error_statuses``, ``retry_after_s``, ``retry_after_ms``,
    ``should_retry``, ``fail_script``, ``model_shutdown_dates``) are read per
    request and may be changed while the server runs.
    """

    # (method, path) -> (kind, handler method name).  A path ending in "/" is a prefix.
    ROUTES: Dict[Tuple[str, str], Tuple[str, str]] = {
        ("POST", "/v1/chat/completions"): ("openai", "_handle_chat_completions"),
        ("POST", "/v1/messages"): ("anthropic", "_handle_messages"),
        ("GET", "/v1/models"): ("openai", "_handle_list_models"),
        ("GET", "/v1/models/"): ("openai", "_handle_retrieve_model"),
        # fine-tuning: OpenAI
        ("POST", "/v1/files"): ("openai", "_handle_openai_file_upload"),
        ("POST", "/v1/fine_tuning/jobs"): ("openai", "_handle_openai_ft_create"),
        ("GET", "/v1/fine_tuning/jobs/"): ("openai", "_handle_openai_ft_job"),
        # fine-tuning: Together (errors in the OpenAI shape, as Together answers them)
        ("POST", "/v1/files/upload"): ("together", "_handle_together_file_upload"),
        ("POST", "/v1/fine-tunes"): ("together", "_handle_together_ft_create"),
        ("GET", "/v1/fine-tunes/"): ("together", "_handle_together_ft_job"),
        # batches: OpenAI Batch API, Anthropic Message Batches
        ("GET", "/v1/files/"): ("openai", "_handle_openai_file"),
        ("POST", "/v1/batches"): ("openai", "_handle_openai_batch_create"),
        ("GET", "/v1/batches/"): ("openai", "_handle_openai_batch"),
        ("POST", "/v1/batches/"): ("openai", "_handle_openai_batch_cancel"),
        ("POST", "/v1/messages/batches"): ("anthropic", "_handle_anthropic_batch_create"),
        ("GET", "/v1/messages/batches/"): ("anthropic", "_handle_anthropic_batch"),
        ("POST", "/v1/messages/batches/"): ("anthropic", "_handle_anthropic_batch_cancel"),
    }

    def __init__(
        self,
        responder: Optional[Responder] = None,
        *,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        error_rate: float = 0.0,
        error_statuses: Sequence[int] = (429, 500),
        retry_after_s: Optional[float] = None,
        retry_after_ms: Optional[float] = None,
        should_retry: Optional[bool] = None,
        seed: int = 0,
        fail_script: Optional[FailScript] = None,
        model_shutdown_dates: Optional[Mapping[str, str]] = None,
        models: Sequence[str] = (),
        record_requests: bool = True,
        fine_tuning_refusal: Optional[Tuple[int, str]] = None,
        fine_tunable_models: Optional[Sequence[str]] = None,
        fine_tuning_outcome: str = "succeeded",
        batch_polls: int = 1,
        batch_order: str = "request",
        batch_fault: Optional[Callable[[str, int, Dict[str, Any]], Any]] = None,
    ) -> None:
        if latency_ms < 0 or jitter_ms < 0:
            raise ValueError("latency_ms and jitter_ms must be >= 0")
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError("error_rate must be within [0, 1]")
        if error_rate > 0 and not error_statuses:
            raise ValueError("error_rate > 0 needs at least one status in error_statuses")
        self.responder: Responder = responder or default_responder
        self.latency_ms = float(latency_ms)
        self.jitter_ms = float(jitter_ms)
        self.error_rate = float(error_rate)
        self.error_statuses = tuple(error_statuses)
        self.retry_after_s = retry_after_s
        self.retry_after_ms = retry_after_ms
        self.should_retry = should_retry
        self.seed = seed
        self.fail_script = fail_script
        self.model_shutdown_dates: Dict[str, str] = dict(model_shutdown_dates or {})
        self.models: List[str] = list(models)
        self.record_requests = record_requests
        self.fine_tuning_refusal = fine_tuning_refusal
        self.fine_tunable_models = None if fine_tunable_models is None else set(fine_tunable_models)
        self.fine_tuning_outcome = fine_tuning_outcome
        self.files: Dict[str, Dict[str, Any]] = {}
        self.fine_tuning_jobs: Dict[str, Dict[str, Any]] = {}
        self.batch_polls = int(batch_polls)
        self.batch_order = batch_order
        self.batch_fault = batch_fault
        self.batches: Dict[str, Dict[str, Any]] = {}

        self.requests: List[Dict[str, Any]] = []
        self.port: Optional[int] = None

        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._count = 0
        self._seq = 0  # never reset: request ids stay unique
        self._in_flight = 0
        self._max_in_flight = 0

        self._exact_routes: Dict[Tuple[str, str], Tuple[str, str]] = {}
        self._prefix_routes: List[Tuple[str, str, Tuple[str, str]]] = []
        for (method, path), target in self.ROUTES.items():
            if path.endswith("/"):
                self._prefix_routes.append((method, path, target))
            else:
                self._exact_routes[(method, path)] = target
        self._prefix_routes.sort(key=lambda r: len(r[1]), reverse=True)

        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._server: Optional[asyncio.AbstractServer] = None
        self._conn_tasks: set = set()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "StubServer":
        """Bind 127.0.0.1 on an ephemeral port and serve from a background thread."""
        if self._thread is not None:
            raise RuntimeError("StubServer already started")
        ready = threading.Event()
        errors: List[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle_connection, _HOST, 0, limit=_HEAD_LIMIT, backlog=2048)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # pragma: no cover - bind failures
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                self._shutdown_loop(loop)

        self._thread = threading.Thread(target=run, name="evalkit-stub-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            self._thread.join()
            self._thread = None
            raise errors[0]
        if self.port is None:  # pragma: no cover
            raise RuntimeError("StubServer did not start in time")
        return self

    def _shutdown_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            if self._server is not None:
                self._server.close()
            tasks = list(self._conn_tasks)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            if self._server is not None:
                loop.run_until_complete(self._server.wait_closed())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    def stop(self) -> None:
        """Stop serving: open connections are closed and hanging requests abandoned."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:  # loop already closed
            pass
        thread.join(10)
        self._thread = None
        self._loop = None
        self._server = None

    def __enter__(self) -> "StubServer":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ public state

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("StubServer is not started")
        return f"http://{_HOST}:{self.port}"

    @property
    def base_url_openai(self) -> str:
        """What ``openai.OpenAI(base_url=...)`` takes."""
        return self.url + "/v1"

    @property
    def base_url_anthropic(self) -> str:
        """What ``anthropic.Anthropic(base_url=...)`` takes."""
        return self.url

    @property
    def batches_created(self) -> int:
        """Batches created so far, OpenAI and Anthropic together (never reset)."""
        return len(self.batches)

    @property
    def request_count(self) -> int:
        return self._count

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def max_in_flight(self) -> int:
        return self._max_in_flight

    def reset_counts(self) -> None:
        """Zero ``request_count`` and ``max_in_flight`` and clear ``requests``.

        ``fail_script`` ordinals restart at 0; request ids keep increasing.
        """
        with self._lock:
            self._count = 0
            self._max_in_flight = self._in_flight
            self.requests.clear()

    # ------------------------------------------------------------------ HTTP layer

    async def _handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._conn_tasks.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    writer.write(_raw_response(431, {}, openai_error_body(431, "Request headers too large"), False))
                    return
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                    writer.write(_raw_response(400, {}, openai_error_body(400, "Malformed request line"), False))
                    return
                method, target, version = parts
                headers: Dict[str, str] = {}
                for line in lines[1:]:
                    if not line:
                        continue
                    name, sep, value = line.partition(":")
                    if not sep:
                        continue
                    name = name.strip().lower()
                    value = value.strip()
                    headers[name] = f"{headers[name]}, {value}" if name in headers else value

                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                try:
                    if "chunked" in headers.get("transfer-encoding", "").lower():
                        raw = await _read_chunked(reader)
                    else:
                        length = int(headers.get("content-length") or 0)
                        raw = await reader.readexactly(length) if length > 0 else b""
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(_raw_response(400, {}, openai_error_body(400, "Malformed request body framing"), False))
                    return

                conn = headers.get("connection", "").lower()
                if version == "HTTP/1.0":
                    keep_alive = "keep-alive" in conn
                else:
                    keep_alive = "close" not in conn

                result = await self._dispatch(method, target, headers, raw)
                if result is None:  # hang/drop: close without a response
                    return
                status, resp_headers, payload = result
                writer.write(_raw_response(status, resp_headers, payload, keep_alive))
                try:
                    await writer.drain()
                except ConnectionError:
                    return
                if not keep_alive:
                    return
        except asyncio.CancelledError:
            # Only stop() cancels connection tasks; finish quietly (Python 3.11's
            # stream callback would otherwise log the cancellation as an error).
            return
        finally:
            self._conn_tasks.discard(task)
            try:
                writer.close()
            except Exception:  # pragma: no cover - transport already gone
                pass

    # ------------------------------------------------------------------ dispatch

    def _match(self, method: str, path: str) -> Tuple[Optional[Tuple[str, str]], str]:
        target = self._exact_routes.get((method, path))
        if target is not None:
            return target, ""
        for route_method, prefix, target in self._prefix_routes:
            if route_method == method and path.startswith(prefix) and len(path) > len(prefix):
                return target, unquote(path[len(prefix):])
        return None, ""

    def _begin(self, method: str, path: str, query: str, headers: Dict[str, str]) -> Tuple[int, str, Dict[str, Any]]:
        with self._lock:
            n = self._count
            self._count += 1
            self._seq += 1
            seq = self._seq
            self._in_flight += 1
            if self._in_flight > self._max_in_flight:
                self._max_in_flight = self._in_flight
            record = {
                "n": n,
                "request_id": f"req_{seq}",
                "path": path,
                "query": query,
                "method": method,
                "headers": headers,
                "json": None,
                "status": None,
            }
            if self.record_requests:
                self.requests.append(record)
        return n, record["request_id"], record

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _draw_delay_s(self) -> float:
        ms = self.latency_ms
        if self.jitter_ms > 0:
            ms += self._rng.uniform(-self.jitter_ms, self.jitter_ms)
        return max(ms, 0.0) / 1000.0

    def _draw_error(self) -> Optional[int]:
        if self.error_rate > 0 and self._rng.random() < self.error_rate:
            return self._rng.choice(self.error_statuses)
        return None

    def _error(self, kind: str, status: int, message: str, request_id: str,
               extra_headers: Optional[Mapping[str, str]] = None, code: Optional[str] = None
               ) -> Tuple[int, Dict[str, str], Dict[str, Any]]:
        if kind == "anthropic":
            payload = anthropic_error_body(status, message, request_id)
            headers = {"request-id": request_id}
        else:
            payload = openai_error_body(status, message, code)
            headers = {"x-request-id": request_id}
        if extra_headers:
            headers.update({k.lower(): str(v) for k, v in extra_headers.items()})
        return status, headers, payload

    async def _dispatch(self, method: str, target: str, headers: Dict[str, str], raw: bytes
                        ) -> Optional[Tuple[int, Dict[str, str], Any]]:
        path, _, query = target.partition("?")
        if path.startswith("http://") or path.startswith("https://"):  # absolute-form target
            path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
        route, rest = self._match(method, path)
        kind = route[0] if route is not None else "openai"
        n, request_id, record = self._begin(method, path, query, headers)
        try:
            result = await self._answer(route, kind, n, request_id, method, path, rest, query, headers, raw, record)
            record["status"] = 0 if result is None else result[0]
            return result
        finally:
            if record["status"] is None:  # cancelled by stop() while hanging or sleeping
                record["status"] = 0
            self._end()

    async def _answer(self, route: Optional[Tuple[str, str]], kind: str, n: int, request_id: str, method: str,
                      path: str, rest: str, query: str, headers: Dict[str, str], raw: bytes,
                      record: Dict[str, Any]) -> Optional[Tuple[int, Dict[str, str], Any]]:
        if route is None:
            return self._error(kind, 404, f"Invalid URL ({method} {path})", request_id)
        body: Any = None
        if raw.strip() and headers.get("content-type", "").lower().startswith("multipart/form-data"):
            body = _parse_multipart(headers["content-type"], raw)
            if body is None:
                return self._error(kind, 400, "We could not parse the multipart/form-data body of your request.", request_id)
        elif raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                return self._error(kind, 400, "We could not parse the JSON body of your request.", request_id)
        record["json"] = body
        if method == "POST" and not isinstance(body, dict) and not (body is None and path.endswith("/cancel")):
            return self._error(kind, 400, "The request body must be a JSON object.", request_id)

        # Seeded draws first, in arrival order, whatever the script decides.
        delay = self._draw_delay_s()
        injected = self._draw_error()

        try:
            scripted = self.fail_script(n, kind, body) if self.fail_script is not None else None
            if scripted is not None:
                status, extra, message = scripted[0], dict(scripted[1] or {}), scripted[2]
                scripted_delay = float(scripted[3]) if len(scripted) > 3 and scripted[3] is not None else None
                if status == HANG or status == 0:
                    await asyncio.sleep(DEFAULT_HANG_S if scripted_delay is None else scripted_delay)
                    return None
                if scripted_delay is not None:
                    delay = scripted_delay
                if delay > 0:
                    await asyncio.sleep(delay)
                default = f"Stub scripted error {status} ({_PHRASES.get(int(status), 'Error')})."
                return self._error(kind, int(status), message or default, request_id, extra)

            if delay > 0:
                await asyncio.sleep(delay)

            if injected is not None:
                extra = {}
                if self.retry_after_s is not None:
                    extra["retry-after"] = _fmt_seconds(self.retry_after_s)
                if self.retry_after_ms is not None:
                    extra["retry-after-ms"] = _fmt_seconds(self.retry_after_ms)
                if self.should_retry is not None:
                    extra["x-should-retry"] = "true" if self.should_retry else "false"
                message = f"Stub injected error {injected} ({_PHRASES.get(injected, 'Error')})."
                return self._error(kind, injected, message, request_id, extra)

            req = StubRequest(n, request_id, kind, method, path, rest, query, headers, body)
            status, payload, extra_headers = await getattr(self, route[1])(req)
        except _BadRequest as exc:
            return self._error(kind, 400, str(exc), request_id)
        except _NotFound as exc:
            return self._error(kind, 404, str(exc), request_id)
        except Exception as exc:
            log.exception("stub server handler failed for %s %s", method, path)
            return self._error(kind, 500, f"Stub server error: {type(exc).__name__}: {exc}", request_id)

        resp_headers = {"request-id" if kind == "anthropic" else "x-request-id": request_id}
        if extra_headers:
            resp_headers.update(extra_headers)
        return status, resp_headers, payload

    async def _respond(self, kind: str, body: Dict[str, Any]) -> Any:
        result = self.responder(kind, body)
        if inspect.isawaitable(result):
            result = await result
        return result

    # ------------------------------------------------------------------ handlers

    async def _handle_chat_completions(self, req: StubRequest) -> Handled:
        body = req.body
        for field in ("model", "messages"):
            if field not in body:
                raise _BadRequest(f"Missing required parameter: '{field}'.")
        if body.get("stream"):
            raise _BadRequest("stream=true is not supported by the evalkit stub server.")
        choices = []
        completion_tokens = 0
        for index in range(max(int(body.get("n") or 1), 1)):
            content = await self._respond("openai", body)
            if not isinstance(content, str):
                content = json.dumps(content)
            completion_tokens += len(content) // 4 + 1
            choices.append({
                "index": index,
                "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            })
        prompt_tokens = _messages_chars(body["messages"]) // 4 + 1
        payload = {
            "id": f"chatcmpl-stub{req.request_id[4:]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
            "system_fingerprint": "fp_evalkit_stub",
            "service_tier": "default",
        }
        return 200, payload, None

    async def _handle_messages(self, req: StubRequest) -> Handled:
        body = req.body
        for field in ("model", "messages", "max_tokens"):
            if field not in body:
                raise _BadRequest(f"{field}: Field required")
        if body.get("stream"):
            raise _BadRequest("stream=true is not supported by the evalkit stub server.")

        tools = body.get("tools") or []
        tool_choice = body.get("tool_choice") or {}
        forced: Optional[str] = None
        if tools and isinstance(tool_choice, dict):
            if tool_choice.get("type") == "tool":
                forced = tool_choice.get("name")
                if forced not in {t.get("name") for t in tools if isinstance(t, dict)}:
                    raise _BadRequest(f"tool_choice: tool {forced!r} is not among the request's tools")
            elif tool_choice.get("type") == "any" and isinstance(tools[0], dict):
                forced = tools[0].get("name")

        result = await self._respond("anthropic", body)
        tool_input = _as_json_object(result) if forced else None
        if tool_input is not None:
            block: Dict[str, Any] = {
                "type": "tool_use",
                "id": f"toolu_stub{req.request_id[4:]}",
                "name": forced,
                "input": tool_input,
            }
            stop_reason = "tool_use"
            out_chars = len(json.dumps(tool_input))
        else:
            # Not forced, or the responder gave no JSON object for a forced tool:
            # a text block, as a model that ignored the tool would produce.
            text = result if isinstance(result, str) else json.dumps(result)
            block = {"type": "text", "text": text}
            stop_reason = "end_turn"
            out_chars = len(text)

        system = body.get("system")
        in_chars = _messages_chars(body["messages"]) + _text_len(system)
        payload = {
            "id": f"msg_stub{req.request_id[4:]}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [block],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": in_chars // 4 + 1,
                "output_tokens": out_chars // 4 + 1,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        return 200, payload, None

    def _model_object(self, model_id: str) -> Dict[str, Any]:
        obj: Dict[str, Any] = {
            "id": model_id,
            "object": "model",
            "created": _MODEL_CREATED,
            "owned_by": "user-stub" if model_id.startswith("ft:") else "system",
        }
        shutdown = self.model_shutdown_dates.get(model_id)
        if shutdown is not None:
            obj["shutdown_date"] = shutdown
        return obj

    async def _handle_list_models(self, req: StubRequest) -> Handled:
        ids = sorted(set(self.models) | set(self.model_shutdown_dates))
        return 200, {"object": "list", "data": [self._model_object(i) for i in ids]}, None

    async def _handle_retrieve_model(self, req: StubRequest) -> Handled:
        return 200, self._model_object(req.rest), None

    # ------------------------------------------------------------------ fine-tuning

    _OPENAI_FT_STEPS = ("validating_files", "queued", "running", "succeeded")
    _TOGETHER_FT_STEPS = ("pending", "queued", "running", "completed")

    def _store_file(self, provider: str, upload: Any, purpose: Any, filename: Optional[str] = None) -> Dict[str, Any]:
        if not isinstance(upload, dict) or "content" not in upload:
            raise _BadRequest("file: a file part is required.")
        if not purpose:
            raise _BadRequest("purpose: Field required.")
        with self._lock:
            file_id = f"file-stub{len(self.files) + 1}"
            self.files[file_id] = {"id": file_id, "provider": provider, "purpose": purpose,
                                   "filename": filename or upload.get("filename") or "upload.jsonl",
                                   "bytes": upload["bytes"], "content": upload["content"]}
        return self.files[file_id]

    def _check_fine_tuning(self, provider: str, body: Dict[str, Any]) -> Optional[Handled]:
        """The refusals a provider gives before a job exists; None when the job may start."""
        for field in ("model", "training_file"):
            if not body.get(field):
                raise _BadRequest(f"Missing required parameter: '{field}'.")
        if self.fine_tuning_refusal is not None:
            status, message = self.fine_tuning_refusal
            return int(status), openai_error_body(int(status), message, "fine_tuning_not_allowed"), None
        model = body["model"]
        if self.fine_tunable_models is not None and model not in self.fine_tunable_models:
            message = f"Model {model} is not available for fine-tuning or does not exist."
            return 400, openai_error_body(400, message, "model_not_available"), None
        for field in ("training_file", "validation_file"):
            file_id = body.get(field)
            if file_id and (file_id not in self.files or self.files[file_id]["provider"] != provider):
                return 400, openai_error_body(400, f"invalid {field}: {file_id}", "invalid_file"), None
        return None

    def _new_job(self, provider: str, body: Dict[str, Any]) -> Dict[str, Any]:
        with self._lock:
            number = len(self.fine_tuning_jobs) + 1
            job_id = f"ftjob-stub{number}" if provider == "openai" else f"ft-stub{number}"
            job = {"id": job_id, "provider": provider, "step": 0, "request": body, "created_at": int(time.time()),
                   "events": []}
            self.fine_tuning_jobs[job_id] = job
        self._job_event(job, "Created fine-tuning job")
        return job

    def _job_event(self, job: Dict[str, Any], message: str, level: str = "info", kind: str = "job_pending") -> None:
        job["events"].append({"n": len(job["events"]) + 1, "created_at": int(time.time()), "level": level,
                              "message": message, "type": kind})

    def _advance_job(self, job: Dict[str, Any], steps: Sequence[str]) -> str:
        """Move the job one status on (a retrieval is one tick) and log the change."""
        if job["step"] < len(steps) - 1:
            job["step"] += 1
            status = steps[job["step"]]
            failed = job["step"] == len(steps) - 1 and self.fine_tuning_outcome == "failed"
            if failed:
                self._job_event(job, "Training file has invalid examples: the job failed", "error", "job_error")
            else:
                self._job_event(job, f"Job is {status}", "info", "job_complete" if job["step"] == len(steps) - 1 else "job_start")
        return steps[job["step"]]

    def _job_and_tail(self, req: StubRequest) -> Tuple[Dict[str, Any], str]:
        job_id, _, tail = req.rest.partition("/")
        job = self.fine_tuning_jobs.get(job_id)
        if job is None or tail not in ("", "events"):
            raise _NotFound(f"No fine-tuning job found with id {job_id!r}.")
        return job, tail

    # OpenAI

    async def _handle_openai_file_upload(self, req: StubRequest) -> Handled:
        stored = self._store_file("openai", req.body.get("file"), req.body.get("purpose"))
        return 200, {"id": stored["id"], "object": "file", "bytes": stored["bytes"], "created_at": int(time.time()),
                     "filename": stored["filename"], "purpose": stored["purpose"], "status": "processed",
                     "expires_at": None, "status_details": None}, None

    def _openai_job_object(self, job: Dict[str, Any]) -> Dict[str, Any]:
        body = job["request"]
        status = self._OPENAI_FT_STEPS[job["step"]]
        failed = status == "succeeded" and self.fine_tuning_outcome == "failed"
        done = status == "succeeded" and not failed
        method = body.get("method") or {"type": "supervised", "supervised": {"hyperparameters": body.get("hyperparameters") or {}}}
        suffix = body.get("suffix")
        return {
            "id": job["id"], "object": "fine_tuning.job", "created_at": job["created_at"],
            "error": {"code": "invalid_training_file", "message": "The job failed on invalid examples.", "param": "training_file"}
            if failed else None,
            "fine_tuned_model": f"ft:{body['model']}:stub-org:{suffix or ''}:{job['id'][6:]}" if done else None,
            "finished_at": int(time.time()) if status == "succeeded" else None,
            "hyperparameters": {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto",
                                **(body.get("hyperparameters") or {})},
            "model": body["model"], "organization_id": "org-stub", "result_files": [], "seed": body.get("seed") or 42,
            "status": "failed" if failed else status, "trained_tokens": 1000 if done else None,
            "training_file": body["training_file"], "validation_file": body.get("validation_file"),
            "estimated_finish": None, "integrations": [], "metadata": body.get("metadata"), "method": method,
            "suffix": suffix,
        }

    async def _handle_openai_ft_create(self, req: StubRequest) -> Handled:
        refused = self._check_fine_tuning("openai", req.body)
        if refused is not None:
            return refused
        job = self._new_job("openai", req.body)
        return 200, self._openai_job_object(job), None

    async def _handle_openai_ft_job(self, req: StubRequest) -> Handled:
        job, tail = self._job_and_tail(req)
        if tail == "events":
            data = [{"id": f"ftevent-{job['id']}-{e['n']}", "object": "fine_tuning.job.event", "created_at": e["created_at"],
                     "level": "error" if e["level"] == "error" else "info", "message": e["message"], "type": "message",
                     "data": {}} for e in reversed(job["events"])]
            return 200, {"object": "list", "data": data, "has_more": False}, None
        self._advance_job(job, self._OPENAI_FT_STEPS)
        return 200, self._openai_job_object(job), None

    # Together

    async def _handle_together_file_upload(self, req: StubRequest) -> Handled:
        stored = self._store_file("together", req.body.get("file"), req.body.get("purpose"), req.body.get("file_name"))
        return 200, {"id": stored["id"], "object": "file", "created_at": int(time.time()), "filename": stored["filename"],
                     "bytes": stored["bytes"], "purpose": stored["purpose"], "Processed": True,
                     "FileType": req.body.get("file_type") or "jsonl",
                     "LineCount": stored["content"].count("\n")}, None

    def _together_job_object(self, job: Dict[str, Any]) -> Dict[str, Any]:
        body = job["request"]
        status = self._TOGETHER_FT_STEPS[job["step"]]
        if status == "completed" and self.fine_tuning_outcome == "failed":
            status = "error"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(job["created_at"]))
        suffix = body.get("suffix")
        return {
            "id": job["id"], "status": status, "created_at": stamp, "updated_at": stamp,
            "model": body["model"], "training_file": body["training_file"], "validation_file": body.get("validation_file"),
            "model_output_name": f"stub-user/{body['model'].split('/')[-1]}{'-' + suffix if suffix else ''}-{job['id'][3:]}",
            "suffix": suffix, "n_epochs": body.get("n_epochs", 1), "training_method": body.get("training_method"),
            "training_type": body.get("training_type"), "token_count": 1000 if status == "completed" else 0,
            "events": self._together_events(job),
        }

    def _together_events(self, job: Dict[str, Any]) -> List[Dict[str, Any]]:
        return [{"object": "fine-tune-event", "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e["created_at"])),
                 "level": e["level"], "message": e["message"], "type": e["type"], "param_count": 0, "token_count": 0,
                 "total_steps": 0, "wandb_url": "", "step": 0, "checkpoint_path": "", "model_path": "",
                 "training_offset": 0, "hash": ""} for e in job["events"]]

    async def _handle_together_ft_create(self, req: StubRequest) -> Handled:
        refused = self._check_fine_tuning("together", req.body)
        if refused is not None:
            return refused
        job = self._new_job("together", req.body)
        return 200, self._together_job_object(job), None

    async def _handle_together_ft_job(self, req: StubRequest) -> Handled:
        job, tail = self._job_and_tail(req)
        if tail == "events":
            return 200, {"data": self._together_events(job)}, None
        self._advance_job(job, self._TOGETHER_FT_STEPS)
        return 200, self._together_job_object(job), None


class _NotFound(Exception):
    """Raised by handlers to answer 404 in the route's error shape."""


def _parse_multipart(content_type: str, raw: bytes) -> Optional[Dict[str, Any]]:
    """A multipart/form-data body as {field: text} with file fields as {filename, content_type, bytes, content}."""
    from email import policy
    from email.parser import BytesParser

    try:
        message = BytesParser(policy=policy.HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw)
    except Exception:  # noqa: BLE001 - any parse failure is a 400
        return None
    if not message.is_multipart():
        return None
    form: Dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            form[name] = {"filename": filename, "content_type": part.get_content_type(), "bytes": len(payload),
                          "content": payload.decode("utf-8", errors="replace")}
        else:
            form[name] = payload.decode("utf-8", errors="replace")
    return form


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _raw_response(status: int, headers: Mapping[str, str], payload: Any, keep_alive: bool) -> bytes:
    if isinstance(payload, (bytes, bytearray)):  # a file's bytes (batch files, batch results)
        body, content_type = bytes(payload), headers.get("content-type", "application/octet-stream")
    else:
        body, content_type = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), "application/json"
    head = [f"HTTP/1.1 {status} {_PHRASES.get(status, 'Unknown')}\r\n",
            f"content-type: {content_type}\r\n",
            f"content-length: {len(body)}\r\n"]
    for name, value in headers.items():
        if name != "content-type":
            head.append(f"{name}: {value}\r\n")
    if not keep_alive:
        head.append("connection: close\r\n")
    head.append("\r\n")
    return "".join(head).encode("latin-1") + body
