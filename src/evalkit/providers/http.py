"""`http:URL` (or `http:NAME` with `http: {url: ...}`): a route answered by the team's own service.

The route's `http:` section says what to send and where the answer is:

```yaml
model: http:https://triage.internal.example/v1/classify
http:
  method: POST                                  # default; PUT, PATCH, GET too
  headers: {Authorization: "Bearer ${TRIAGE_TOKEN}"}   # ${VAR}: read at call time, never written
  body: {ticket: "{{ case.text }}", history: "{{ messages }}", top_k: 5}
  response: {output: answer, input_tokens: usage.in, retrieved: sources, retrieved_id: doc_id}
```

* The body is a sandboxed Jinja2 template with undefined names as errors: a string that must
  render to JSON, or an object whose string values are templates (a value that is exactly one
  `{{ expression }}` keeps the expression's type: a list stays a list). Names: `messages`,
  `prompt` (the last user message), `system`, `case` ({id, input, fields, text, tags,
  metadata}), `params`, `route`, `repeat`, and each input field. Without a body evalkit sends
  `{"messages", "case", "params"}`. GET sends no body.
* Responses: the `response` paths point into the JSON answer. Without `output`, a JSON
  string or a non-JSON body is the output. A path that matches nothing is an error row that
  quotes the start of the response.
* 408, 409, 429, 5xx, timeouts and dropped connections are retried like any provider's (with
  `retry-after`); other statuses are error rows with the start of the response. `--rpm http=N`
  limits the rate; the route is cached like a remote model (the URL, method, body template,
  response paths and the headers as written, never their values from the environment, are in
  the key).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from typing import Any

from evalkit.errors import BadInput
from evalkit.own_routes import as_text, case_view, dig, excerpt, found, read_retrieved
from evalkit.providers.base import Provider, ProviderError, ProviderRequest, ProviderResponse
from evalkit.providers.sdk import error_type, public_url, retry_after_seconds, retryable_status

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ONE_EXPRESSION = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.S)


def _httpx():
    """The HTTP client library the SDKs use (httpx2, or httpx before it)."""
    try:
        import httpx2 as httpx
    except ImportError:  # pragma: no cover - older installs
        import httpx  # type: ignore[no-redef]
    return httpx


def _environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


_PLAIN_HEADERS = frozenset({"content-type", "accept", "user-agent", "accept-language"})


def redacted_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers for the manifest: a value that reads ${VAR} stays as written (the variable's
    name, not its value); any other value is hidden, save a few that are never secret."""
    return {name: value if _ENV.search(value) or name.lower() in _PLAIN_HEADERS else "***"
            for name, value in headers.items()}


class HttpProvider(Provider):
    remote = True
    retrieves_itself = True

    def __init__(self, model: str, *, route_name: str, route: Any, suite: Any):
        super().__init__(model, route_name=route_name, route=route, suite=suite)
        from evalkit.suite import HttpRoute

        self.config = getattr(route, "http", None) or HttpRoute()
        url = self.config.url or (model if re.match(r"^https?://", model) else None)
        if not url:
            raise BadInput(f"route {route_name!r}: an http: route needs a URL: model: http:https://host/path, "
                           f"or http: {{url: ...}} on the route")
        self.url = url
        self.base_url = url  # what the cache key and the manifest record (without any user:password)
        self._client = None
        self._body = None  # the compiled body template

    # -- before any call: templates compile, header variables are set

    def header_variables(self) -> list[str]:
        return sorted({name for value in self.config.headers.values() for name in _ENV.findall(value)})

    def prepare(self) -> None:
        from jinja2 import TemplateSyntaxError

        missing = [name for name in self.header_variables() if not os.environ.get(name)]
        if missing:
            raise BadInput(f"route {self.route_name!r}: its headers read {', '.join(missing)} from the environment: "
                           f"set {'it' if len(missing) == 1 else 'them'} before the run")
        env = _environment()
        try:
            self._body = self._compile(env, self.config.body)
        except TemplateSyntaxError as error:
            raise BadInput(
                f"route {self.route_name!r}: http body template: {error.message} (line {error.lineno})"
            ) from None

    def _compile(self, env, node: Any) -> Any:
        if isinstance(node, str):
            whole = _ONE_EXPRESSION.match(node)
            if whole and "{{" not in whole.group(1) and "{%" not in node:
                return ("expression", env.compile_expression(whole.group(1).strip(), undefined_to_none=False))
            return ("template", env.from_string(node))
        if isinstance(node, dict):
            return {key: self._compile(env, value) for key, value in node.items()}
        if isinstance(node, list):
            return [self._compile(env, value) for value in node]
        return ("value", node)

    # -- the provider hooks

    def fingerprint_material(self) -> dict[str, Any]:
        config = self.config.model_dump(mode="json", exclude={"url"})
        headers = config.pop("headers")
        # headers as written (a ${VAR} reference, not its value); a literal value only as a hash
        config["headers_sha256"] = (
            hashlib.sha256(json.dumps(headers, sort_keys=True).encode()).hexdigest() if headers else None
        )
        return {"http": config}

    def model_info(self) -> dict[str, Any]:
        return {"base_url": public_url(self.url), "method": self.config.method,
                "headers": sorted(self.config.headers), "header_variables": self.header_variables(),
                "response_paths": self.config.response.model_dump(exclude_none=True)}

    # -- one call

    def _values(self, request: ProviderRequest) -> dict[str, Any]:
        messages = [dict(m) for m in request.messages]
        users = [m["content"] for m in messages if m.get("role") == "user"]
        system = "\n\n".join(m["content"] for m in messages if m.get("role") == "system")
        case = case_view(request.case)
        return {**case.get("fields", {}), "messages": messages, "prompt": users[-1] if users else "",
                "system": system, "case": case, "params": dict(request.params), "route": request.route,
                "repeat": request.repeat}

    def _render(self, node: Any, values: dict[str, Any]) -> Any:
        if isinstance(node, tuple):
            kind, item = node
            if kind == "expression":
                return item(**values)
            if kind == "template":
                return item.render(values)
            return item
        if isinstance(node, dict):
            return {key: self._render(value, values) for key, value in node.items()}
        return [self._render(value, values) for value in node]

    def body(self, request: ProviderRequest) -> Any:
        """The JSON body for this request."""
        from jinja2 import TemplateError

        if self._body is None and self.config.body is not None:
            self.prepare()
        values = self._values(request)
        if self._body is None:
            return {"messages": values["messages"], "case": values["case"], "params": values["params"]}
        try:
            rendered = self._render(self._body, values)
        except TemplateError as error:
            raise ProviderError("bad_request", f"http body template: {error.message}") from None
        except Exception as error:  # noqa: BLE001 - an expression that fails
            raise ProviderError("bad_request", f"http body template: {type(error).__name__}: {error}") from None
        if isinstance(self.config.body, str):
            try:
                return json.loads(rendered)
            except ValueError as error:
                raise ProviderError("bad_request", f"the http body template did not render JSON ({error}): "
                                                   f"{excerpt(rendered, 200)}") from None
        return rendered

    def _headers(self) -> tuple[dict[str, str], list[str]]:
        """The headers with ${VAR} filled in, and the values that must never be shown."""
        secrets: list[str] = []

        def fill(match: re.Match) -> str:
            value = os.environ.get(match.group(1), "")
            if value:
                secrets.append(value)
            return value

        headers = {"accept": "application/json"}
        for name, value in self.config.headers.items():
            headers[name] = _ENV.sub(fill, value)
            if not _ENV.search(value) and name.lower() not in _PLAIN_HEADERS and len(value) >= 8:
                secrets.append(value)
        return headers, secrets

    def _client_for(self, timeout_s: float | None):
        if self._client is None:
            httpx = _httpx()
            self._client = httpx.AsyncClient(timeout=float(timeout_s) if timeout_s else 60.0, follow_redirects=True)
        return self._client

    def open(self) -> None:
        self._client_for(None)

    async def complete(self, request: ProviderRequest) -> ProviderResponse:
        httpx = _httpx()
        timeout_s = request.params.get("timeout_s")
        headers, secrets = self._headers()

        def scrub(text: str) -> str:
            for secret in secrets:
                if secret:
                    text = text.replace(secret, "***")
            return text

        method = self.config.method
        body = None if method == "GET" else self.body(request)
        client = self._client_for(timeout_s)
        started = time.perf_counter()
        try:
            response = await client.request(method, self.url, json=body, headers=headers,
                                            timeout=float(timeout_s) if timeout_s else httpx.USE_CLIENT_DEFAULT)
        except httpx.TimeoutException:
            limit = f" within {float(timeout_s):g} s" if timeout_s else ""
            raise ProviderError("timeout", f"no answer{limit} (per-call timeout)", retryable=True) from None
        except httpx.HTTPError as error:
            raise ProviderError("connection", scrub(f"{type(error).__name__}: {error}"), retryable=True) from None
        latency_ms = (time.perf_counter() - started) * 1000
        text = response.text
        if response.status_code >= 400:
            status = response.status_code
            raise ProviderError(error_type(status), scrub(f"HTTP {status}: {excerpt(text)}"),
                                retryable=retryable_status(status), status=status,
                                retry_after_s=retry_after_seconds(response.headers))
        return self.read(text, latency_ms=latency_ms, request_id=response.headers.get("x-request-id"), scrub=scrub)

    def read(self, text: str, *, latency_ms: float | None = None, request_id: str | None = None,
             scrub=lambda t: t) -> ProviderResponse:
        """A response body as the row's response, by the route's paths."""
        paths = self.config.response
        try:
            document: Any = json.loads(text)
            is_json = True
        except ValueError:
            document, is_json = None, False

        def missing(path: str, what: str) -> ProviderError:
            return ProviderError(
                "bad_response", scrub(f"{what} path {path!r} matched nothing in the response: {excerpt(text)}")
            )

        if paths.output is None:
            output = document if is_json and isinstance(document, str) else (text if not is_json else None)
            if output is None:
                raise ProviderError("bad_response", scrub(f"the response is JSON but the route gives no "
                                                          f"http.response.output path: {excerpt(text)}"))
        else:
            if not is_json:
                raise ProviderError("bad_response", scrub(f"the response is not JSON, so output path {paths.output!r} "
                                                          f"matches nothing: {excerpt(text)}"))
            output = dig(document, paths.output)
            if not found(output) or output is None:
                raise missing(paths.output, "output")

        def optional(path: str | None) -> Any:
            if path is None or not is_json:
                return None
            value = dig(document, path)
            return value if found(value) else None

        def number(path: str | None, kind) -> Any:
            value = optional(path)
            try:
                return None if value is None else kind(value)
            except (TypeError, ValueError):
                raise ProviderError("bad_response", f"{path!r} is not a number: {excerpt(repr(value), 80)}") from None

        retrieved = None
        if paths.retrieved is not None:
            items = dig(document, paths.retrieved) if is_json else None
            if items is None or not found(items):
                raise missing(paths.retrieved, "retrieved")
            retrieved = read_retrieved(items, id_key=paths.retrieved_id, score_key=paths.retrieved_score,
                                       text_key=paths.retrieved_text)
        model = optional(paths.model)
        return ProviderResponse(
            text=as_text(output),
            model=str(model) if model is not None else None,
            input_tokens=number(paths.input_tokens, int),
            output_tokens=number(paths.output_tokens, int),
            cost_usd=number(paths.cost_usd, float),
            retrieved=retrieved,
            latency_ms=latency_ms,
            request_id=request_id,
        )

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
