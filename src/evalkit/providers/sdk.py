"""What the OpenAI and Anthropic providers share: both SDKs are generated from the same
template, so their errors, headers and keyword arguments look alike.

Clients are built with `max_retries=0`: the runner retries by itself, so every attempt is
counted and `retry-after-ms` / `retry-after` are honoured. Errors become ProviderError:
429, 408, 409, 5xx, timeouts and connection errors are retryable, other 4xx are not and
carry the server's message. The key is scrubbed from every message before it can reach
a row, the manifest or a log.
"""

from __future__ import annotations

import importlib
import inspect
import os
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from evalkit.providers.base import Provider, ProviderError, ProviderRequest

#: request parameters that evalkit reads itself and never sends
EVALKIT_PARAMS = frozenset({"timeout_s", "structured", "cache_prompt"})

#: what an exhausted quota or billing problem looks like: every later call would fail too
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_error", "billing_not_active"})
_QUOTA_WORDS = ("credit balance is too low", "exceeded your current quota")

_ERROR_TYPES = {400: "bad_request", 401: "authentication", 403: "permission_denied", 404: "not_found",
                408: "timeout", 409: "conflict", 413: "request_too_large", 422: "unprocessable", 429: "rate_limit"}


def retryable_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def error_type(status: int) -> str:
    if status in _ERROR_TYPES:
        return _ERROR_TYPES[status]
    return "server_error" if status >= 500 else f"http_{status}"


def retry_after_seconds(headers: Any) -> float | None:
    """The wait a response asks for: `retry-after-ms`, else `retry-after` (seconds or an HTTP date)."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(float(value) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        from datetime import datetime, timezone

        return max((parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds(), 0.0)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def server_message(error: Any) -> str:
    """The human message inside an error body ({"error": {"message"}} or {"message"}), else the SDK's."""
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    return str(getattr(error, "message", None) or error)


def quota_exhausted(error: Any) -> bool:
    """True for OpenAI's `insufficient_quota` 429 and Anthropic's `billing_error` (or its
    "credit balance is too low" refusal): no retry can succeed."""
    body = getattr(error, "body", None)
    inner = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(inner, dict) and (inner.get("code") in _QUOTA_CODES or inner.get("type") in _QUOTA_CODES):
        return True
    message = server_message(error).lower()
    return any(words in message for words in _QUOTA_WORDS)


def convert_error(error: BaseException, sdk: Any, *, secret: str | None, timeout_s: float | None) -> ProviderError:
    """An SDK exception as a ProviderError (`sdk` is the `openai` or `anthropic` module)."""

    from evalkit.secrets import remember
    from evalkit.secrets import scrub as scrub_known

    remember(secret)

    def scrub(text: str) -> str:
        return scrub_known(text)

    if isinstance(error, sdk.APITimeoutError):
        limit = f" within {timeout_s:g} s" if timeout_s else ""
        return ProviderError("timeout", f"no answer{limit} (per-call timeout)", retryable=True)
    if isinstance(error, sdk.APIConnectionError):
        cause = error.__cause__ or error.__context__
        detail = f": {type(cause).__name__}: {cause}" if cause else ""
        return ProviderError("connection", scrub(f"{error}{detail}"), retryable=True)
    if isinstance(error, sdk.APIStatusError):
        from evalkit.pacing import read_rate_limits

        status, headers = error.status_code, error.response.headers
        if quota_exhausted(error):
            return ProviderError("quota", scrub(f"HTTP {status}: {server_message(error)}"), status=status)
        retryable = retryable_status(status)
        hint = (headers.get("x-should-retry") or "").lower()
        if hint in ("true", "false") and status != 429:  # a rate limit is waited out, whatever the hint
            retryable = hint == "true"
        return ProviderError(error_type(status), scrub(f"HTTP {status}: {server_message(error)}"), retryable=retryable,
                             status=status, retry_after_s=retry_after_seconds(headers),
                             rate_limits=read_rate_limits(headers))
    if isinstance(error, sdk.APIError):  # e.g. a response that does not match the API's schema
        return ProviderError("bad_response", scrub(server_message(error)))
    return ProviderError(type(error).__name__, scrub(str(error)))


def resolve_base_url(route_base_url: str | None, variable: str) -> str | None:
    """The route's base_url, else the provider's environment variable, else None (the SDK's default)."""
    return route_base_url or os.environ.get(variable) or None


def public_url(url: str | None) -> str | None:
    """A URL without user:password, for the manifest and the cache key."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def split_params(params: dict[str, Any], create: Callable[..., Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Route params -> (keyword arguments `create` accepts, the rest for `extra_body`).
    None values are left out, so a route can drop a default (`seed: null`)."""
    accepted = _parameters(create)
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name, value in params.items():
        if value is None or name in EVALKIT_PARAMS:
            continue
        (known if name in accepted else extra)[name] = value
    return known, extra


_SIGNATURES: dict[Any, frozenset[str]] = {}


def _parameters(function: Callable[..., Any]) -> frozenset[str]:
    key = getattr(function, "__func__", function)
    if key not in _SIGNATURES:
        _SIGNATURES[key] = frozenset(
            name for name, p in inspect.signature(function).parameters.items()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and not name.startswith("extra_"))
    return _SIGNATURES[key]


# -- one client per server: routes that reach the same server with the same key share it

_SHARED: dict[tuple, list] = {}  # (event loop, client class, settings) -> [client, users]


def shared_client(factory: Callable[..., Any], **settings: Any) -> Any:
    """An SDK client (`factory(**settings)`) shared by every route of this event loop that
    asks with the same settings: one connection pool, and the client's set-up (a TLS context
    with the CA bundle, about 10 ms) done once. Give it back with `release_client`."""
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # outside a loop: nothing to share with
        return factory(**settings)
    key = (loop, factory, tuple(sorted(settings.items())))
    entry = _SHARED.get(key)
    if entry is None:
        entry = _SHARED[key] = [factory(**settings), 0]
    entry[1] += 1
    return entry[0]


async def release_client(client: Any) -> None:
    """Give back a client from `shared_client`; the last user closes it."""
    for key, entry in list(_SHARED.items()):
        if entry[0] is client:
            entry[1] -= 1
            if entry[1] > 0:
                return
            del _SHARED[key]
            break
    await client.close()


# -- what the OpenAI and Anthropic providers share: the key, the client, the per-route request


class SDKProvider(Provider):
    """A remote provider that calls one `create` method of an official SDK's async client.

    Subclasses name the SDK (`sdk_name`), build the client and its send function (`_bind`), turn the
    merged request params into `create` keyword arguments once per route (`_configure`), and
    read a response (`complete`). The SDK is imported on the first call, so a run answered from
    the cache never loads it.
    """

    remote = True
    sdk_name: ClassVar[str]
    base_url_env: ClassVar[str]
    default_endpoint: ClassVar[str]  # where the SDK sends calls when no base_url is set

    def __init__(self, model: str, *, route_name: str, route: Any, suite: Any):
        super().__init__(model, route_name=route_name, route=route, suite=suite)
        self.base_url = resolve_base_url(getattr(route, "base_url", None), self.base_url_env)
        self._client: Any = None  # the SDK's client, made on first use (the SDK is imported then)
        self._create: Callable[..., Any] | None = None
        self._configured_for: tuple[int, int] | None = None
        self._kwargs: dict[str, Any] = {}
        self._timeout_s: float | None = None

    def _route_params(self) -> dict[str, Any]:
        return getattr(self.route, "params", None) or {}

    def endpoint(self) -> str | None:
        return public_url(self.base_url) or self.default_endpoint

    def _schema(self) -> dict[str, Any] | None:
        return getattr(self.suite, "output_schema", None)

    def _json_mode(self, params: dict[str, Any]) -> bool:
        """The suite wants JSON and the route did not turn structured output off."""
        task = getattr(getattr(self.suite, "spec", None), "task", None)
        return (task is None or task.output_format == "json") and params.get("structured", True) is not False

    def _configure(self, request: ProviderRequest) -> None:
        raise NotImplementedError

    def _configured(self, request: ProviderRequest) -> dict[str, Any]:
        """The `create` keyword arguments of this route, built on its first request."""
        if self._configured_for != (id(request.params), id(request.output_schema)):
            self._configure(request)
            self._configured_for = (id(request.params), id(request.output_schema))
        return self._kwargs

    def _secret(self) -> str | None:
        variable = self.key_variable()
        return os.environ.get(variable) if variable else None

    def _bind(self, sdk: Any, key: str) -> Callable[..., Any]:
        """Make `self._client` and return the function that sends one request (`create` or alike)."""
        raise NotImplementedError

    def _connect(self) -> Callable[..., Any]:
        key = self._secret()
        if not key:
            raise ProviderError("missing_key", f"set {self.key_variable()} to call {self.ref}")
        self._create = self._bind(importlib.import_module(self.sdk_name), key)
        return self._create

    def _client_settings(self, key: str) -> dict[str, Any]:
        return {"api_key": key, "base_url": self.base_url, "max_retries": 0,
                "timeout": float(self._timeout_s) if self._timeout_s else 60.0}

    def open(self) -> None:
        """Import the SDK and build the client before the first call, so that work does not
        stall the event loop (and inflate the latency of other calls) in the middle of a run."""
        if self._create is None:
            try:
                self._connect()
            except ProviderError:  # no key: every call becomes an error row that says so
                pass

    async def _send(self, **kwargs: Any) -> tuple[Any, float]:
        """Call the send function `_bind` made (Anthropic: `with_raw_response.create`, whose
        parsed answer comes with its headers; OpenAI: see its module); the response and its
        latency in ms. Every SDK failure becomes a ProviderError (retryable or not), with the
        key scrubbed from its message."""
        create = self._create or self._connect()
        started = time.perf_counter()
        try:
            response = await create(**kwargs)
        except Exception as error:  # noqa: BLE001 - every SDK failure becomes an error row or a retry
            raise convert_error(error, importlib.import_module(self.sdk_name), secret=self._secret(),
                                timeout_s=self._timeout_s) from None
        return response, (time.perf_counter() - started) * 1000

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client, self._create = self._client, None, None
            await release_client(client)
