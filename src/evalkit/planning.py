"""Turn a loaded suite into the list of planned calls (case x route x repeat).

One provider per route (a missing key stops here, before any call), every route's requests
with their parameters and price, and the response-cache key of each call that uses the cache.

Planning is lazy: every route is checked against every case before the first call (each
template field the case must have, and one real render per route), but a call's messages,
few-shot examples and retrieved context are rendered when the executor is about to make it
(`Call.render`), so a 20,000-case suite starts calling within a second or two instead of
searching its indexes 40,000 times first. The indexes (few-shot pool, corpus) are built once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.cases import expected_label
from evalkit.errors import BadInput
from evalkit.providers.base import Provider, ProviderRequest, get_provider_class, split_model
from evalkit.suite import LoadedSuite


@dataclass(slots=True)
class Call:
    request: ProviderRequest
    provider: Provider
    expected: str
    tags: list[str]
    retrieved: list[str] | None
    price: Any
    cache_key: str | None = None
    cache_mode: str = "off"
    limiter: Any = None
    plan: Any = None  # the RoutePlan that still has to render this call; None once rendered
    keys: Any = None  # the route's cache KeyMaker: the key is made when the messages are
    problem: str | None = None  # why rendering failed: the call becomes an error row, never a crash
    looked_up: bool = False  # the response cache was asked already

    def render(self) -> None:
        """Fill in the request's messages, examples and context, the retrieved chunk ids and
        the cache key. Does nothing the second time."""
        plan = self.plan
        if plan is None:
            return
        self.plan = None
        request = self.request
        try:
            rendered = plan.render_once(request.case)
        except BadInput as error:
            self.problem = str(error)
            request.messages = []
            return
        request.messages, request.examples, request.context = rendered.messages, rendered.examples, rendered.context
        self.retrieved = rendered.retrieved
        if self.keys is not None:
            self.cache_key = self.keys.key(request.messages, request.repeat)


def offline_model(kind: str) -> str:
    from evalkit.providers.local import OFFLINE_BY_KIND

    return f"local:{OFFLINE_BY_KIND[kind]}"


def build_providers(suite: LoadedSuite, route_names: list[str], offline: bool, *,
                    keyless_remote: bool = False, replay: Path | None = None) -> dict[str, Provider]:
    """One provider per route; a missing key stops here, before any call. With
    `keyless_remote` (the cache answers everything: `--cache read`) remote providers need none."""
    providers = {}
    for name in route_names:
        route = suite.spec.routes[name]
        if replay is not None:
            model = f"replay:{Path(replay).resolve()}"
        else:
            model = offline_model(route.kind) if offline else route.model
        prefix, model_name = split_model(model)
        cls = get_provider_class(prefix)
        provider = cls(model_name, route_name=name, route=route, suite=suite)
        provider.ref = model
        variable = provider.key_variable()
        value = os.environ.get(variable) if variable else None
        if variable and not value and not (keyless_remote and provider.remote):
            raise BadInput(f"route {name!r} ({route.model}) needs an API key: set {variable}, "
                           f"or run with --offline to use the local stand-ins")
        if value:
            from evalkit.secrets import control_character_problem, remember

            remember(value)
            problem = control_character_problem(value)
            if problem:
                raise BadInput(f"route {name!r}: {variable} cannot be sent as a key: {problem}; fix the variable")
        providers[name] = provider
    for provider in providers.values():
        provider.prepare()
    return providers


def build_plans(suite: LoadedSuite, route_names: list[str]):
    from evalkit.retrieval import Retriever, load_documents
    from evalkit.routes import RoutePlan
    from evalkit.suite import Retrieval

    retrievers: dict[tuple[int, int], Retriever] = {}
    documents = None
    plans = {}
    for name in route_names:
        route = suite.spec.routes[name]
        retriever = None
        if route.kind == "rag":
            route.retrieval = route.retrieval or Retrieval()
            if documents is None:
                documents = load_documents(suite.corpus_path)
            key = (route.retrieval.chunk_chars, route.retrieval.overlap)
            if key not in retrievers:
                retrievers[key] = Retriever(documents, *key)
            retriever = retrievers[key]
        plans[name] = RoutePlan(name, route, suite, retriever)
    return plans


def route_params(suite: LoadedSuite, route_name: str, timeout_s: float | None = None) -> dict[str, Any]:
    """The request parameters of a route: the suite's defaults, the route's params over them,
    and `--timeout` over both."""
    params = {**suite.spec.defaults.model_dump(), **suite.spec.routes[route_name].params}
    if timeout_s is not None:
        params["timeout_s"] = timeout_s
    return params


def plan_calls(suite: LoadedSuite, providers: dict[str, Provider], repeats: int, *,
               timeout_s: float | None = None) -> list[Call]:
    from evalkit.pricing import price_for

    plans = build_plans(suite, list(providers))
    label_field = suite.spec.task.label_field
    holdout = suite.holdout
    for plan in plans.values():  # bad templates stop the run here, before any call
        if plan.needs_fields():
            for case in holdout:
                plan.check(case)
        if holdout:
            plan.render_once(holdout[0])
    expected = [expected_label(case, label_field) for case in holdout]
    calls = []
    for name, provider in providers.items():
        params = route_params(suite, name, timeout_s)  # one dict per route: providers configure once
        price = price_for(provider.ref, suite.spec.pricing)
        plan, schema = plans[name], suite.output_schema
        for case, label in zip(holdout, expected):
            for repeat in range(repeats):
                request = ProviderRequest(case.id, name, repeat, None, params, schema, case)
                calls.append(Call(request, provider, label, case.tags, None, price, plan=plan))
    return calls


def render_all(calls: list[Call]) -> None:
    """Render every call now (an export, or the batch lane, which submits them all at once)."""
    for call in calls:
        call.render()


def cache_modes(suite: LoadedSuite, providers: dict[str, Provider], mode: str) -> dict[str, str]:
    from evalkit.cache import MODES, route_mode

    if mode not in MODES:
        raise BadInput(f"--cache must be one of {', '.join(MODES)}, got {mode!r}")
    return {name: route_mode(mode, remote=p.remote, temperature=route_params(suite, name).get("temperature"))
            for name, p in providers.items()}


def attach_cache_keys(calls: list[Call], modes: dict[str, str]) -> None:
    """Give every cached call its key (see evalkit.cache.KeyMaker)."""
    from evalkit.cache import KeyMaker
    from evalkit.providers.sdk import public_url

    makers: dict[str, KeyMaker] = {}
    for call in calls:
        request = call.request
        mode = modes.get(request.route, "off")
        if mode == "off":
            continue
        maker = makers.get(request.route)
        if maker is None:
            provider = call.provider
            prefix, model = split_model(provider.ref)
            maker = makers[request.route] = KeyMaker(
                provider=prefix, model=model, base_url=public_url(getattr(provider, "base_url", None)),
                params=request.params, schema=request.output_schema)
        call.keys = maker
        call.cache_mode = mode
        if request.messages is not None:  # rendered already; otherwise `Call.render` makes the key
            call.cache_key = maker.key(request.messages, request.repeat)
