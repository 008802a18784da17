"""What every endpoint shares: the request a handler receives, the result it returns,
the exceptions that answer 400 or 404 in the route's error shape, and each provider's
error document.

A handler is ``async def _handle_...(self, req: StubRequest) -> Handled``, where
``Handled`` is ``(status, payload, extra_headers)``: ``payload`` a JSON document, or
``bytes`` for a file's content.
"""

from __future__ import annotations

from typing import Any

Handled = tuple[int, Any, dict[str, str] | None]

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


def openai_error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
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


def anthropic_error_body(status: int, message: str, request_id: str | None = None) -> dict[str, Any]:
    """The Anthropic error document: ``{"type": "error", "error": {"type", "message"}, "request_id"}``."""
    err_type = _ANTHROPIC_ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    doc: dict[str, Any] = {"type": "error", "error": {"type": err_type, "message": message}}
    if request_id is not None:
        doc["request_id"] = request_id
    return doc


class _BadRequest(Exception):
    """Raised by handlers to answer 400 in the route's error shape."""


class _NotFound(Exception):
    """Raised by handlers to answer 404 in the route's error shape."""


class StubRequest:
    """What a route handler receives."""

    __slots__ = ("n", "request_id", "kind", "method", "path", "rest", "query", "headers", "body")

    def __init__(self, n: int, request_id: str, kind: str, method: str, path: str, rest: str,
                 query: str, headers: dict[str, str], body: Any) -> None:
        self.n = n
        self.request_id = request_id
        self.kind = kind
        self.method = method
        self.path = path
        self.rest = rest
        self.query = query
        self.headers = headers
        self.body = body
