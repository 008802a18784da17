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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, cast, overload

from evalkit.cases import expected_label
from evalkit.errors import BadInput
from evalkit.providers.base import Provider, ProviderRequest, check_requirements, get_provider_class, split_model
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
    recorded_price: Any = None  # a replayed route's verified answers are priced as its configured model
    projected_price: Any = None  # a stand-in's or recording's route: its configured model's price (projected cost)
    fingerprinter: Any = None  # evalkit.fingerprint.Fingerprinter of the route
    endpoint: str | None = None  # where the call goes (from the suite or the environment)
    repair_attempts: int = 0  # repair passes allowed when the answer does not parse (evalkit.repair)
    prefetched: Any = None  # a cached first answer that still needs its repair passes or judges
    plan: Any = None  # the RoutePlan that still has to render this call; None once rendered
    problem: str | None = None  # why rendering failed: the call becomes an error row, never a crash
    looked_up: bool = False  # the response cache was asked already
    _fingerprint: Any = None

    @property
    def fingerprint(self):
        """The request's fingerprint (evalkit.fingerprint), computed on first use."""
        if self._fingerprint is None:
            self.render()
            request = self.request
            self._fingerprint = self.fingerprinter.of(request.messages, request.examples, request.context)
        return self._fingerprint

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
        request.context_ids = rendered.retrieved or []
        self.retrieved = rendered.retrieved
        if self.cache_mode != "off":
            self.cache_key = cache_key_of(self)


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
            model = offline_model(route.kind) if offline and not _runs_offline(route.model) else route.model
        prefix, model_name = split_model(model)
        cls = get_provider_class(prefix)
        check_requirements(cls, name, model)
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


def _runs_offline(model: str) -> bool:
    """Routes that run the user's own code (python:) stay as they are under --offline."""
    try:
        return bool(get_provider_class(split_model(model)[0]).local_code)
    except BadInput:
        return False


def build_plans(suite: LoadedSuite, route_names: list[str], own_retrieval: frozenset[str] = frozenset()):
    from evalkit.retrieval import Retriever, load_documents
    from evalkit.routes import RoutePlan
    from evalkit.suite import Retrieval

    retrievers: dict[tuple[int, int], Retriever] = {}
    documents = None
    plans = {}
    for name in route_names:
        route = suite.spec.routes[name]
        retriever = None
        if route.kind == "rag" and name not in own_retrieval and suite.corpus_path is not None:
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


def fingerprinter_for(suite: LoadedSuite, name: str, provider: Provider, params: dict[str, Any]):
    """The route's request fingerprints: of the request to the model the suite configures,
    whoever answers it (a stand-in or a recording answers for that request)."""
    from evalkit.fingerprint import Fingerprinter
    from evalkit.providers.sdk import public_url

    route = suite.spec.routes[name]
    prefix, model = split_model(route.model)
    return Fingerprinter(provider=prefix, model=model, base_url=public_url(route.base_url), params=params,
                         schema=suite.output_schema, material=configured_material(suite, name, provider))


def configured_material(suite: LoadedSuite, name: str, provider: Provider | None) -> dict[str, Any]:
    """The configured provider's extra fingerprint material (a python: route's source hash, an
    http: route's request template), also when a stand-in or a recording answers."""
    route = suite.spec.routes[name]
    if provider is not None and provider.ref == route.model:
        return provider.fingerprint_material()
    configured = configured_provider(suite, name)
    return configured.fingerprint_material() if configured is not None else {}


def configured_provider(suite: LoadedSuite, name: str) -> Provider | None:
    """The route's configured provider, made but not prepared (no key, no call); None when its
    provider is not installed."""
    route = suite.spec.routes[name]
    try:
        prefix, model = split_model(route.model)
        provider = get_provider_class(prefix)(model, route_name=name, route=route, suite=suite)
    except Exception:  # noqa: BLE001 - a provider that is not installed adds nothing it could check
        return None
    provider.ref = route.model
    return provider


def render_requests(suite: LoadedSuite, routes: list[str] | None = None, case_ids: list[str] | None = None,
                    limit: int | None = None, repeats: int = 1) -> list[dict[str, Any]]:
    """The requests a run would send to the configured models, rendered and fingerprinted
    without calling anything (`evalkit render`): the lines requests.jsonl would hold."""
    from evalkit.executor import request_line

    names = routes or list(suite.spec.routes)
    unknown = [r for r in names if r not in suite.spec.routes]
    if unknown:
        raise BadInput(f"unknown route {unknown[0]!r}: the suite has {', '.join(suite.spec.routes)}")
    cases = suite.holdout
    if case_ids:
        known = {c.id for c in cases}
        missing = [i for i in case_ids if i not in known]
        if missing:
            raise BadInput(f"no holdout case {missing[0]!r} in the suite", where=str(suite.path))
        cases = [c for c in cases if c.id in set(case_ids)]
    if limit is not None:
        cases = cases[:limit]
    plans = build_plans(suite, names)
    lines = []
    for name in names:
        provider = configured_provider(suite, name)
        if provider is None:
            raise BadInput(f"route {name!r}: provider of {suite.spec.routes[name].model!r} is not installed")
        params = route_params(suite, name)
        fingerprinter = fingerprinter_for(suite, name, provider, params)
        for case in cases:
            rendered = plans[name].render(case)
            for repeat in range(repeats):
                request = ProviderRequest(case.id, name, repeat, rendered.messages, params, suite.output_schema,
                                          case, rendered.examples, rendered.context, rendered.retrieved or [])
                call = Call(request, provider, "", case.tags, rendered.retrieved, None,
                            fingerprinter=fingerprinter, endpoint=provider.endpoint())
                lines.append(request_line(call))
    return lines


def plan_calls(suite: LoadedSuite, providers: dict[str, Provider], repeats: int, *,
               timeout_s: float | None = None, limiters: dict[str, Any] | None = None) -> PlannedCalls:
    """Every call of the run, unrendered (Call.render fills them in), made as they are first
    asked for (PlannedCalls); `limiters`: the pacer of each route's calls (evalkit.pacing), by
    route name."""
    from evalkit.pricing import price_for

    plans = build_plans(suite, list(providers),
                        frozenset(name for name, p in providers.items() if p.retrieves_itself))
    label_field = suite.spec.task.label_field
    holdout = suite.holdout
    for plan in plans.values():  # bad templates stop the run here, before any call
        if plan.needs_fields():
            for case in holdout:
                plan.check(case)
        if holdout:
            plan.render_once(holdout[0])
    routes: list[_RouteCalls] = []
    for name, provider in providers.items():
        params = route_params(suite, name, timeout_s)  # one dict per route: providers configure once
        price = price_for(provider.price_ref(), suite.spec.pricing)
        recorded_price = None
        if split_model(provider.ref)[0] == "replay":
            configured = configured_provider(suite, name)
            recorded_price = price_for(configured.price_ref() if configured else suite.spec.routes[name].model,
                                       suite.spec.pricing)
        projected_price = price_for(suite.spec.routes[name].model, suite.spec.pricing) \
            if provider.ref != suite.spec.routes[name].model else None
        fingerprinter = fingerprinter_for(suite, name, provider, params)
        endpoint = provider.endpoint()
        repair = suite.spec.routes[name].repair
        repairs = repair.attempts if repair is not None and split_model(provider.ref)[0] != "replay" else 0
        limiter = limiters.get(name) if limiters is not None else None
        routes.append(_RouteCalls(name, provider, params, price, limiter, recorded_price, projected_price,
                                  fingerprinter, endpoint, repairs, plans[name]))
    return PlannedCalls(routes, holdout, label_field, repeats, suite.output_schema)


@dataclass(slots=True)
class _RouteCalls:
    """What every call of one route shares."""

    name: str
    provider: Provider
    params: dict[str, Any]
    price: Any
    limiter: Any
    recorded_price: Any
    projected_price: Any
    fingerprinter: Any
    endpoint: str | None
    repairs: int
    plan: Any


class PlannedCalls(Sequence[Call]):
    """Every call of a run, in order: route by route, case by case, repeat by repeat. A call is
    made the first time it (or a later one) is asked for, CHUNK at a time, and is the same
    object every time after, so the first requests of a 40,000-call run go out without waiting
    for the other calls to be made. `len()` needs none of them."""

    CHUNK = 1024

    def __init__(self, routes: list[_RouteCalls], holdout: list, label_field: str | None, repeats: int,
                 schema: Any):
        self._routes, self._holdout, self._label_field, self._repeats, self._schema = (
            routes, holdout, label_field, repeats, schema)
        self._total = len(routes) * len(holdout) * repeats
        self._made: list[Call] = []
        self._modes: dict[str, str] = {}  # cache modes by route (attach_cache_keys), for the calls made later
        self._source = self._generate()

    def set_cache_modes(self, modes: dict[str, str]) -> None:
        """The cache mode of every call, made or still to make (attach_cache_keys)."""
        self._modes = dict(modes)
        attach_cache_keys(self._made, modes)

    def _generate(self) -> Iterator[Call]:
        holdout, label_field, repeats, schema = self._holdout, self._label_field, self._repeats, self._schema
        unrendered = cast("list[dict[str, str]]", None)  # Call.render() fills in the messages
        new_request, new_call = ProviderRequest, Call
        for route in self._routes:
            name, provider, params, price = route.name, route.provider, route.params, route.price
            limiter, recorded, projected = route.limiter, route.recorded_price, route.projected_price
            fingerprinter = route.fingerprinter
            endpoint, repairs, plan = route.endpoint, route.repairs, route.plan
            # (positional arguments, in Call's field order)
            for case in holdout:
                label = expected_label(case, label_field)
                for repeat in range(repeats):
                    request = new_request(case.id, name, repeat, unrendered, params, schema, case)
                    yield new_call(request, provider, label, case.tags, None, price, None,
                                   self._modes.get(name, "off"), limiter, recorded, projected, fingerprinter,
                                   endpoint, repairs, None, plan)

    def _make(self, count: int) -> None:
        """Make calls until `count` of them are made (rounded up to a whole CHUNK)."""
        made = self._made
        if count <= len(made):
            return
        wanted = min(self._total, -(-count // self.CHUNK) * self.CHUNK)
        made.extend(islice(self._source, wanted - len(made)))
        from evalkit.gcfreeze import freeze_more

        freeze_more()  # planned calls live as long as the run: no full collection need walk them

    def __len__(self) -> int:
        return self._total

    @overload
    def __getitem__(self, index: int) -> Call: ...

    @overload
    def __getitem__(self, index: slice) -> list[Call]: ...

    def __getitem__(self, index: int | slice) -> Call | list[Call]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._total)
            self._make(max(start, stop) if step > 0 else self._total)
            return self._made[index]
        position = index + self._total if index < 0 else index
        if not 0 <= position < self._total:
            raise IndexError("call index out of range")
        self._make(position + 1)
        return self._made[position]

    def __iter__(self) -> Iterator[Call]:
        position = 0
        while position < self._total:
            self._make(position + 1)
            end = len(self._made)
            yield from self._made[position:end]
            position = end


def render_all(calls: Sequence[Call]) -> None:
    """Render every call now (an export, or the batch lane, which submits them all at once)."""
    for call in calls:
        call.render()


def cache_modes(suite: LoadedSuite, providers: dict[str, Provider], mode: str) -> dict[str, str]:
    from evalkit.cache import MODES, route_mode

    if mode not in MODES:
        raise BadInput(f"--cache must be one of {', '.join(MODES)}, got {mode!r}")
    return {
        name: route_mode(
            mode, remote=p.remote or p.local_code, temperature=route_params(suite, name).get("temperature")
        )
        for name, p in providers.items()
    }


def cache_key_of(call: Call) -> str:
    """A rendered call's cache key: its fingerprint, endpoint and repeat (evalkit.cache)."""
    from evalkit.cache import cache_key

    return cache_key(call.fingerprint.sha256, call.endpoint, call.request.repeat)


def attach_cache_keys(calls: Sequence[Call], modes: dict[str, str]) -> None:
    """Set every call's cache mode; a rendered call gets its key now, the others when they render."""
    if isinstance(calls, PlannedCalls):
        calls.set_cache_modes(modes)  # and to the calls it has still to make
        return
    for call in calls:
        mode = modes.get(call.request.route, "off")
        if mode == "off":
            continue
        call.cache_mode = mode
        if call.request.messages is not None:
            call.cache_key = cache_key_of(call)
