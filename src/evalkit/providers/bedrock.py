"""`bedrock:MODEL_ID`: Amazon Bedrock's Converse API through boto3, for Anthropic, Meta,
Mistral and Amazon models, cross-region inference profiles (`us.anthropic...`) and custom
(fine-tuned) models by ARN.

* Region and credentials come from the standard AWS environment (`AWS_REGION` or
  `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`,
  `AWS_PROFILE`, SSO, instance roles); evalkit never writes them. `params: {region: ...}`
  picks a region for one route; a route's `base_url` is the endpoint URL.
* Structured output: a forced tool whose input schema is the output schema (Anthropic, Amazon
  Nova and Mistral Large accept a forced tool choice); other models, a text-mode suite or
  `params: {structured: false}` are asked for text.
* System messages go into `system`; temperature, max_tokens, top_p and stop go into
  `inferenceConfig`; any other param into `additionalModelRequestFields`.
* boto3's own retries are off (the runner retries throttling, 5xx, timeouts and dropped
  connections). Tokens: `usage.inputTokens` / `outputTokens`.

boto3 is the optional extra `evalkit-harness[bedrock]`, imported on the first call; the calls
run in worker threads (boto3 is synchronous).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from typing import Any

from evalkit.errors import BadInput
from evalkit.providers.base import Provider, ProviderError, ProviderRequest, ProviderResponse
from evalkit.providers.sdk import error_type, public_url, retryable_status

TOOL_NAME = "record_answer"
TOOL_DESCRIPTION = "Record the answer. The tool's input is the answer itself, in the required format."
CLIENT_PARAMS = frozenset({"region", "timeout_s", "structured", "seed"})
INFERENCE = {"max_tokens": "maxTokens", "temperature": "temperature", "top_p": "topP", "stop": "stopSequences"}
#: model families that accept toolChoice {"tool": ...}
_FORCED_TOOL = re.compile(r"(?:^|\.)(?:anthropic\.claude|amazon\.nova|mistral\.mistral-large)")
_RETRYABLE_CODES = frozenset({"ThrottlingException", "ServiceUnavailableException", "InternalServerException",
                              "ModelTimeoutException", "ModelNotReadyException", "TooManyRequestsException"})


def forced_tool_supported(model: str) -> bool:
    return bool(_FORCED_TOOL.search(model))


def converse_messages(messages: list[dict[str, str]]) -> dict[str, Any]:
    system = [{"text": m["content"]} for m in messages if m["role"] == "system"]
    body: dict[str, Any] = {"messages": [{"role": m["role"], "content": [{"text": m["content"]}]}
                                         for m in messages if m["role"] != "system"]}
    if system:
        body["system"] = system
    return body


class BedrockProvider(Provider):
    remote = True
    requires = ("boto3", "bedrock")

    def __init__(self, model: str, *, route_name: str, route: Any, suite: Any):
        super().__init__(model, route_name=route_name, route=route, suite=suite)
        params = getattr(route, "params", None) or {}
        self.region = params.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        self.base_url = getattr(route, "base_url", None) or None
        self._client = None

    def _route_params(self) -> dict[str, Any]:
        return getattr(self.route, "params", None) or {}

    def key_variable(self) -> str | None:
        return None  # the AWS credential chain, checked in prepare

    def prepare(self) -> None:
        if not self.region:
            raise BadInput(f"route {self.route_name!r} ({self.ref}) needs an AWS region: set AWS_REGION "
                           f"(or AWS_DEFAULT_REGION), or params region on the route")
        self.check_credentials()

    def check_credentials(self) -> None:
        """Stop before any call when the AWS credential chain finds nothing."""
        import boto3

        if boto3.session.Session().get_credentials() is None:
            raise BadInput(f"route {self.route_name!r} ({self.ref}) needs AWS credentials: set AWS_ACCESS_KEY_ID and "
                           f"AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where an instance role applies")

    def structured(self, params: dict[str, Any]) -> bool:
        task = getattr(getattr(self.suite, "spec", None), "task", None)
        return (task is None or task.output_format == "json") and params.get("structured", True) is not False \
            and getattr(self.suite, "output_schema", None) is not None and forced_tool_supported(self.model)

    def price_ref(self) -> str:
        base = getattr(self.route, "base_model", None)
        return f"bedrock:{base}" if self.model.startswith("arn:") and base else self.ref

    def fingerprint_material(self) -> dict[str, Any]:
        return {"region": self.region}

    # -- the request

    def request_body(self, request: ProviderRequest) -> dict[str, Any]:
        """The Converse keyword arguments for this request."""
        body: dict[str, Any] = {"modelId": self.model, **converse_messages(request.messages)}
        inference, extra = {}, {}
        for name, value in request.params.items():
            if value is None or name in CLIENT_PARAMS:
                continue
            if name in INFERENCE:
                inference[INFERENCE[name]] = value if name != "stop" or isinstance(value, list) else [value]
            else:
                extra[name] = value
        if inference:
            body["inferenceConfig"] = inference
        if extra:
            body["additionalModelRequestFields"] = extra
        if request.output_schema is not None and self.structured(request.params):
            body["toolConfig"] = {"tools": [{"toolSpec": {"name": TOOL_NAME, "description": TOOL_DESCRIPTION,
                                                          "inputSchema": {"json": request.output_schema}}}],
                                  "toolChoice": {"tool": {"name": TOOL_NAME}}}
        return body

    def _connect(self, timeout_s: float):
        import boto3
        from botocore.config import Config

        config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=min(timeout_s, 10.0),
                        read_timeout=timeout_s, region_name=self.region)
        self._client = boto3.session.Session().client("bedrock-runtime", region_name=self.region,
                                                      endpoint_url=self.base_url, config=config)
        return self._client

    def open(self) -> None:
        if self._client is None:
            self._connect(float(self._route_params().get("timeout_s") or 60.0))

    def _secrets(self) -> list[str]:
        """What must never reach a row: the credentials the chain resolved (and the environment's)."""
        values = [os.environ.get(name) for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")]
        credentials = getattr(getattr(self._client, "_request_signer", None), "_credentials", None)
        if credentials is not None:
            values += [getattr(credentials, "secret_key", None), getattr(credentials, "token", None),
                       getattr(credentials, "access_key", None)]
        return [v for v in values if v]

    def _error(self, error: BaseException, timeout_s: float) -> ProviderError:
        found = self._classify(error, timeout_s)
        for secret in self._secrets():
            found.message = found.message.replace(secret, "***")
        return found

    def _classify(self, error: BaseException, timeout_s: float) -> ProviderError:
        from botocore import exceptions

        if isinstance(error, exceptions.ClientError):
            info = error.response.get("Error", {})
            code = info.get("Code") or "ClientError"
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            retryable = code in _RETRYABLE_CODES or retryable_status(status)
            return ProviderError(
                error_type(status) if status else code,
                f"HTTP {status} {code}: {info.get('Message', '')}".strip(),
                retryable=retryable,
                status=status or None,
            )
        if isinstance(error, (exceptions.ReadTimeoutError, exceptions.ConnectTimeoutError)):
            return ProviderError("timeout", f"no answer within {timeout_s:g} s (per-call timeout)", retryable=True)
        if isinstance(error, (exceptions.EndpointConnectionError, exceptions.ConnectionClosedError)):
            return ProviderError("connection", str(error), retryable=True)
        if isinstance(error, exceptions.NoCredentialsError):
            return ProviderError("missing_key", "no AWS credentials found")
        return ProviderError(type(error).__name__, str(error))

    async def complete(self, request: ProviderRequest) -> ProviderResponse:
        timeout_s = float(request.params.get("timeout_s") or 60.0)
        client = self._client or self._connect(timeout_s)
        body = self.request_body(request)
        started = time.perf_counter()
        try:
            response = await asyncio.to_thread(client.converse, **body)
        except Exception as error:  # noqa: BLE001 - every SDK failure becomes an error row or a retry
            raise self._error(error, timeout_s) from None
        return read_converse(response, model=self.model, latency_ms=(time.perf_counter() - started) * 1000)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def model_info(self) -> dict[str, Any]:
        return {"region": self.region, "base_url": public_url(self.base_url),
                "structured_output": "forced tool call" if self.structured(self._route_params()) else None,
                "credentials": "AWS credential chain"}


def read_converse(
    response: dict[str, Any], *, model: str | None = None, latency_ms: float | None = None
) -> ProviderResponse:
    """A Converse response as a row's response: the forced tool's input as JSON, else the text blocks."""
    content = ((response.get("output") or {}).get("message") or {}).get("content") or []
    text = None
    for block in content:
        tool = block.get("toolUse")
        if tool and tool.get("name") == TOOL_NAME:
            text = json.dumps(tool.get("input"), ensure_ascii=False)
            break
    if text is None:
        text = "".join(block.get("text", "") for block in content)
    usage = response.get("usage") or {}
    return ProviderResponse(text=text, model=model, input_tokens=usage.get("inputTokens"),
                            output_tokens=usage.get("outputTokens"), latency_ms=latency_ms,
                            finish_reason=response.get("stopReason"),
                            request_id=(response.get("ResponseMetadata") or {}).get("RequestId"))
