"""`python:TARGET:FUNCTION`: a route answered by a Python function of the team's own.

TARGET is a file (`python:rag/pipeline.py:answer`, relative to the suite file) or an
importable module (`python:mypkg.pipeline:answer`). The function may be sync (run in a worker
thread) or async, and is called with the keyword arguments it declares among

* `messages`: the rendered messages, [{role, content}];
* `case`: {id, input, fields, text, tags, metadata} (never the expected answer or sources);
* `params`: the route's parameters over the suite's defaults;
* `route`, `repeat`: the route's name and the repeat index;

or, when it declares none of those names, with (messages, case, params) positionally. It
returns the output text, or an object (a dict, or anything with an `output` attribute) with
`output` and any of `input_tokens`, `output_tokens`, `model`, `cost_usd` and `retrieved`
(a list of {id, score, text}, scored for recall@k and MRR against the cases' `sources`).
An exception becomes an error row carrying its message (raise
`evalkit.providers.ProviderError(..., retryable=True)` to have the call retried).

The SHA-256 of the function's source file is part of the cache key (and of the request
fingerprint, via `fingerprint_material`), is recorded in the manifest and on every row, so
editing the pipeline never reuses old answers. `--offline` keeps these routes: they run
locally already.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from evalkit.errors import BadInput
from evalkit.own_routes import case_view, response_from_result
from evalkit.providers.base import Provider, ProviderError, ProviderRequest, ProviderResponse

ARGUMENTS = ("messages", "case", "params", "route", "repeat")


def split_target(target: str) -> tuple[str, str]:
    """`path/file.py:function` or `package.module:function` -> (location, function name)."""
    location, _, function = target.rpartition(":")
    if not location or not function:
        raise BadInput(f"a python: route names a file or module and a function, as python:path/to/file.py:function "
                       f"or python:package.module:function; got python:{target}")
    return location, function


def _is_file(location: str) -> bool:
    return location.endswith(".py") or "/" in location or "\\" in location


class PythonProvider(Provider):
    local_code = True
    retrieves_itself = True

    def __init__(self, model: str, *, route_name: str, route: Any, suite: Any):
        super().__init__(model, route_name=route_name, route=route, suite=suite)
        self.location, self.function_name = split_target(model)
        self.function: Callable[..., Any] | None = None
        self.source: Path | None = None
        self.source_sha256: str | None = None
        self._is_async = False
        self._by_name: tuple[str, ...] = ()
        self._takes_all = False

    # -- loading (before any call: a missing file, module or function is bad input, exit 2)

    def _load_module(self):
        if _is_file(self.location):
            folder = getattr(self.suite, "folder", None) or Path.cwd()
            path = Path(self.location).expanduser()
            path = (path if path.is_absolute() else Path(folder) / path).resolve()
            if not path.is_file():
                raise BadInput(f"route {self.route_name!r}: python: file not found: {path}")
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            name = f"evalkit_route_{digest[:12]}_{path.stem}"
            if name in sys.modules:
                return sys.modules[name]
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise BadInput(f"route {self.route_name!r}: cannot load {path} as Python")
            module = importlib.util.module_from_spec(spec)
            sys.path.insert(0, str(path.parent))  # the file's own imports of its neighbours
            try:
                sys.modules[name] = module
                spec.loader.exec_module(module)
            except Exception as error:
                sys.modules.pop(name, None)
                raise BadInput(
                    f"route {self.route_name!r}: importing {path} failed: {type(error).__name__}: {error}"
                ) from None
            finally:
                try:
                    sys.path.remove(str(path.parent))
                except ValueError:
                    pass
            return module
        try:
            return importlib.import_module(self.location)
        except ModuleNotFoundError as error:
            raise BadInput(f"route {self.route_name!r}: python: module {self.location!r} not found ({error})") from None
        except Exception as error:
            raise BadInput(
                f"route {self.route_name!r}: importing {self.location} failed: {type(error).__name__}: {error}"
            ) from None

    def prepare(self) -> None:
        module = self._load_module()
        function = getattr(module, self.function_name, None)
        if function is None:
            names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
            import difflib

            near = difflib.get_close_matches(self.function_name, names, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise BadInput(f"route {self.route_name!r}: {self.location} has no function {self.function_name!r}{hint}")
        if not callable(function):
            raise BadInput(f"route {self.route_name!r}: {self.location}:{self.function_name} is a "
                           f"{type(function).__name__}, not a function")
        self.function = function
        source_file = getattr(module, "__file__", None)
        if source_file:
            self.source = Path(source_file).resolve()
            self.source_sha256 = hashlib.sha256(self.source.read_bytes()).hexdigest()
        call = getattr(function, "__call__", None)  # noqa: B004 - an instance's async __call__, not callability
        self._is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(call)
        parameters: Mapping[str, inspect.Parameter]
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):
            parameters = {}
        self._takes_all = any(p.kind == p.VAR_KEYWORD for p in parameters.values())
        self._by_name = tuple(name for name in ARGUMENTS if name in parameters)

    # -- the provider hooks

    def fingerprint_material(self) -> dict[str, Any]:
        return {"source_sha256": self.source_sha256} if self.source_sha256 else {}

    def model_info(self) -> dict[str, Any]:
        return {"function": self.function_name, "source": str(self.source) if self.source else self.location,
                "source_sha256": self.source_sha256}

    # -- calls

    def _arguments(self, request: ProviderRequest) -> tuple[tuple, dict[str, Any]]:
        values = {"messages": [dict(m) for m in request.messages], "case": case_view(request.case),
                  "params": dict(request.params), "route": request.route, "repeat": request.repeat}
        if self._takes_all:
            return (), values
        if self._by_name:
            return (), {name: values[name] for name in self._by_name}
        return (values["messages"], values["case"], values["params"]), {}

    def _error(self, error: BaseException) -> ProviderError:
        """An exception of the function as an error row: its type, message and where it was raised."""
        where = ""
        frames = traceback.extract_tb(error.__traceback__)
        if frames:
            last = frames[-1]
            where = f" ({Path(last.filename).name}:{last.lineno} in {last.name})"
        message = str(error) or type(error).__name__
        return ProviderError(type(error).__name__, f"{message}{where}")

    async def complete(self, request: ProviderRequest) -> ProviderResponse:
        if self.function is None:
            self.prepare()
        function = self.function
        assert function is not None  # prepare() found it or raised
        args, kwargs = self._arguments(request)
        timeout: Any = request.params.get("timeout_s")
        try:
            if self._is_async:
                pending = function(*args, **kwargs)
            else:
                pending = asyncio.to_thread(function, *args, **kwargs)
            result = await asyncio.wait_for(pending, timeout=float(timeout) if timeout else None)
        except asyncio.TimeoutError:
            raise ProviderError("timeout", f"{self.function_name} gave no answer within {float(timeout):g} s "
                                           f"(per-call timeout)", retryable=True) from None
        except ProviderError:
            raise
        except Exception as error:  # noqa: BLE001 - the team's code failed: an error row with its message
            raise self._error(error) from None
        response = response_from_result(result, model=None)
        response.source_sha256 = self.source_sha256
        return response
