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
* A route's first call goes through `create`. When the body `create` sent is exactly the
  route's arguments (the SDK's request transform changed nothing), the route's later calls
  go through the client's documented `post` with the same keys in the same order: the same
  bytes on the wire, with the SDK's auth, headers, timeouts and errors. `create` runs that
  transform on every call and builds a ChatCompletion that evalkit would only read back:
  more than 40 % of a bare loop's CPU per call against a fast local server (benchmarks/).
"""

from __future__ import annotations

import json
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


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_completion(content: bytes, headers: Any, latency_ms: float) -> ProviderResponse:
    """A chat completion's JSON body and headers as a ProviderResponse: the first choice's
    content (its refusal when there is none), the model, the token counts and their details."""
    try:
        data = json.loads(content)
    except ValueError:
        raise ProviderError("bad_response", "the server's answer is not JSON") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise ProviderError("bad_response", "the server returned no choices")
    choice = choices[0]
    message = _object(choice.get("message"))
    text = message.get("content")
    if text is None:
        text = message.get("refusal") or ""
    usage = _object(data.get("usage"))
    return ProviderResponse(
        text=text if isinstance(text, str) else json.dumps(text, ensure_ascii=False), model=data.get("model"),
        input_tokens=_number(usage.get("prompt_tokens")), output_tokens=_number(usage.get("completion_tokens")),
        latency_ms=latency_ms, finish_reason=choice.get("finish_reason"),
        request_id=headers.get("x-request-id"), rate_limits=read_rate_limits(headers),
        cached_input_tokens=_number(_object(usage.get("prompt_tokens_details")).get("cached_tokens")),
        reasoning_tokens=_number(_object(usage.get("completion_tokens_details")).get("reasoning_tokens")))


def is_reasoning_model(model: str) -> bool:
    from evalkit.retirement import base_model

    return bool(_REASONING.match(base_model(model)))


class OpenAIProvider(SDKProvider):
    api_key_env = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"
    default_endpoint = "https://api.openai.com/v1"
    sdk_name = "openai"
    finds_shutdown_date = True
    #: (body template, HTTP response class, request options) when this route's bodies go through
    #: `post`, False when through `create`, None until a first answer decides
    _direct: Any = None

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
        self._direct = None

    def _learn_body(self, sent: bytes, messages: list[dict[str, str]]) -> dict[str, Any] | None:
        """The body template (keys in the order `create` sent them, `messages` a placeholder)
        when the body `create` just sent holds exactly this route's keyword arguments, the
        `extra_body` keys and `messages`, unchanged by the SDK's request transform; else None."""
        try:
            document = json.loads(sent)
        except ValueError:
            return None
        ours = self._body(messages)
        if not isinstance(document, dict) or document != ours:
            return None
        return {key: None if key == "messages" else ours[key] for key in document}

    def _body(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        kwargs = {k: v for k, v in self._kwargs.items() if k not in ("timeout", "extra_body")}
        return {**kwargs, "messages": messages, **(self._kwargs.get("extra_body") or {})}

    def request_body(self, request: ProviderRequest) -> dict[str, Any]:
        """The JSON body `complete` sends for this request (the batch lane writes the same)."""
        self._configured(request)
        return self._body(request.messages)

    @staticmethod
    def _sdk_create_signature():
        from openai.resources.chat.completions import AsyncCompletions

        return AsyncCompletions.create

    # -- the client and the calls

    def _bind(self, sdk: Any, key: str):
        """The send function: one request's HTTP response. A route's first request goes through
        `create`; once the body `create` sent shows that the SDK leaves this route's bodies as
        they are, the rest go through the client's `post` in the same key order."""
        client = self._client = shared_client(sdk.AsyncOpenAI, **self._client_settings(key))
        create = client.chat.completions.with_raw_response.create

        async def send(**kwargs: Any) -> Any:
            direct = self._direct
            if direct:
                template, response_class, options = direct
                body = template.copy()
                body["messages"] = kwargs["messages"]
                return await client.post("/chat/completions", body=body, cast_to=response_class, options=options)
            response = (await create(**kwargs)).http_response
            if direct is None:
                template = self._learn_body(response.request.content, kwargs["messages"])
                timeout = kwargs.get("timeout")
                self._direct = False if template is None else (
                    template, type(response), {"timeout": timeout} if timeout else {})
            return response

        return send

    async def complete(self, request: ProviderRequest) -> ProviderResponse:
        response, latency_ms = await self._send(messages=request.messages, **self._configured(request))
        return read_completion(response.content, response.headers, latency_ms)

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

