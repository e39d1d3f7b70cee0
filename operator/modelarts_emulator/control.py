"""The ``/_emulator/`` control API: what tests use to look at and change the world. No authentication.

| method + path | does |
|---|---|
| ``GET /_emulator/healthz`` | ``{"status": "ok"}`` |
| ``GET /_emulator/requests?method=&path_regex=&operation=`` | recorded ``/v2`` requests, oldest first |
| ``DELETE /_emulator/requests`` | forget them |
| ``POST /_emulator/faults`` | add a fault rule (see ``faults.py``); answers it with its ``id`` |
| ``GET /_emulator/faults``, ``DELETE /_emulator/faults[/{id}]`` | list, remove one or all |
| ``GET /_emulator/pools`` | every pool: its current view and its internals |
| ``POST /_emulator/pools[?ready=true]`` | create a pool out of band (console); ``ready``: Running at once |
| ``PATCH /_emulator/pools/{name}`` | merge-patch a pool out of band (drift): no immutability rules |
| ``DELETE /_emulator/pools/{name}`` | remove a pool instantly |
| ``POST /_emulator/pools/{name}/phase`` | ``{"phase": "Abnormal", "message": "..."}``; null phase clears |
| ``POST /_emulator/pools/{name}/deletion`` | ``{"mode": "fail|stall|normal", "status", "error_code", ...}`` |
| ``POST /_emulator/pools/{name}/creation`` | ``{"mode": "fail", "message": "..."}``: the creation fails now |
| ``GET /_emulator/gateway`` | ``{"locked": {access key: seconds left}}``: access keys the gateway locked |
| ``POST /_emulator/reset`` | forget pools, faults, recorded requests and gateway locks |

The control API sees pools the ``/v2`` API does not (hidden by the read-after-create lag, failed creations).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from modelarts_emulator.context import STATE_KEY, EmulatorState
from modelarts_emulator.errors import ApiError, bad_request

PREFIX = "/_emulator"


def _state(request: web.Request) -> EmulatorState:
    return request.app[STATE_KEY]


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request("The request body is not valid JSON.") from None


async def _object(request: web.Request) -> dict[str, Any]:
    body = await _body(request)
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def list_requests(request: web.Request) -> web.Response:
    query = request.query
    entries = _state(request).recorder.query(
        method=query.get("method") or None,
        path_regex=query.get("path_regex") or None,
        operation=query.get("operation") or None,
    )
    return web.json_response({"requests": entries})


async def clear_requests(request: web.Request) -> web.Response:
    _state(request).recorder.clear()
    return web.json_response({})


async def add_fault(request: web.Request) -> web.Response:
    fault = _state(request).faults.add(await _body(request))
    return web.json_response(fault.to_json(), status=201)


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": _state(request).faults.list()})


async def clear_faults(request: web.Request) -> web.Response:
    _state(request).faults.clear()
    return web.json_response({})


async def remove_fault(request: web.Request) -> web.Response:
    if not _state(request).faults.remove(request.match_info["fault_id"]):
        raise ApiError(404, "Emulator.FaultNotFound", "no such fault")
    return web.json_response({})


async def list_pools(request: web.Request) -> web.Response:
    return web.json_response({"pools": _state(request).world.dump()})


async def create_pool(request: web.Request) -> web.Response:
    ready = request.query.get("ready", "").lower() in ("1", "true", "yes")
    return web.json_response(_state(request).world.create(await _body(request), ready=ready, console=True))


async def patch_pool(request: web.Request) -> web.Response:
    world = _state(request).world
    return web.json_response(world.patch(request.match_info["name"], await _body(request), enforce_rules=False))


async def remove_pool(request: web.Request) -> web.Response:
    _state(request).world.remove(request.match_info["name"])
    return web.json_response({})


async def force_phase(request: web.Request) -> web.Response:
    body = await _object(request)
    phase, message = body.get("phase"), body.get("message")
    if (phase is not None and not isinstance(phase, str)) or (message is not None and not isinstance(message, str)):
        raise bad_request("phase and message must be strings (or null).")
    return web.json_response(_state(request).world.force_phase(request.match_info["name"], phase, message))


async def set_deletion(request: web.Request) -> web.Response:
    body = await _object(request)
    status = body.get("status")
    if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
        raise bad_request("status must be an HTTP error status.")
    view = _state(request).world.set_deletion_mode(
        request.match_info["name"],
        str(body.get("mode", "normal")),
        status=status,
        error_code=body.get("error_code"),
        error_msg=body.get("error_msg"),
    )
    return web.json_response(view)


async def set_creation(request: web.Request) -> web.Response:
    body = await _object(request)
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        raise bad_request("message must be a string.")
    view = _state(request).world.set_creation_mode(request.match_info["name"], str(body.get("mode")), message)
    return web.json_response(view)


async def gateway(request: web.Request) -> web.Response:
    state = _state(request)
    now = state.world.clock()
    locked = {key: round(until - now, 3) for key, until in state.gate.locked(now).items()}
    return web.json_response({"locked": locked})


async def reset(request: web.Request) -> web.Response:
    state = _state(request)
    state.world.reset()
    state.faults.clear()
    state.recorder.clear()
    state.gate.reset()
    return web.json_response({})


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get(f"{PREFIX}/healthz", healthz)
    router.add_get(f"{PREFIX}/requests", list_requests)
    router.add_delete(f"{PREFIX}/requests", clear_requests)
    router.add_post(f"{PREFIX}/faults", add_fault)
    router.add_get(f"{PREFIX}/faults", list_faults)
    router.add_delete(f"{PREFIX}/faults", clear_faults)
    router.add_delete(f"{PREFIX}/faults/{{fault_id}}", remove_fault)
    router.add_get(f"{PREFIX}/pools", list_pools)
    router.add_post(f"{PREFIX}/pools", create_pool)
    router.add_patch(f"{PREFIX}/pools/{{name}}", patch_pool)
    router.add_delete(f"{PREFIX}/pools/{{name}}", remove_pool)
    router.add_post(f"{PREFIX}/pools/{{name}}/phase", force_phase)
    router.add_post(f"{PREFIX}/pools/{{name}}/deletion", set_deletion)
    router.add_post(f"{PREFIX}/pools/{{name}}/creation", set_creation)
    router.add_get(f"{PREFIX}/gateway", gateway)
    router.add_post(f"{PREFIX}/reset", reset)
