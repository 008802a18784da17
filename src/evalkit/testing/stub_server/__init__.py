"""A local HTTP stub of the OpenAI and Anthropic APIs, for tests and benchmarks.

The stub listens on ``127.0.0.1`` only (an ephemeral port) and runs an asyncio
event loop in one background thread.  HTTP/1.1 is parsed by hand (request line,
headers, ``Content-Length`` or chunked body, ``Expect: 100-continue``) and
connections are kept alive, so the SDKs' httpx connection pools reuse them.
Latency is an ``asyncio.sleep``, so hundreds of requests can be in flight at
once without a thread each.

Usage::

    with StubServer(lambda kind, body: '{"label": "spam"}', latency_ms=20) as stub:
        client = openai.OpenAI(base_url=stub.base_url_openai, api_key="sk-test", max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        assert stub.requests[0]["json"]["model"] == "gpt-4o-mini"

Each module describes its part:

* ``server``: ``StubServer`` itself: its options, start and stop, the HTTP/1.1
  connection layer, the ``ROUTES`` table, the ``requests`` record and the counters;
* ``dispatch``: a request's way to its handler: routing, body parsing, latency and
  failure injection (``error_rate``, ``fail_script``, the helpers ``fail`` and
  ``hang``), and what the SDKs do on their own with the errors;
* ``chat``: ``POST /v1/chat/completions``, ``POST /v1/messages`` and
  ``GET /v1/models[/{id}]``, answered by the ``responder``;
* ``files``: file uploads (OpenAI, Together) and OpenAI file retrieval;
* ``batches``: the OpenAI Batch API and Anthropic Message Batches (``batch_polls``,
  ``batch_order``, ``batch_fault``);
* ``fine_tuning``: OpenAI and Together fine-tuning jobs (``fine_tuning_refusal``,
  ``fine_tunable_models``, ``fine_tuning_outcome``);
* ``ratelimit``: request and token buckets with each provider's rate-limit headers
  (``rate_limit``), and quota errors;
* ``common``: the request a handler receives and each provider's error document;
* ``httpio``: HTTP framing: chunked bodies, multipart/form-data, responses.

Anything else is answered 404 in the OpenAI error shape; a body that is not
JSON (or not a JSON object on a POST) is answered 400 in the route's shape.
``stream: true`` is refused with 400: the stub does not speak SSE.
"""

from evalkit.testing.stub_server.chat import Responder, default_responder  # noqa: F401
from evalkit.testing.stub_server.common import Handled, StubRequest, anthropic_error_body, openai_error_body  # noqa: F401
from evalkit.testing.stub_server.dispatch import DEFAULT_HANG_S, HANG, FailScript, fail, hang  # noqa: F401
from evalkit.testing.stub_server.ratelimit import RateLimit  # noqa: F401
from evalkit.testing.stub_server.server import StubServer  # noqa: F401

__all__ = ["StubServer", "RateLimit", "default_responder", "fail", "hang", "HANG"]
