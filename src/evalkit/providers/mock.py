"""`mock:NAME`: scripted outputs for tests.

Built-in scripts: `mock:expected` answers every case with its gold output (a perfect
model), `mock:echo` answers with the user message. Tests register their own with
`script(name, respond, latency_ms=...)`, where `respond` is fixed text, a mapping of
case id to text, or a callable of the request; a callable may raise ProviderError to
inject a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evalkit.errors import BadInput
from evalkit.providers.base import Provider, ProviderError, ProviderRequest, ProviderResponse

Respond = str | dict[str, str] | Callable[[ProviderRequest], str]


@dataclass
class Script:
    respond: Respond
    latency_ms: float = 0.0


_SCRIPTS: dict[str, Script] = {}


def script(name: str, respond: Respond, *, latency_ms: float = 0.0) -> None:
    """Register `mock:NAME` for the rest of the process."""
    _SCRIPTS[name] = Script(respond, latency_ms)


def clear() -> None:
    _SCRIPTS.clear()


class MockProvider(Provider):
    provenance = "stand-in"

    def prepare(self) -> None:
        if self.model not in ("expected", "echo") and self.model not in _SCRIPTS:
            raise BadInput(
                f"route {self.route_name!r}: no mock script named {self.model!r} (built-ins: expected, echo)"
            )

    def _answer(self, request: ProviderRequest) -> str:
        if self.model == "expected":
            from evalkit.routes import serialise_expected

            return serialise_expected(request.case, self.suite)
        if self.model == "echo":
            return request.messages[-1]["content"]
        respond = _SCRIPTS[self.model].respond
        if callable(respond):
            return respond(request)
        if isinstance(respond, dict):
            if request.case_id not in respond:
                raise ProviderError(
                    "mock_missing", f"mock script {self.model!r} has no output for case {request.case_id!r}"
                )
            return respond[request.case_id]
        return respond

    async def complete(self, request: ProviderRequest) -> ProviderResponse:
        latency = _SCRIPTS[self.model].latency_ms if self.model in _SCRIPTS else 0.0
        if latency:
            await asyncio.sleep(latency / 1000)
        text = self._answer(request)
        prompt_chars = sum(len(m["content"]) for m in request.messages)
        return ProviderResponse(text=text, model=f"mock:{self.model}", input_tokens=prompt_chars // 4 + 1,
                                output_tokens=len(text) // 4 + 1, latency_ms=latency)

    def model_info(self) -> dict[str, Any]:
        return {"resolved_model": f"mock:{self.model}"}
