"""The stub's core: ``StubServer``, its options, start and stop, the HTTP/1.1 connection
layer and the request record and counters.  The endpoints are mixins, one module each
(``chat``, ``files``, ``batches``, ``fine_tuning``), and ``dispatch`` takes a request from
the connection to its handler.

Routing is the ``ROUTES`` table: ``(method, path) -> (kind, handler name)``; see
``dispatch`` for how a path matches.  To add an endpoint, add a row and an ``async def
_handle_...(self, req) -> (status, payload, extra_headers)`` method on the mixin of its
concern.

``requests`` holds one dict per request received, in arrival order: ``n``,
``request_id``, ``path`` (without the query), ``query``, ``method``,
``headers`` (lower-cased names), ``json`` (parsed body or None), ``raw`` (the body's
bytes as received) and ``status`` (None while in flight, 0 when no response was sent).
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from evalkit.testing.stub_server.batches import _BatchesMixin
from evalkit.testing.stub_server.chat import Responder, _ChatMixin, default_responder
from evalkit.testing.stub_server.common import openai_error_body
from evalkit.testing.stub_server.dispatch import FailScript, _DispatchMixin
from evalkit.testing.stub_server.files import _FilesMixin
from evalkit.testing.stub_server.fine_tuning import _FineTuningMixin
from evalkit.testing.stub_server.httpio import _raw_response, _read_chunked
from evalkit.testing.stub_server.ratelimit import RateLimit

_HOST = "127.0.0.1"
_HEAD_LIMIT = 1 << 20  # max bytes of request line + headers


class StubServer(_DispatchMixin, _ChatMixin, _FilesMixin, _BatchesMixin, _FineTuningMixin):
    """OpenAI/Anthropic wire-format stub on 127.0.0.1; see the package docstring.

    Configuration attributes (``responder``, ``latency_ms``, ``jitter_ms``,
    ``error_rate``, ``error_statuses``, ``retry_after_s``, ``retry_after_ms``,
    ``should_retry``, ``fail_script``, ``model_shutdown_dates``) are read per
    request and may be changed while the server runs.
    """

    # (method, path) -> (kind, handler method name).  A path ending in "/" is a prefix.
    ROUTES: dict[tuple[str, str], tuple[str, str]] = {
        ("POST", "/v1/chat/completions"): ("openai", "_handle_chat_completions"),
        ("POST", "/v1/messages"): ("anthropic", "_handle_messages"),
        ("GET", "/v1/models"): ("openai", "_handle_list_models"),
        ("GET", "/v1/models/"): ("openai", "_handle_retrieve_model"),
        # fine-tuning: OpenAI
        ("POST", "/v1/files"): ("openai", "_handle_openai_file_upload"),
        ("POST", "/v1/fine_tuning/jobs"): ("openai", "_handle_openai_ft_create"),
        ("GET", "/v1/fine_tuning/jobs/"): ("openai", "_handle_openai_ft_job"),
        # fine-tuning: an Azure OpenAI v1 endpoint (https://RESOURCE.openai.azure.com/openai/v1/)
        ("POST", "/openai/v1/files"): ("openai", "_handle_openai_file_upload"),
        ("POST", "/openai/v1/fine_tuning/jobs"): ("openai", "_handle_openai_ft_create"),
        ("GET", "/openai/v1/fine_tuning/jobs/"): ("openai", "_handle_openai_ft_job"),
        # fine-tuning: Together (errors in the OpenAI shape, as Together answers them)
        ("POST", "/v1/files/upload"): ("together", "_handle_together_file_upload"),
        ("POST", "/v1/fine-tunes"): ("together", "_handle_together_ft_create"),
        ("GET", "/v1/fine-tunes/"): ("together", "_handle_together_ft_job"),
        # batches: OpenAI Batch API, Anthropic Message Batches
        ("GET", "/v1/files/"): ("openai", "_handle_openai_file"),
        ("POST", "/v1/batches"): ("openai", "_handle_openai_batch_create"),
        ("GET", "/v1/batches"): ("openai", "_handle_openai_batch_list"),
        ("GET", "/v1/batches/"): ("openai", "_handle_openai_batch"),
        ("POST", "/v1/batches/"): ("openai", "_handle_openai_batch_cancel"),
        ("POST", "/v1/messages/batches"): ("anthropic", "_handle_anthropic_batch_create"),
        ("GET", "/v1/messages/batches/"): ("anthropic", "_handle_anthropic_batch"),
        ("POST", "/v1/messages/batches/"): ("anthropic", "_handle_anthropic_batch_cancel"),
    }

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        error_rate: float = 0.0,
        error_statuses: Sequence[int] = (429, 500),
        retry_after_s: float | None = None,
        retry_after_ms: float | None = None,
        should_retry: bool | None = None,
        seed: int = 0,
        fail_script: FailScript | None = None,
        model_shutdown_dates: Mapping[str, str] | None = None,
        models: Sequence[str] = (),
        record_requests: bool = True,
        fine_tuning_refusal: tuple[int, str] | None = None,
        fine_tunable_models: Sequence[str] | None = None,
        fine_tuning_outcome: str = "succeeded",
        batch_polls: int = 1,
        batch_order: str = "request",
        batch_fault: Callable[[str, int, dict[str, Any]], Any] | None = None,
        rate_limit: RateLimit | None = None,
        usage_hook: Callable[[str, dict[str, Any], dict[str, Any]], Any] | None = None,
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
        self.model_shutdown_dates: dict[str, str] = dict(model_shutdown_dates or {})
        self.models: list[str] = list(models)
        self.record_requests = record_requests
        self.fine_tuning_refusal = fine_tuning_refusal
        self.fine_tunable_models = None if fine_tunable_models is None else set(fine_tunable_models)
        self.fine_tuning_outcome = fine_tuning_outcome
        self.files: dict[str, dict[str, Any]] = {}
        self.fine_tuning_jobs: dict[str, dict[str, Any]] = {}
        self.batch_polls = int(batch_polls)
        self.batch_order = batch_order
        self.batch_fault = batch_fault
        self.rate_limit = rate_limit
        self.usage_hook = usage_hook
        self.prompt_cache: set = set()  # Anthropic prompt-cache prefixes seen
        self.batches: dict[str, dict[str, Any]] = {}

        self.requests: list[dict[str, Any]] = []
        self.port: int | None = None

        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._count = 0
        self._seq = 0  # never reset: request ids stay unique
        self._in_flight = 0
        self._max_in_flight = 0
        #: time.time() when the first completion request arrived (before its latency), since the last reset
        self.first_completion_at: float | None = None

        self._exact_routes: dict[tuple[str, str], tuple[str, str]] = {}
        self._prefix_routes: list[tuple[str, str, tuple[str, str]]] = []
        for (method, path), target in self.ROUTES.items():
            if path.endswith("/"):
                self._prefix_routes.append((method, path, target))
            else:
                self._exact_routes[(method, path)] = target
        self._prefix_routes.sort(key=lambda r: len(r[1]), reverse=True)

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._conn_tasks: set = set()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> StubServer:
        """Bind 127.0.0.1 on an ephemeral port and serve from a background thread."""
        if self._thread is not None:
            raise RuntimeError("StubServer already started")
        ready = threading.Event()
        errors: list[BaseException] = []

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

    def __enter__(self) -> StubServer:
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
        """Zero ``request_count``, ``max_in_flight`` and ``first_completion_at`` and clear ``requests``.

        ``fail_script`` ordinals restart at 0; request ids keep increasing.
        """
        with self._lock:
            self._count = 0
            self._max_in_flight = self._in_flight
            self.first_completion_at = None
            self.requests.clear()

    def _begin(self, method: str, path: str, query: str, headers: dict[str, str]) -> tuple[int, str, dict[str, Any]]:
        with self._lock:
            n = self._count
            self._count += 1
            self._seq += 1
            seq = self._seq
            self._in_flight += 1
            if self._in_flight > self._max_in_flight:
                self._max_in_flight = self._in_flight
            record: dict[str, Any] = {
                "n": n,
                "request_id": f"req_{seq}",
                "path": path,
                "query": query,
                "method": method,
                "headers": headers,
                "json": None,
                "raw": b"",
                "status": None,
            }
            if self.record_requests:
                self.requests.append(record)
        return n, record["request_id"], record

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1

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
                headers: dict[str, str] = {}
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
                    writer.write(
                        _raw_response(400, {}, openai_error_body(400, "Malformed request body framing"), False)
                    )
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
