"""A request's way from the HTTP layer to its handler: routing, body parsing, latency and
failure injection.

Routing: ``StubServer.ROUTES`` maps ``(method, path)`` to ``(kind, handler name)``.  A
path ending in ``/`` matches as a prefix (longest prefix wins) and the handler gets the
rest of the path, URL-decoded, as ``req.rest``; any other path matches exactly.  No
route: 404 in the OpenAI error shape.  A body that is not JSON (or not a JSON object on
a POST) is answered 400 in the route's shape; a multipart/form-data body is parsed into
a dict of fields (see ``httpio``).

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
* ``rate_limit``: a ``ratelimit.RateLimit`` that refuses chat requests beyond its
  limits with an immediate 429 and adds its rate-limit headers to every chat answer.
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
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from evalkit.testing.stub_server.common import (
    StubRequest,
    _BadRequest,
    _NotFound,
    anthropic_error_body,
    openai_error_body,
)
from evalkit.testing.stub_server.httpio import _PHRASES, _parse_multipart

if TYPE_CHECKING:
    from evalkit.testing.stub_server.ratelimit import RateLimit

log = logging.getLogger(__package__)  # the package's logger: "evalkit.testing.stub_server"

HANG = "hang"
DEFAULT_HANG_S = 60.0

FailScript = Callable[[int, str, Any], tuple | None]

#: the handlers a ``rate_limit`` (see ``ratelimit``) applies to
_LIMITED = frozenset({"_handle_chat_completions", "_handle_messages"})


def _fmt_seconds(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def fail(
    status: int,
    message: str | None = None,
    *,
    retry_after: float | None = None,
    retry_after_ms: float | None = None,
    should_retry: bool | None = None,
    headers: Mapping[str, str] | None = None,
    delay_s: float | None = None,
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


class _DispatchMixin:
    """Routing and failure injection of StubServer (see the module docstring)."""

    # Set by StubServer.__init__ (or defined by a sibling mixin); declared for the type checker.
    _exact_routes: dict[tuple[str, str], tuple[str, str]]
    _prefix_routes: list[tuple[str, str, tuple[str, str]]]
    _rng: random.Random
    latency_ms: float
    first_completion_at: float | None
    jitter_ms: float
    error_rate: float
    error_statuses: tuple[int, ...]
    retry_after_s: float | None
    retry_after_ms: float | None
    should_retry: bool | None
    fail_script: FailScript | None
    rate_limit: RateLimit | None

    if TYPE_CHECKING:
        def _begin(
            self, method: str, path: str, query: str, headers: dict[str, str]
        ) -> tuple[int, str, dict[str, Any]]: ...

        def _end(self) -> None: ...

    def _match(self, method: str, path: str) -> tuple[tuple[str, str] | None, str]:
        target = self._exact_routes.get((method, path))
        if target is not None:
            return target, ""
        for route_method, prefix, target in self._prefix_routes:
            if route_method == method and path.startswith(prefix) and len(path) > len(prefix):
                return target, unquote(path[len(prefix):])
        return None, ""

    def _draw_delay_s(self) -> float:
        ms = self.latency_ms
        if self.jitter_ms > 0:
            ms += self._rng.uniform(-self.jitter_ms, self.jitter_ms)
        return max(ms, 0.0) / 1000.0

    def _draw_error(self) -> int | None:
        if self.error_rate > 0 and self._rng.random() < self.error_rate:
            return self._rng.choice(self.error_statuses)
        return None

    def _error(self, kind: str, status: int, message: str, request_id: str,
               extra_headers: Mapping[str, str] | None = None, code: str | None = None
               ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if kind == "anthropic":
            payload = anthropic_error_body(status, message, request_id)
            headers = {"request-id": request_id}
        else:
            payload = openai_error_body(status, message, code)
            headers = {"x-request-id": request_id}
        if extra_headers:
            headers.update({k.lower(): str(v) for k, v in extra_headers.items()})
        return status, headers, payload

    async def _dispatch(self, method: str, target: str, headers: dict[str, str], raw: bytes
                        ) -> tuple[int, dict[str, str], Any] | None:
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

    async def _answer(self, route: tuple[str, str] | None, kind: str, n: int, request_id: str, method: str,
                      path: str, rest: str, query: str, headers: dict[str, str], raw: bytes,
                      record: dict[str, Any]) -> tuple[int, dict[str, str], Any] | None:
        if route is None:
            return self._error(kind, 404, f"Invalid URL ({method} {path})", request_id)
        body: Any = None
        if raw.strip() and headers.get("content-type", "").lower().startswith("multipart/form-data"):
            body = _parse_multipart(headers["content-type"], raw)
            if body is None:
                return self._error(
                    kind, 400, "We could not parse the multipart/form-data body of your request.", request_id
                )
        elif raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                return self._error(kind, 400, "We could not parse the JSON body of your request.", request_id)
        record["json"], record["raw"] = body, raw
        if method == "POST" and not isinstance(body, dict) and not (body is None and path.endswith("/cancel")):
            return self._error(kind, 400, "The request body must be a JSON object.", request_id)

        if route[1] in _LIMITED and self.first_completion_at is None:
            self.first_completion_at = time.time()
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

            limit_headers = None
            if self.rate_limit is not None and route[1] in _LIMITED:  # refused at once, before any latency
                refusal, limit_headers = self.rate_limit.admit(kind, body)
                if refusal is not None:
                    status, message, code = refusal
                    return self._error(kind, status, message, request_id, limit_headers, code)

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
        if limit_headers:
            resp_headers.update(limit_headers)
        return status, resp_headers, payload
