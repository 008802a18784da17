"""Small local servers for the routes a team brings itself and for the SDK-based providers
whose wire formats `StubServer` does not speak: a JSON service for `http:` routes, and the
Gemini (google-genai), Bedrock Converse (boto3) and Cloud Storage upload formats (see
`evalkit.testing.google_stub` and `evalkit.testing.bedrock_stub`).

`LocalService` listens on 127.0.0.1 only (an ephemeral port), one thread per connection,
and records every request: {method, path, query, headers (lower-cased), body (bytes),
json (parsed or None)}. A handler is `handler(request) -> (status, payload[, headers])`;
`payload` is a JSON document, `str` or `bytes`. Use it as a context manager::

    with LocalService(lambda req: (200, {"answer": "refund_request"})) as service:
        ... service.url ...
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

Handler = Callable[[dict[str, Any]], tuple]


class LocalService:
    """A JSON HTTP server on 127.0.0.1 answering every request with `handler`."""

    def __init__(self, handler: Handler):
        self.handler = handler
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "start the service first"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalService:
        service = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    parsed = json.loads(body) if body else None
                except ValueError:
                    parsed = None
                parts = urlsplit(self.path)
                request = {"method": self.command, "path": unquote(parts.path), "query": parts.query,
                           "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body, "json": parsed}
                with service._lock:
                    service.requests.append(request)
                try:
                    answer = service.handler(request)
                except Exception as error:  # noqa: BLE001 - a handler bug is a 500 the test can see
                    answer = (500, {"error": f"{type(error).__name__}: {error}"})
                status, payload = answer[0], answer[1]
                headers = dict(answer[2]) if len(answer) > 2 and answer[2] else {}
                if isinstance(payload, bytes):
                    data = payload
                    headers.setdefault("content-type", "application/octet-stream")
                elif isinstance(payload, str):
                    data = payload.encode()
                    headers.setdefault("content-type", "text/plain; charset=utf-8")
                else:
                    data = json.dumps(payload).encode()
                    headers.setdefault("content-type", "application/json")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="evalkit-local-service", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def answer_for_schema(schema: dict[str, Any]) -> str:
    """A stub model's answer that satisfies an output schema: each required field, its enum's
    first value or "stub"; plain text when there is no schema."""
    answer = {}
    for name in schema.get("required", []):
        prop = (schema.get("properties") or {}).get(name, {})
        answer[name] = prop["enum"][0] if "enum" in prop else "stub"
    return json.dumps(answer) if schema else "stub answer"


class ServiceStub:
    """A provider's wire format served by a LocalService: subclasses answer in `_handle`."""

    def __init__(self) -> None:
        self.service = LocalService(self._handle)

    def _handle(self, request: dict[str, Any]) -> tuple:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.service.requests

    def __enter__(self) -> Any:
        self.service.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.service.stop()
