"""Every built-in provider keeps the contract `providers/base.Provider` declares."""

from __future__ import annotations

import pytest

from evalkit.batch.adapters import adapter_by_name
from evalkit.plugins import names
from evalkit.providers.base import PROVIDERS, Provider, get_provider_class

BUILT_IN = names(PROVIDERS)


@pytest.mark.parametrize("name", BUILT_IN)
def test_a_built_in_provider_answers_calls_itself(name):
    cls = get_provider_class(name)
    assert issubclass(cls, Provider) and cls.complete is not Provider.complete


@pytest.mark.parametrize("name", BUILT_IN)
def test_a_provider_that_finds_shutdown_dates_asks_its_api(name):
    cls = get_provider_class(name)
    assert cls.finds_shutdown_date == (cls.lookup_shutdown_date is not Provider.lookup_shutdown_date)


def test_the_providers_with_a_batch_api_declare_their_adapter():
    with_batches = {name: get_provider_class(name).batch_adapter() for name in BUILT_IN}
    assert {name for name, adapter in with_batches.items() if adapter} == {"openai", "anthropic"}
    assert all(adapter.provider == name for name, adapter in with_batches.items() if adapter)


def test_a_batch_record_finds_its_adapter_by_provider_name():
    assert adapter_by_name("anthropic").__name__ == "AnthropicBatches"
    with pytest.raises(ValueError, match="has no batch adapter"):
        adapter_by_name("mock")
