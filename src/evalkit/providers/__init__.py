"""Providers: who answers a request. See `evalkit.providers.base` for the contract."""

from evalkit.providers.base import (  # noqa: F401
    Provider,
    ProviderError,
    ProviderRequest,
    ProviderResponse,
    get_provider_class,
    split_model,
)
