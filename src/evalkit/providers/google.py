"""`google:MODEL`: Gemini through the google-genai SDK, on the Gemini API or Vertex AI.

* Gemini API: `google:gemini-2.5-flash` with the key in `GEMINI_API_KEY` (or `GOOGLE_API_KEY`,
  or the route's `api_key_env`).
* Vertex AI: set `GOOGLE_GENAI_USE_VERTEXAI=true`, `GOOGLE_CLOUD_PROJECT` and
  `GOOGLE_CLOUD_LOCATION` (the SDK's own variables), or give `params: {vertexai: true,
  project: ..., location: ...}`; credentials are Application Default Credentials, never a
  file evalkit writes. A tuned model's endpoint,
  `google:projects/P/locations/L/endpoints/E`, is always Vertex AI (project and location
  from the name).
* Structured output: `response_mime_type: application/json` with the output schema as
  `response_json_schema`; a text-mode suite or `params: {structured: false}` asks for text.
* System messages go into `system_instruction`; assistant turns are the `model` role.
* The SDK's own retries are off (the runner retries: 408, 429, 5xx, timeouts and dropped
  connections). Tokens: `usage_metadata.prompt_token_count` and `candidates_token_count`
  (plus thinking tokens, which are billed as output).

The SDK is the optional extra `evalkit-harness[google]`, imported on the first call.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from evalkit.errors import BadInput
from evalkit.providers.base import Provider, ProviderError, ProviderRequest, ProviderResponse
from evalkit.providers.sdk import error_type, public_url, retry_after_seconds, retryable_status

#: route params evalkit reads itself (client settings), never sent as generation settings
CLIENT_PARAMS = frozenset({"vertexai", "project", "location", "timeout_s", "structured"})
#: route params that map onto GenerateContentConfig under another name
RENAMED = {"max_tokens": "max_output_tokens", "stop": "stop_sequences"}
_ENDPOINT = re.compile(r"^projects/([^/]+)/locations/([^/]+)/endpoints/[^/]+$")
_TRUE = ("1", "true", "yes")


def gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The output schema as Gemini's `response_json_schema` takes it (without `$schema` and `$id`)."""
    return {k: v for k, v in schema.items() if k not in ("$schema", "$id")}


def gemini_contents(messages: list[dict[str, str]]) -> tuple[list[dict[str, Any]], str | None]:
    """Chat messages -> (contents, system instruction)."""
    system = [m["content"] for m in messages if m["role"] == "system"]
    contents = [{"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]}
                for m in messages if m["role"] != "system"]
    return contents, ("\n\n".join(system) if system else None)


class GoogleProvider(Provider):
    remote = True
    requires = ("google.genai", "google")

    def __init__(self, model: str, *, route_name: str, route: Any, suite: Any):
        super().__init__(model, route_name=route_name, route=route, suite=suite)
        params = self._route_params()
        endpoint = _ENDPOINT.match(model)
        self.vertexai = bool(endpoint) or bool(params.get("vertexai")) or \
            os.environ.get("GOOGLE_GENAI_USE_VERTEXAI", "").lower() in _TRUE
        self.project = (
            params.get("project") or (endpoint.group(1) if endpoint else None) or os.environ.get("GOOGLE_CLOUD_PROJECT")
        )
        self.location = (
            params.get("location")
            or (endpoint.group(2) if endpoint else None)
            or os.environ.get("GOOGLE_CLOUD_LOCATION")
        )
        self.base_url = getattr(route, "base_url", None) or os.environ.get("GOOGLE_GEMINI_BASE_URL") or None
        self._client: Any = None  # google.genai.Client, made on first use
        self._config = None

    def _route_params(self) -> dict[str, Any]:
        return getattr(self.route, "params", None) or {}

    def key_variable(self) -> str | None:
        explicit = getattr(self.route, "api_key_env", None)
        if explicit:
            return explicit
        if self.vertexai:
            return None  # Application Default Credentials
        if not os.environ.get("GEMINI_API_KEY") and os.environ.get("GOOGLE_API_KEY"):
            return "GOOGLE_API_KEY"
        return "GEMINI_API_KEY"

    def price_ref(self) -> str:
        """A tuned endpoint is billed at its base model's rates: priced as the route's base_model."""
        base = getattr(self.route, "base_model", None)
        if _ENDPOINT.match(self.model) and base:
            return f"google:{base.rpartition('/')[2]}"
        return self.ref

    def prepare(self) -> None:
        if self.vertexai and not (self.project and self.location):
            raise BadInput(
                f"route {self.route_name!r} ({self.ref}) runs on Vertex AI and needs a project and a location: "
                f"set GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION, or params project and location"
            )

    def _structured(self, params: dict[str, Any]) -> bool:
        task = getattr(getattr(self.suite, "spec", None), "task", None)
        return (task is None or task.output_format == "json") and params.get("structured", True) is not False \
            and getattr(self.suite, "output_schema", None) is not None

    # -- the request

    def generation_config(self, request: ProviderRequest, system: str | None) -> dict[str, Any]:
        """GenerateContentConfig's fields for this request (as a dict)."""
        config: dict[str, Any] = {}
        for name, value in request.params.items():
            if value is None or name in CLIENT_PARAMS:
                continue
            config[RENAMED.get(name, name)] = value
        if system:
            config["system_instruction"] = system
        if request.output_schema is not None and self._structured(request.params):
            config["response_mime_type"] = "application/json"
            config["response_json_schema"] = gemini_schema(request.output_schema)
        return config

    def _timeout_s(self, params: dict[str, Any]) -> float:
        return float(params.get("timeout_s") or 60.0)

    def _connect(self, params: dict[str, Any]):
        from google import genai
        from google.genai import types

        options: dict[str, Any] = {"timeout": int(self._timeout_s(params) * 1000),
                                   "retry_options": types.HttpRetryOptions(attempts=1)}
        if self.base_url:
            options["base_url"] = self.base_url
        if self.vertexai:
            client = genai.Client(vertexai=True, project=self.project, location=self.location,
                                  http_options=types.HttpOptions(**options))
        else:
            key = os.environ.get(self.key_variable() or "")
            if not key:
                raise ProviderError("missing_key", f"set {self.key_variable()} to call {self.ref}")
            client = genai.Client(api_key=key, http_options=types.HttpOptions(**options))
        self._client = client
        return client

    def open(self) -> None:
        if self._client is None:
            try:
                self._connect(self._route_params())
            except ProviderError:
                pass

    def _secret(self) -> str | None:
        variable = self.key_variable()
        return os.environ.get(variable) if variable else None

    def _error(self, error: BaseException, timeout_s: float) -> ProviderError:
        from google.genai import errors

        secret = self._secret()

        def scrub(text: str) -> str:
            return text.replace(secret, "***") if secret and secret in text else text

        if isinstance(error, errors.APIError):
            status = int(error.code or 0)
            headers = getattr(getattr(error, "response", None), "headers", None)
            message = error.message or str(error.details)
            return ProviderError(
                error_type(status),
                scrub(f"HTTP {status}: {message}"),
                retryable=retryable_status(status),
                status=status,
                retry_after_s=retry_after_seconds(headers),
            )
        name = type(error).__name__
        if "Timeout" in name or isinstance(error, TimeoutError):
            return ProviderError("timeout", f"no answer within {timeout_s:g} s (per-call timeout)", retryable=True)
        if any(word in name for word in ("Connect", "Network", "Protocol", "RemoteDisconnected", "ReadError")):
            return ProviderError("connection", scrub(f"{name}: {error}"), retryable=True)
        return ProviderError(name, scrub(str(error)))

    async def complete(self, request: ProviderRequest) -> ProviderResponse:
        client = self._client or self._connect(request.params)
        contents, system = gemini_contents(request.messages)
        config = self.generation_config(request, system)
        timeout_s = self._timeout_s(request.params)
        started = time.perf_counter()
        try:
            response = await client.aio.models.generate_content(model=self.model, contents=contents, config=config)
        except Exception as error:  # noqa: BLE001 - every SDK failure becomes an error row or a retry
            raise self._error(error, timeout_s) from None
        latency_ms = (time.perf_counter() - started) * 1000
        return read_response(response, latency_ms=latency_ms)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aio.aclose()
            except Exception:  # noqa: BLE001 - closing never fails the run
                pass

    def model_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "platform": "vertex-ai" if self.vertexai else "gemini-api",
            "base_url": public_url(self.base_url),
            "api_key_env": self.key_variable(),
            "structured_output": "response_json_schema" if self._structured(self._route_params()) else None,
        }
        if self.vertexai:
            info.update(project=self.project, location=self.location)
        return info


def read_response(response: Any, *, latency_ms: float | None = None) -> ProviderResponse:
    """A GenerateContentResponse as a row's response: the first candidate's text parts."""
    candidates = response.candidates or []
    if not candidates:
        feedback = getattr(response, "prompt_feedback", None)
        reason = getattr(feedback, "block_reason", None)
        raise ProviderError("bad_response", f"no candidates in the response{f' (blocked: {reason})' if reason else ''}")
    candidate = candidates[0]
    parts = (candidate.content.parts if candidate.content is not None else None) or []
    text = "".join(part.text for part in parts if getattr(part, "text", None) and not getattr(part, "thought", False))
    usage = response.usage_metadata
    input_tokens = output_tokens = None
    if usage is not None:
        input_tokens = usage.prompt_token_count
        if usage.candidates_token_count is not None or usage.thoughts_token_count is not None:
            output_tokens = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
    finish = candidate.finish_reason
    return ProviderResponse(text=text, model=response.model_version, input_tokens=input_tokens,
                            output_tokens=output_tokens, latency_ms=latency_ms,
                            finish_reason=getattr(finish, "value", finish) if finish is not None else None,
                            request_id=getattr(response, "response_id", None))
