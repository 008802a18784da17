"""The chat endpoints, in each provider's wire format, and the models endpoint.

``POST /v1/chat/completions``  OpenAI Chat Completion object; header ``x-request-id``.
``POST /v1/messages``          Anthropic Message object; header ``request-id``.
``GET  /v1/models``            OpenAI model list.
``GET  /v1/models/{id}``       OpenAI model object, with ``shutdown_date`` when known.

The answer text comes from ``responder(kind, body)`` (``kind`` ``"openai"`` or
``"anthropic"``, ``body`` the request's JSON): a string, or a JSON document that is
serialized; it may be an ``async def``.  ``usage_hook(kind, body, usage)`` may change a
usage document before it is sent.  A ``system`` block marked ``cache_control`` is a cache
write the first time its prefix is seen, a cache read after that (Anthropic's counts:
``input_tokens`` then leaves the cached tokens out).  A Messages request that forces a tool
(``tool_choice`` ``tool`` or ``any``) gets a ``tool_use`` block when the answer is a
JSON object.  Usage counts are characters / 4 + 1.  ``models`` and
``model_shutdown_dates`` fill the model list.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from evalkit.testing.stub_server.common import Handled, StubRequest, _BadRequest

_MODEL_CREATED = 1_700_000_000

Responder = Callable[[str, dict[str, Any]], str | dict[str, Any] | Awaitable[str | dict[str, Any]]]


def default_responder(kind: str, body: dict[str, Any]) -> str:
    """The stub's default answer: the same small JSON document for every request."""
    return '{"label": "ok"}'


def _text_len(content: Any) -> int:
    """Characters of text in a message ``content`` (a string or a list of parts)."""
    if content is None:
        return 0
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        total = 0
        for part in content:
            if isinstance(part, str):
                total += len(part)
            elif isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    total += len(part["text"])
                elif "content" in part:
                    total += _text_len(part["content"])
                elif "input" in part:
                    total += len(json.dumps(part["input"]))
        return total
    return len(json.dumps(content))


def _messages_chars(messages: Any) -> int:
    if not isinstance(messages, list):
        return 0
    return sum(_text_len(m.get("content")) for m in messages if isinstance(m, dict))


def _cacheable_prefix(system: Any) -> str | None:
    """The text of ``system`` up to its last block marked ``cache_control``; None without one."""
    if not isinstance(system, list):
        return None
    text, marked = "", None
    for block in system:
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            text += block["text"]
            if block.get("cache_control"):
                marked = text
    return marked


def _as_json_object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, (str, bytes)):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


class _ChatMixin:
    """The chat and models endpoints of StubServer (see the module docstring)."""

    # Set by StubServer.__init__ (or defined by a sibling mixin); declared for the type checker.
    responder: Responder
    usage_hook: Callable[[str, dict[str, Any], dict[str, Any]], Any] | None
    prompt_cache: set[Any]
    model_shutdown_dates: dict[str, str]
    models: list[str]

    async def _respond(self, kind: str, body: dict[str, Any]) -> Any:
        result = self.responder(kind, body)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _handle_chat_completions(self, req: StubRequest) -> Handled:
        body = req.body
        for field in ("model", "messages"):
            if field not in body:
                raise _BadRequest(f"Missing required parameter: '{field}'.")
        if body.get("stream"):
            raise _BadRequest("stream=true is not supported by the evalkit stub server.")
        choices = []
        completion_tokens = 0
        for index in range(max(int(body.get("n") or 1), 1)):
            content = await self._respond("openai", body)
            if not isinstance(content, str):
                content = json.dumps(content)
            completion_tokens += len(content) // 4 + 1
            choices.append({
                "index": index,
                "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            })
        prompt_tokens = _messages_chars(body["messages"]) // 4 + 1
        payload = {
            "id": f"chatcmpl-stub{req.request_id[4:]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
            "system_fingerprint": "fp_evalkit_stub",
            "service_tier": "default",
        }
        if self.usage_hook is not None:
            self.usage_hook("openai", body, payload["usage"])
        return 200, payload, None

    async def _handle_messages(self, req: StubRequest) -> Handled:
        body = req.body
        for field in ("model", "messages", "max_tokens"):
            if field not in body:
                raise _BadRequest(f"{field}: Field required")
        if body.get("stream"):
            raise _BadRequest("stream=true is not supported by the evalkit stub server.")

        tools = body.get("tools") or []
        tool_choice = body.get("tool_choice") or {}
        forced: str | None = None
        if tools and isinstance(tool_choice, dict):
            if tool_choice.get("type") == "tool":
                forced = tool_choice.get("name")
                if forced not in {t.get("name") for t in tools if isinstance(t, dict)}:
                    raise _BadRequest(f"tool_choice: tool {forced!r} is not among the request's tools")
            elif tool_choice.get("type") == "any" and isinstance(tools[0], dict):
                forced = tools[0].get("name")

        result = await self._respond("anthropic", body)
        tool_input = _as_json_object(result) if forced else None
        if tool_input is not None:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": f"toolu_stub{req.request_id[4:]}",
                "name": forced,
                "input": tool_input,
            }
            stop_reason = "tool_use"
            out_chars = len(json.dumps(tool_input))
        else:
            # Not forced, or the responder gave no JSON object for a forced tool:
            # a text block, as a model that ignored the tool would produce.
            text = result if isinstance(result, str) else json.dumps(result)
            block = {"type": "text", "text": text}
            stop_reason = "end_turn"
            out_chars = len(text)

        system = body.get("system")
        in_chars = _messages_chars(body["messages"]) + _text_len(system)
        written = read = 0
        cached = _cacheable_prefix(system)
        if cached is not None:  # prompt caching: the marked prefix is written once, then read
            prefix_tokens = len(cached) // 4
            if cached in self.prompt_cache:
                read = prefix_tokens
            else:
                self.prompt_cache.add(cached)
                written = prefix_tokens
        payload = {
            "id": f"msg_stub{req.request_id[4:]}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [block],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": in_chars // 4 + 1 - written - read,
                "output_tokens": out_chars // 4 + 1,
                "cache_creation_input_tokens": written,
                "cache_read_input_tokens": read,
            },
        }
        if self.usage_hook is not None:
            self.usage_hook("anthropic", body, payload["usage"])
        return 200, payload, None

    def _model_object(self, model_id: str) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "id": model_id,
            "object": "model",
            "created": _MODEL_CREATED,
            "owned_by": "user-stub" if model_id.startswith("ft:") else "system",
        }
        shutdown = self.model_shutdown_dates.get(model_id)
        if shutdown is not None:
            obj["shutdown_date"] = shutdown
        return obj

    async def _handle_list_models(self, req: StubRequest) -> Handled:
        ids = sorted(set(self.models) | set(self.model_shutdown_dates))
        return 200, {"object": "list", "data": [self._model_object(i) for i in ids]}, None

    async def _handle_retrieve_model(self, req: StubRequest) -> Handled:
        return 200, self._model_object(req.rest), None
