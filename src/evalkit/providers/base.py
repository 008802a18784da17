"""The provider contract, request and response records, and the registry.

A model string is `PROVIDER:MODEL`. Built-in providers are registered under the
`evalkit.providers` entry-point group exactly as third-party ones are (evalkit.plugins).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from evalkit.errors import BadInput, ProviderError  # noqa: F401 - ProviderError: providers import it from here

if TYPE_CHECKING:
    from evalkit.batch.adapters import BatchAdapter

#: the entry-point group of providers
PROVIDERS = "evalkit.providers"


@dataclass(slots=True)
class ProviderRequest:
    """One call: a rendered case for one route and repeat."""

    case_id: str
    route: str
    repeat: int
    messages: list[dict[str, str]]
    params: dict[str, Any]
    output_schema: dict[str, Any] | None = None
    case: Any = None  # the Case; offline stand-ins and mocks read it, real providers never do
    examples: list = field(default_factory=list)
    context: list[str] = field(default_factory=list)
    context_ids: list[str] = field(default_factory=list)  # the retrieved chunks' ids, as `context` is ordered
    #: (messages, their JSON) once `messages_json` has encoded them (a replaced request starts without)
    encoded: Any = field(default=None, init=False, repr=False, compare=False)


def messages_json(request: ProviderRequest) -> str:
    """`json.dumps(request.messages, ensure_ascii=False)`, encoded once per messages list: the
    pacer's token estimate and the requests.jsonl line both use it."""
    messages, cached = request.messages, request.encoded
    if cached is None or cached[0] is not messages:
        import json

        cached = request.encoded = (messages, json.dumps(messages, ensure_ascii=False))
    return cached[1]


@dataclass(slots=True)
class ProviderResponse:
    """What came back: the raw text and what the server reported about it."""

    text: str
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    finish_reason: str | None = None
    request_id: str | None = None
    attempts: int = 1
    cached: bool = False
    recording: dict[str, Any] | None = None  # the recording line a replayed answer came from
    #: documents the route retrieved itself (python: and http: routes): [{id, score, text}]
    retrieved: list[dict[str, Any]] | None = None
    #: a cost the route reported itself; None: priced from the table
    cost_usd: float | None = None
    #: SHA-256 of the code that answered (python: routes), recorded on the row
    source_sha256: str | None = None
    cached_input_tokens: int | None = None  # input tokens read from the provider's prompt cache (in input_tokens)
    cache_write_tokens: int | None = None  # input tokens written to the prompt cache (in input_tokens)
    reasoning_tokens: int | None = None  # output tokens spent on reasoning (in output_tokens)
    rate_limits: dict[str, Any] | None = None  # the answer's rate-limit headers (evalkit.pacing.read_rate_limits)



class Provider:
    """Base class. Subclasses implement `complete`; `prepare` runs once before any call."""

    #: environment variable that holds the key, or None when the provider needs none
    api_key_env: ClassVar[str | None] = None
    #: True for providers that reach the network (the `--offline` flag replaces them)
    remote: ClassVar[bool] = False
    #: where this provider's answers come from (evalkit.provenance): "live" when the configured
    #: model answers, "stand-in" for scripts and offline stand-ins
    provenance: ClassVar[str] = "live"
    #: True for providers that run the user's own code locally: `--offline` keeps them, and
    #: their answers are cached like a remote provider's (the code may call a model itself)
    local_code: ClassVar[bool] = False
    #: True for providers that retrieve documents themselves: evalkit's retriever is not used
    retrieves_itself: ClassVar[bool] = False
    #: (module to import, extra to install) for providers that need an optional SDK
    requires: ClassVar[tuple[str, str] | None] = None
    #: True for providers whose API says when a model shuts down (`lookup_shutdown_date`)
    finds_shutdown_date: ClassVar[bool] = False

    def __init__(self, model: str, *, route_name: str, route: Any, suite: Any):
        self.model, self.route_name, self.route, self.suite = model, route_name, route, suite
        self.ref = model  # the full PROVIDER:MODEL string; the runner sets it
        #: the server the calls go to when the suite or the environment names one (None: the
        #: provider's default); part of the shared-client and shutdown-date lookup keys
        self.base_url: str | None = None

    @classmethod
    def batch_adapter(cls) -> type[BatchAdapter] | None:
        """This provider's batch engine (evalkit.batch.adapters), or None when it has no batch
        API: `--batch` sends only the routes of providers that have one through it."""
        return None

    def key_variable(self) -> str | None:
        """The variable this route's key must be in (a route's api_key_env wins)."""
        return getattr(self.route, "api_key_env", None) or self.api_key_env

    def prepare(self) -> None:
        """Load or train what the provider needs; raise BadInput for bad configuration."""

    def open(self) -> None:
        """Import the SDK and build the client before the first call (called once, just before
        the calls start), so that work does not stall the event loop in the middle of a run."""

    async def complete(self, request: ProviderRequest) -> ProviderResponse:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release clients and connections."""

    async def lookup_shutdown_date(self) -> str | None:
        """The model's shutdown date as the provider's API reports it (ISO date), or None; asked
        only of providers with `finds_shutdown_date`, once per model and server, beside the calls."""
        return None

    def model_info(self) -> dict[str, Any]:
        """What the manifest records about the model (resolved id, shutdown date, ...)."""
        return {}

    def endpoint(self) -> str | None:
        """The URL the calls go to (from the suite or the environment), for the manifest and
        the cache key; None for providers that call nothing."""
        return None

    def price_ref(self) -> str:
        """The PROVIDER:MODEL the price table is looked up by (a tuned endpoint: its base model)."""
        return self.ref

    def request_body(self, request: ProviderRequest) -> dict[str, Any]:
        """The body this provider sends for `request`, in its own wire format: what the batch
        lane puts in a batch. Providers with a batch API (OpenAI, Anthropic) define it."""
        raise NotImplementedError(f"{type(self).__name__} has no request body of its own")

    def fingerprint_material(self) -> dict[str, Any]:
        """What decides this route's answers beyond provider, model, base URL, messages and
        params (a python: route's source hash, an http: route's request template), for the
        cache key and the request fingerprint. Never a secret. Empty for most providers."""
        return {}


def check_requirements(cls: type[Provider], route_name: str, model: str) -> None:
    """Stop before any call when the provider's optional SDK is not installed."""
    if cls.requires is None:
        return
    import importlib.util

    module, extra = cls.requires
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise BadInput(f"route {route_name!r} ({model}) needs the {extra!r} extra: "
                       f"pip install 'evalkit-harness[{extra}]'")


def split_model(model: str) -> tuple[str, str]:
    prefix, _, name = model.partition(":")
    return prefix, name


def get_provider_class(prefix: str) -> type[Provider]:
    """Find the provider registered under `prefix` in the `evalkit.providers` entry-point group."""
    from evalkit.plugins import load

    cls: type[Provider] = load(PROVIDERS, prefix, what="provider")
    return cls
