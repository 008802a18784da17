"""A local stub of Amazon Bedrock's Converse API wire format (what boto3's `bedrock-runtime`
client sends and reads), on 127.0.0.1 (see `evalkit.testing.services`). Point boto3 at it with
`endpoint_url=stub.url` (a route's `base_url`); the SigV4 signature is not checked.

`POST /model/MODEL_ID/converse`: the `responder(model_id, body)` gives the answer text (default:
the first enum value of each required field of the forced tool's schema, as JSON). With a
forced tool (`toolConfig.toolChoice.tool`) the answer is returned as that tool's `toolUse`
input, else as a text block. Usage counts words. `fail_script(n, model_id, body)` may return
`(status, error_type, message)` to answer with a Bedrock error instead
(`x-amzn-ErrorType` header and `{"message"}` body, as the service does).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from evalkit.testing.services import ServiceStub, answer_for_schema

_CONVERSE = re.compile(r"^/model/(.+)/converse$")


def default_answer(model: str, body: dict[str, Any]) -> str:
    tools = (body.get("toolConfig") or {}).get("tools") or []
    return answer_for_schema(tools[0]["toolSpec"]["inputSchema"]["json"] if tools else {})


class BedrockStub(ServiceStub):
    def __init__(self, responder: Callable[[str, dict], str] | None = None, *,
                 fail_script: Callable[[int, str, Any], tuple | None] | None = None):
        self.responder = responder or default_answer
        self.fail_script = fail_script
        super().__init__()

    def _handle(self, request: dict[str, Any]) -> tuple:
        match = _CONVERSE.match(request["path"])
        if request["method"] != "POST" or match is None:
            return 404, {"message": f"no such operation: {request['method']} {request['path']}"}, \
                {"x-amzn-ErrorType": "UnknownOperationException"}
        model, body = match.group(1), request["json"] or {}
        number = len(self.requests) - 1
        if self.fail_script is not None:
            failure = self.fail_script(number, model, body)
            if failure is not None:
                status, kind, message = failure
                return status, {"message": message}, {"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                                                      "x-amzn-RequestId": f"req-{number}"}
        if not body.get("messages"):
            return 400, {"message": "messages is required"}, {"x-amzn-ErrorType": "ValidationException"}
        text = self.responder(model, body)
        tool = ((body.get("toolConfig") or {}).get("toolChoice") or {}).get("tool")
        content: list[dict[str, Any]]
        if tool:
            content = [{"toolUse": {"toolUseId": f"tooluse_{number}", "name": tool["name"], "input": json.loads(text)}}]
            stop = "tool_use"
        else:
            content, stop = [{"text": text}], "end_turn"
        prompt = " ".join(b.get("text", "") for m in body["messages"] for b in m.get("content", []))
        system = " ".join(b.get("text", "") for b in body.get("system") or [])
        tokens_in, tokens_out = len((system + " " + prompt).split()), len(text.split())
        return (
            200,
            {
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": stop,
                "usage": {"inputTokens": tokens_in, "outputTokens": tokens_out, "totalTokens": tokens_in + tokens_out},
                "metrics": {"latencyMs": 1},
            },
            {"x-amzn-RequestId": f"req-{number}"},
        )
