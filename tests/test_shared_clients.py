"""Routes that reach the same server with the same key and settings share one SDK client
(evalkit.providers.sdk.shared_client); the last of them to finish closes it."""

from __future__ import annotations

import asyncio

from evalkit.providers.sdk import release_client, shared_client
from evalkit.testing.stub_server import StubServer
from stub_helpers import gold, isolate, openai_route, run, write_suite


class FakeClient:
    def __init__(self, **settings):
        self.settings, self.closed = settings, 0

    async def close(self):
        self.closed += 1


def test_the_same_settings_give_the_same_client_within_a_run():
    async def main():
        a = shared_client(FakeClient, base_url="http://a", api_key="k")
        b = shared_client(FakeClient, base_url="http://a", api_key="k")
        other = shared_client(FakeClient, base_url="http://b", api_key="k")
        for client in (a, b, other):
            await release_client(client)
        return a, b, other

    a, b, other = asyncio.run(main())
    assert a is b and other is not a


def test_the_last_user_closes_the_client():
    async def main():
        a = shared_client(FakeClient, base_url="http://a")
        shared_client(FakeClient, base_url="http://a")
        await release_client(a)
        closed_after_first = a.closed
        await release_client(a)
        return a, closed_after_first

    client, closed_after_first = asyncio.run(main())
    assert (closed_after_first, client.closed) == (0, 1)


def test_separate_runs_never_share_a_client():
    async def take():
        client = shared_client(FakeClient, base_url="http://a")
        await release_client(client)
        return client

    assert asyncio.run(take()) is not asyncio.run(take())


def test_a_run_of_four_routes_on_one_server_opens_one_connection_pool(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)
    import openai

    made = []
    real = openai.AsyncOpenAI

    def counting(**settings):
        made.append(settings["base_url"])
        return real(**settings)

    monkeypatch.setattr(openai, "AsyncOpenAI", counting)
    with StubServer(lambda kind, body: gold(body)) as stub:
        routes = {name: openai_route(stub) for name in ("a", "b", "c", "d")}
        result = run(write_suite(tmp_path, routes, n=4), tmp_path / "run", concurrency=4)
    assert result.exit_code == 0 and len(made) == 1


def test_a_run_the_cache_answers_whole_opens_no_provider(monkeypatch, tmp_path):
    from evalkit.providers.openai import OpenAIProvider

    isolate(monkeypatch, tmp_path)
    opened = []
    real_open = OpenAIProvider.open
    monkeypatch.setattr(OpenAIProvider, "open", lambda self: opened.append(self.route_name) or real_open(self))
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=40)
        run(suite, tmp_path / "first")
        assert opened == ["base"]
        run(suite, tmp_path / "again")
    assert opened == ["base"]  # the second run's answers all came from the cache: no SDK import, no client
