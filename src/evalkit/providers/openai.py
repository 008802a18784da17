"""`openai:MODEL`: OpenAI Chat Completions through the `openai` SDK's async client.

* Structured output: `response_format={"type": "json_schema", "json_schema": {name, schema,
  strict}}` built from the suite's output schema; `strict` is true only when the schema
  allows it (every object closes `additionalProperties` and requires all its properties).
  Text mode, a suite without a schema, or a route with `params: {structured: false}` sends
  no response_format.
* `openai:ft:BASE:org::id` fine-tuned ids work like any model.
* A route's `base_url` (or `OPENAI_BASE_URL`) reaches any compatible server (vLLM, Ollama,
  LM Studio, Azure's v1 endpoint, a local stub), with the key in the route's `api_key_env`.
* Route params go to `create` when the SDK knows them, the rest through `extra_body`.
  Reasoning models (o-series, gpt-5 family) get `max_completion_tokens` instead of
  `max_tokens`, and the suite-wide default `temperature` is not sent to them (they refuse
  it); a temperature set on the route itself is always sent.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from evalkit.errors import BadInput
from evalkit.pacing import read_rate_limits
from evalkit.providers.base import ProviderError, ProviderRequest, ProviderResponse
from evalkit.providers.sdk import SDKProvider, shared_client, split_params

if TYPE_CHECKING:
    from evalkit.batch.adapters import BatchAdapter

#: how long the model lookup (shutdown date) may take before it counts as unknown
LOOKUP_TIMEOUT_S = 5.0

_REASONING = re.compile(r"^(?:o\d|gpt-5)")


def strict_compatible(schema: Any) -> bool:
    """True when OpenAI's strict mode can take the schema as it is: the root is an object and
    every object sets `additionalProperties: false` and lists all its properties as required."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return False
    return _closed(schema)


def _closed(node: Any) -> bool:
    if isinstance(node, list):
        return all(_closed(item) for item in node)
    if not isinstance(node, dict):
        return True
    kind = node.get("type")
    is_object = kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node
    if is_object:
        properties = node.get("properties") or {}
        if node.get("additionalProperties") is not False or set(node.get("required") or []) != set(properties):
            return False
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions", "patternProperties"):
            if isinstance(value, dict) and not all(_closed(v) for v in value.values()):
                return False
        elif key in ("items", "anyOf", "allOf", "oneOf", "prefixItems", "not", "additionalProperties") and not _closed(
            value
        ):
            return False
    return True


def schema_name(suite_name: str | None) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", suite_name or "")[:64]
    return name or "output"


def is_reasoning_model(model: str) -> bool:
    from evalkit.retirement import base_model

    return bool(_REASONING.match(base_model(model)))


class OpenAIProvider(SDKProvider):
    api_key_env = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"
    default_endpoint = "https://api.openai.com/v1"
    sdk_name = "openai"
    finds_shutdown_date = True

    @classmethod
    def batch_adapter(cls) -> type[BatchAdapter]:
        from evalkit.batch.openai_batch import OpenAIBatches

        return OpenAIBatches

    # -- configuration (once per route: the request parameters and schema do not change)

    def prepare(self) -> None:
        schema = self._schema()
        if schema is not None and not isinstance(schema, dict):
            raise BadInput(f"route {self.route_name!r}: the output schema must be a JSON object")

    def _configure(self, request: ProviderRequest) -> None:
        params = dict(request.params)
        explicit = set(self._route_params()) if self.route is not None else set(params)
        if is_reasoning_model(self.model):
            if "max_tokens" in params and params.get("max_completion_tokens") is None:
                params["max_completion_tokens"] = params.pop("max_tokens")
            else:
                params.pop("max_tokens", None)
            if params.get("temperature") is not None and "temperature" not in explicit:
                params.pop("temperature")
        self._timeout_s = params.get("timeout_s")
        known, extra = split_params(params, self._sdk_create_signature())
        kwargs: dict[str, Any] = {"model": self.model, **known}
        if extra:
            kwargs["extra_body"] = extra
        schema = request.output_schema
        if schema is not None and self._json_mode(params):
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {
                "name": schema_name(getattr(self.suite, "name", None)),
                "schema": schema, "strict": strict_compatible(schema)}}
        if self._timeout_s:
            kwargs["timeout"] = float(self._timeout_s)
        self._kwargs = kwargs

    def request_body(self, request: ProviderRequest) -> dict[str, Any]:
        """The JSON body `complete` sends for this request (the batch lane writes the same)."""
        configured = self._configured(request)
        kwargs = {k: v for k, v in configured.items() if k not in ("timeout", "extra_body")}
        return {**kwargs, "messages": request.messages, **(configured.get("extra_body") or {})}

    @staticmethod
    def _sdk_create_signature():
        from openai.resources.chat.completions import AsyncCompletions

        return AsyncCompletions.create

    # -- the client and the calls

    def _bind(self, sdk: Any, key: str):
        self._client = shared_client(sdk.AsyncOpenAI, **self._client_settings(key))
        return self._client.chat.completions.with_raw_response.create

    async def complete(self, request: ProviderRequest) -> ProviderResponse:
        raw, latency_ms = await self._send(messages=request.messages, **self._configured(request))
        response = raw.parse()
        choices = response.choices
        if not choices:
            raise ProviderError("bad_response", "the server returned no choices")
        choice = choices[0]
        message = choice.message
        text = message.content if message.content is not None else (getattr(message, "refusal", None) or "")
        usage = response.usage
        answer = ProviderResponse(
            text=text, model=response.model,
            input_tokens=usage.prompt_tokens if usage is not None else None,
            output_tokens=usage.completion_tokens if usage is not None else None,
            latency_ms=latency_ms, finish_reason=choice.finish_reason,
            request_id=raw.headers.get("x-request-id"), rate_limits=read_rate_limits(raw.headers))
        if usage is not None:
            prompt_details, completion_details = usage.prompt_tokens_details, usage.completion_tokens_details
            if prompt_details is not None and prompt_details.cached_tokens is not None:
                answer.cached_input_tokens = prompt_details.cached_tokens
            if completion_details is not None and completion_details.reasoning_tokens is not None:
                answer.reasoning_tokens = completion_details.reasoning_tokens
        return answer

    async def lookup_shutdown_date(self) -> str | None:
        """The shutdown date the models endpoint reports for this model (a fine-tune: for its
        base model when it has none of its own). Any failure is None: it never fails the run."""
        from evalkit.retirement import base_model

        if self._create is None:
            try:
                self._connect()
            except ProviderError:
                return None
        names = list(dict.fromkeys([self.model, base_model(self.model)]))
        for name in names:
            try:
                info = await self._client.models.retrieve(name, timeout=LOOKUP_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - unknown, not fatal
                continue
            day = getattr(info, "shutdown_date", None) or (getattr(info, "model_extra", None) or {}).get(
                "shutdown_date"
            )
            if day:
                return str(day)
        return None

    def model_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"base_url": self.endpoint(),
                                "api_key_env": self.key_variable()}
        schema = self._schema()
        if schema is not None and self._json_mode(self._route_params()):
            info["structured_output"] = (
                "json_schema (strict)" if strict_compatible(schema) else "json_schema (not strict)"
            )
        else:
            info["structured_output"] = None
        if is_reasoning_model(self.model) and "temperature" not in self._route_params():
            info["not_sent"] = ["temperature"]
        return info

