"""`anthropic:MODEL`: Anthropic Messages through the `anthropic` SDK's async client.

* Structured output: a forced tool call. The request carries one tool whose `input_schema`
  is the suite's output schema and `tool_choice={"type": "tool", "name": ...}`; the tool's
  input, serialised as JSON, is the row's output. Text mode, a suite without a schema, or a
  route with `params: {structured: false}` asks for plain text instead (the prompt then
  says what JSON to write).
* System messages go into `system`; `ANTHROPIC_BASE_URL` or a route's `base_url` reaches
  any compatible server, with the key in the route's `api_key_env`.
* Sampling parameters: recent SDKs no longer take `temperature`/`top_p`/`top_k` as keyword
  arguments and models from Opus 4.7 on refuse them, so they travel in `extra_body`, and the
  suite-wide default temperature is sent only to models known to accept it. A temperature
  set on the route itself is always sent. `seed` does not exist in this API and is not sent.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from evalkit.errors import BadInput
from evalkit.pacing import read_rate_limits
from evalkit.providers.base import ProviderRequest, ProviderResponse
from evalkit.providers.sdk import SDKProvider, shared_client, split_params

if TYPE_CHECKING:
    from evalkit.batch.adapters import BatchAdapter

TOOL_NAME = "record_answer"
TOOL_DESCRIPTION = "Record the answer. The tool's input is the answer itself, in the required format."

_SAMPLING = ("temperature", "top_p", "top_k")
#: models that accept sampling parameters (Claude 3.x and the 4.x models up to Opus 4.6)
_ACCEPTS_SAMPLING = re.compile(
    r"^claude-(?:3(?:-[57])?-[a-z]+|(?:opus|sonnet)-4(?:-[0156])?|haiku-4-5)(?:-\d{8}|-latest)?$")
_NEVER_SENT = frozenset({"seed"})


def parse_long_date(text: str | None) -> str | None:
    """`November 30th, 2026` -> `2026-11-30`; None when it does not parse."""
    if not text:
        return None
    from datetime import datetime

    try:
        return datetime.strptime(re.sub(r"(\d+)(?:st|nd|rd|th)", r"\1", text.strip()), "%B %d, %Y").date().isoformat()
    except ValueError:
        return None


def accepts_sampling(model: str) -> bool:
    return bool(_ACCEPTS_SAMPLING.match(model))


def message_response(
    message: Any, *, latency_ms: float | None = None, request_id: str | None = None
) -> ProviderResponse:
    """A Message as a row's response: the forced tool's input as JSON, else the text blocks;
    input tokens include cache writes and reads (Anthropic's `input_tokens` leaves them out),
    which are also kept apart for pricing. The batch lane reads its results the same way."""
    text = None
    parts = []
    for block in message.content:
        if block.type == "tool_use" and block.name == TOOL_NAME:
            text = json.dumps(block.input, ensure_ascii=False)
            break
        if block.type == "text":
            parts.append(block.text)
    if text is None:
        text = "".join(parts)
    usage = message.usage
    input_tokens = written = read = None
    if usage is not None:
        written = getattr(usage, "cache_creation_input_tokens", None)
        read = getattr(usage, "cache_read_input_tokens", None)
        input_tokens = (usage.input_tokens or 0) + (written or 0) + (read or 0)
    return ProviderResponse(text=text, model=message.model, input_tokens=input_tokens,
                            output_tokens=usage.output_tokens if usage is not None else None,
                            latency_ms=latency_ms, finish_reason=message.stop_reason, request_id=request_id,
                            cached_input_tokens=read, cache_write_tokens=written)


class AnthropicProvider(SDKProvider):
    api_key_env = "ANTHROPIC_API_KEY"
    base_url_env = "ANTHROPIC_BASE_URL"
    default_endpoint = "https://api.anthropic.com"
    sdk_name = "anthropic"
    finds_shutdown_date = True

    @classmethod
    def batch_adapter(cls) -> type[BatchAdapter]:
        from evalkit.batch.anthropic_batch import AnthropicBatches

        return AnthropicBatches

    # -- configuration (once per route)

    def _structured(self, params: dict[str, Any]) -> bool:
        return self._json_mode(params) and self._schema() is not None

    def prepare(self) -> None:
        schema = self._schema()
        if self._structured(self._route_params()) and (not isinstance(schema, dict) or schema.get("type") != "object"):
            raise BadInput(f"route {self.route_name!r}: Anthropic structured output is a tool call, whose input schema "
                           f"must be an object (\"type\": \"object\"); give the output schema an object root, or set "
                           f"params: {{structured: false}} on the route to ask for JSON in text")

    def not_sent(self, params: dict[str, Any]) -> list[str]:
        """Parameters of the merged request params that this route will not send."""
        explicit = set(self._route_params())
        dropped = [name for name in _NEVER_SENT if params.get(name) is not None]
        if not accepts_sampling(self.model):
            dropped += [name for name in _SAMPLING if params.get(name) is not None and name not in explicit]
        return sorted(dropped)

    def _configure(self, request: ProviderRequest) -> None:
        params = dict(request.params)
        for name in self.not_sent(params):
            params.pop(name, None)
        self._timeout_s = params.get("timeout_s")
        known, extra = split_params(params, self._sdk_create_signature())
        kwargs: dict[str, Any] = {"model": self.model, **known}
        kwargs.setdefault("max_tokens", 1024)
        if extra:
            kwargs["extra_body"] = extra
        if request.output_schema is not None and self._structured(params):
            kwargs["tools"] = [
                {"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "input_schema": request.output_schema}
            ]
            kwargs["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        if self._timeout_s:
            kwargs["timeout"] = float(self._timeout_s)
        self._kwargs = kwargs

    @staticmethod
    def _messages(request: ProviderRequest) -> dict[str, Any]:
        """`messages`, and the system messages joined into `system` (the Messages API has no system role).
        With `params: {cache_prompt: true}` the system prompt (instructions and the few-shot block
        or context placed there) is marked cacheable: the static prefix every call repeats."""
        system = [m["content"] for m in request.messages if m["role"] == "system"]
        if not system:
            return {"messages": request.messages}
        text = "\n\n".join(system)
        if request.params.get("cache_prompt"):
            return {"messages": [m for m in request.messages if m["role"] != "system"],
                    "system": [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]}
        return {"messages": [m for m in request.messages if m["role"] != "system"], "system": text}

    def request_body(self, request: ProviderRequest) -> dict[str, Any]:
        """The JSON body `complete` sends for this request (the batch lane writes the same)."""
        configured = self._configured(request)
        body = {k: v for k, v in configured.items() if k not in ("timeout", "extra_body")}
        return {**body, **self._messages(request), **(configured.get("extra_body") or {})}

    @staticmethod
    def _sdk_create_signature():
        from anthropic.resources.messages import AsyncMessages

        return AsyncMessages.create

    # -- the client and the calls

    def _bind(self, sdk: Any, key: str):
        self._client = shared_client(sdk.AsyncAnthropic, **self._client_settings(key))
        return self._client.messages.with_raw_response.create

    async def complete(self, request: ProviderRequest) -> ProviderResponse:
        raw, latency_ms = await self._send(**self._messages(request), **self._configured(request))
        answer = message_response(await raw.parse(), latency_ms=latency_ms, request_id=raw.headers.get("request-id"))
        answer.rate_limits = read_rate_limits(raw.headers)
        return answer

    async def lookup_shutdown_date(self) -> str | None:
        """The model's end-of-life date from the deprecation table Anthropic ships in its SDK
        (no request is made). None when the model is not listed or the table is absent."""
        try:
            from anthropic.resources.messages.messages import DEPRECATED_MODELS
        except Exception:  # noqa: BLE001 - an SDK without the table: unknown
            return None
        return parse_long_date(DEPRECATED_MODELS.get(self.model))

    def model_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "base_url": self.endpoint(),
            "api_key_env": self.key_variable(),
            "structured_output": "forced tool call" if self._structured(self._route_params()) else None,
        }
        spec = getattr(self.suite, "spec", None)
        if spec is not None:
            dropped = self.not_sent({**spec.defaults.model_dump(), **self._route_params()})
            if dropped:
                info["not_sent"] = dropped
        return info
