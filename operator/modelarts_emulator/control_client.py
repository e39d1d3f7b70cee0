"""The one client of the emulator's control API (``/_emulator/...``), for tests, tools and benchmarks.

``ControlClient`` is synchronous (``tools/demo.py``, ``tools/stack.py``, the end-to-end tests, ``bench/``);
``AsyncControlClient`` is the same API for code that runs the emulator in-process on its own event loop (the
integration tests). What each endpoint sends and how its answer is read is written once, in ``Endpoints``;
the two classes only carry it over HTTP, one line per method (``tests/unit/test_emulator_control_client.py``
checks that they offer the same methods with the same parameters).

    with ControlClient(url) as control:                     # url: the emulator's base URL
        control.add_fault(method="GET", status=503, times=2)
        control.pools_named("train-pool")

A control call the emulator refuses raises ``ControlError`` with the status and the Huawei-style error body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import httpx

PREFIX = "/_emulator"
LABEL_NAME = "os.modelarts/name"
DEFAULT_TIMEOUT_SECONDS = 30.0

T = TypeVar("T")
JSON = dict[str, Any]


class ControlError(Exception):
    """The emulator answered a control call with an error (a bad rule, an unknown pool, ...)."""

    def __init__(self, status: int, body: Any, text: str) -> None:
        self.status = status
        self.error_code: str | None = body.get("error_code") if isinstance(body, dict) else None
        self.error_msg: str | None = body.get("error_msg") if isinstance(body, dict) else None
        super().__init__(f"{status} {self.error_code or ''}: {self.error_msg or text}".strip())


@dataclass(frozen=True)
class Call(Generic[T]):
    """One control request and how to read its answer (no I/O here)."""

    method: str
    path: str  # below /_emulator
    read: Callable[[Any], T]
    params: Mapping[str, str] = field(default_factory=dict)
    body: Any = None  # JSON; None sends no body


def _field(name: str) -> Callable[[Any], Any]:
    return lambda answer: answer[name]


def _nothing(_: Any) -> None:
    return None


def _itself(answer: Any) -> Any:
    return answer


def _without_none(values: Mapping[str, Any]) -> JSON:
    return {key: value for key, value in values.items() if value is not None}


def named(pools: list[JSON], display_name: str) -> list[JSON]:
    """The entries of ``pools()`` whose display name (label ``os.modelarts/name``) is ``display_name``."""
    return [pool for pool in pools if pool["view"]["metadata"]["labels"].get(LABEL_NAME) == display_name]


class Endpoints:
    """Every control route: see the table in ``control.py`` (and docs/emulator.md)."""

    @staticmethod
    def healthz() -> Call[JSON]:
        return Call("GET", "/healthz", _itself)

    @staticmethod
    def requests(method: str | None, path_regex: str | None, operation: str | None) -> Call[list[JSON]]:
        params = _without_none({"method": method, "path_regex": path_regex, "operation": operation})
        return Call("GET", "/requests", _field("requests"), params=params)

    @staticmethod
    def clear_requests() -> Call[None]:
        return Call("DELETE", "/requests", _nothing)

    @staticmethod
    def add_fault(rule: Mapping[str, Any]) -> Call[JSON]:
        return Call("POST", "/faults", _itself, body=dict(rule))

    @staticmethod
    def faults() -> Call[list[JSON]]:
        return Call("GET", "/faults", _field("faults"))

    @staticmethod
    def remove_fault(fault_id: str) -> Call[None]:
        return Call("DELETE", f"/faults/{fault_id}", _nothing)

    @staticmethod
    def clear_faults() -> Call[None]:
        return Call("DELETE", "/faults", _nothing)

    @staticmethod
    def pools() -> Call[list[JSON]]:
        return Call("GET", "/pools", _field("pools"))

    @staticmethod
    def create_pool(body: Mapping[str, Any], ready: bool) -> Call[JSON]:
        return Call("POST", "/pools", _itself, params={"ready": "true"} if ready else {}, body=dict(body))

    @staticmethod
    def patch_pool(name: str, patch: Mapping[str, Any]) -> Call[JSON]:
        return Call("PATCH", f"/pools/{name}", _itself, body=dict(patch))

    @staticmethod
    def remove_pool(name: str) -> Call[None]:
        return Call("DELETE", f"/pools/{name}", _nothing)

    @staticmethod
    def force_phase(name: str, phase: str | None, message: str | None) -> Call[JSON]:
        return Call("POST", f"/pools/{name}/phase", _itself, body={"phase": phase, "message": message})

    @staticmethod
    def set_deletion(
        name: str, mode: str, status: int | None, error_code: str | None, error_msg: str | None
    ) -> Call[JSON]:
        body = _without_none({"mode": mode, "status": status, "error_code": error_code, "error_msg": error_msg})
        return Call("POST", f"/pools/{name}/deletion", _itself, body=body)

    @staticmethod
    def set_creation(name: str, mode: str, message: str | None) -> Call[JSON]:
        body = _without_none({"mode": mode, "message": message})
        return Call("POST", f"/pools/{name}/creation", _itself, body=body)

    @staticmethod
    def locked_access_keys() -> Call[dict[str, float]]:
        return Call("GET", "/gateway", _field("locked"))

    @staticmethod
    def reset() -> Call[None]:
        return Call("POST", "/reset", _nothing)


def _read(call: Call[T], response: httpx.Response) -> T:
    try:
        answer = response.json() if response.content else None
    except ValueError:
        answer = None
    if response.status_code >= 300:
        raise ControlError(response.status_code, answer, response.text)
    return call.read(answer)


def _request_args(call: Call[Any]) -> dict[str, Any]:
    args: dict[str, Any] = {"params": dict(call.params)}
    if call.body is not None:
        args["json"] = call.body
    return args


class ControlClient:
    """Synchronous. Give it the emulator's base URL (``http://127.0.0.1:PORT``); close it, or use ``with``."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, http: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/") + PREFIX
        self._owned = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def send(self, call: Call[T]) -> T:
        response = self._http.request(call.method, self.url + call.path, **_request_args(call))
        return _read(call, response)

    def healthz(self) -> JSON:
        return self.send(Endpoints.healthz())

    def requests(
        self, *, method: str | None = None, path_regex: str | None = None, operation: str | None = None
    ) -> list[JSON]:
        """Recorded ``/v2`` requests, oldest first, filtered by method, path regex or operation."""
        return self.send(Endpoints.requests(method, path_regex, operation))

    def clear_requests(self) -> None:
        self.send(Endpoints.clear_requests())

    def add_fault(self, **rule: Any) -> JSON:
        """A fault rule (``method``, ``path_regex``, ``status``, ``error_code``, ...); answers it with its ``id``."""
        return self.send(Endpoints.add_fault(rule))

    def faults(self) -> list[JSON]:
        return self.send(Endpoints.faults())

    def remove_fault(self, fault_id: str) -> None:
        self.send(Endpoints.remove_fault(fault_id))

    def clear_faults(self) -> None:
        self.send(Endpoints.clear_faults())

    def pools(self) -> list[JSON]:
        """Every pool: ``name``, ``view`` (what GET answers) and ``internal``."""
        return self.send(Endpoints.pools())

    def pools_named(self, display_name: str) -> list[JSON]:
        return named(self.pools(), display_name)

    def create_pool(self, body: Mapping[str, Any], *, ready: bool = False) -> JSON:
        """A pool made in the console (no signature, not recorded); ``ready``: Running at once."""
        return self.send(Endpoints.create_pool(body, ready))

    def patch_pool(self, name: str, patch: Mapping[str, Any]) -> JSON:
        """A console edit behind the operator's back (drift); no immutability rules."""
        return self.send(Endpoints.patch_pool(name, patch))

    def remove_pool(self, name: str) -> None:
        self.send(Endpoints.remove_pool(name))

    def force_phase(self, name: str, phase: str | None, message: str | None = None) -> JSON:
        return self.send(Endpoints.force_phase(name, phase, message))

    def set_deletion(
        self,
        name: str,
        mode: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        error_msg: str | None = None,
    ) -> JSON:
        """``normal``, ``fail`` (DELETE answers the given error) or ``stall`` (Deleting, never drains)."""
        return self.send(Endpoints.set_deletion(name, mode, status, error_code, error_msg))

    def set_creation(self, name: str, mode: str = "fail", *, message: str | None = None) -> JSON:
        """``fail``: the pool goes CreationFailed now, leaves GET (404) and is listed only under
        ``status=failed``; answers the failed pool as that list shows it. Only while it is still Creating."""
        return self.send(Endpoints.set_creation(name, mode, message))

    def locked_access_keys(self) -> dict[str, float]:
        """Access keys the gateway has locked, with the seconds left."""
        return self.send(Endpoints.locked_access_keys())

    def reset(self) -> None:
        """Forget pools, faults, recorded requests and gateway locks."""
        self.send(Endpoints.reset())


class AsyncControlClient:
    """The same API for asyncio. Pass the test's ``httpx.AsyncClient`` to share its connections, or close it."""

    def __init__(
        self, url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, http: httpx.AsyncClient | None = None
    ) -> None:
        self.url = url.rstrip("/") + PREFIX
        self._owned = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owned:
            await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        response = await self._http.request(call.method, self.url + call.path, **_request_args(call))
        return _read(call, response)

    async def healthz(self) -> JSON:
        return await self.send(Endpoints.healthz())

    async def requests(
        self, *, method: str | None = None, path_regex: str | None = None, operation: str | None = None
    ) -> list[JSON]:
        return await self.send(Endpoints.requests(method, path_regex, operation))

    async def clear_requests(self) -> None:
        await self.send(Endpoints.clear_requests())

    async def add_fault(self, **rule: Any) -> JSON:
        return await self.send(Endpoints.add_fault(rule))

    async def faults(self) -> list[JSON]:
        return await self.send(Endpoints.faults())

    async def remove_fault(self, fault_id: str) -> None:
        await self.send(Endpoints.remove_fault(fault_id))

    async def clear_faults(self) -> None:
        await self.send(Endpoints.clear_faults())

    async def pools(self) -> list[JSON]:
        return await self.send(Endpoints.pools())

    async def pools_named(self, display_name: str) -> list[JSON]:
        return named(await self.pools(), display_name)

    async def create_pool(self, body: Mapping[str, Any], *, ready: bool = False) -> JSON:
        return await self.send(Endpoints.create_pool(body, ready))

    async def patch_pool(self, name: str, patch: Mapping[str, Any]) -> JSON:
        return await self.send(Endpoints.patch_pool(name, patch))

    async def remove_pool(self, name: str) -> None:
        await self.send(Endpoints.remove_pool(name))

    async def force_phase(self, name: str, phase: str | None, message: str | None = None) -> JSON:
        return await self.send(Endpoints.force_phase(name, phase, message))

    async def set_deletion(
        self,
        name: str,
        mode: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        error_msg: str | None = None,
    ) -> JSON:
        return await self.send(Endpoints.set_deletion(name, mode, status, error_code, error_msg))

    async def set_creation(self, name: str, mode: str = "fail", *, message: str | None = None) -> JSON:
        return await self.send(Endpoints.set_creation(name, mode, message))

    async def locked_access_keys(self) -> dict[str, float]:
        return await self.send(Endpoints.locked_access_keys())

    async def reset(self) -> None:
        await self.send(Endpoints.reset())
