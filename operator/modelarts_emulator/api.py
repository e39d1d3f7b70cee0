"""The ``/v2/{project_id}/pools`` routes, and the middleware every ``/v2`` request goes through.

Order for a ``/v2`` request: route → record → fault rules → gateway (access-key lockout, signature, per-user
throttling) → project check → handler. Faults come before authentication on purpose: a test can make the
"gateway" throttle or fail any request, signed or not, and a fault never depends on the client getting its
signature right.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from modelarts_emulator.context import STATE_KEY, EmulatorState
from modelarts_emulator.errors import (
    CONTENT_TYPE_NOT_SUPPORTED,
    GATEWAY_NO_SUCH_API,
    INTERNAL_ERROR,
    PROJECT_MISMATCH,
    ApiError,
    bad_request,
)
from modelarts_emulator.faults import Fault
from modelarts_emulator.labels import parse_label_selector
from modelarts_emulator.paging import parse_limit

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MERGE_PATCH = "application/merge-patch+json"
LIST_STATUSES = ("created", "failed", "creating")
REQUEST_ID = "X-Request-Id"
logger = logging.getLogger(__name__)
# The pool a request concerns, when only the handler knows it (create: the generated name).
POOL_NAME_KEY = web.RequestKey("pool_name", str)


def error_response(error: ApiError, request_id: str) -> web.Response:
    return web.json_response(
        {"error_code": error.error_code, "error_msg": error.error_msg},
        status=error.status,
        headers={REQUEST_ID: request_id},
    )


def _json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request("The request body is not valid JSON.") from None


def _state(request: web.Request) -> EmulatorState:
    return request.app[STATE_KEY]


# ----- handlers -----
async def create_pool(request: web.Request) -> web.Response:
    pool = _state(request).world.create(_json_body(await request.read()))
    request[POOL_NAME_KEY] = pool["metadata"]["name"]
    return web.json_response(pool)


async def list_pools(request: web.Request) -> web.Response:
    query = request.query
    status = query.get("status")
    if status is not None and status not in LIST_STATUSES:
        raise bad_request(f"status must be one of {', '.join(LIST_STATUSES)}.")
    result = _state(request).world.list_pools(
        workspace_id=query.get("workspaceId", "0"),
        selector=parse_label_selector(query.get("labelSelector")),
        status=status,
        limit=parse_limit(query.get("limit")),
        continue_token=query.get("continue") or None,
    )
    return web.json_response(result)


async def show_pool(request: web.Request) -> web.Response:
    return web.json_response(_state(request).world.get(request.match_info["pool_name"]))


async def patch_pool(request: web.Request) -> web.Response:
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type != MERGE_PATCH:
        raise ApiError(400, CONTENT_TYPE_NOT_SUPPORTED, "Content type not supported")
    patch = _json_body(await request.read())
    return web.json_response(_state(request).world.patch(request.match_info["pool_name"], patch))


async def delete_pool(request: web.Request) -> web.Response:
    return web.json_response(_state(request).world.delete(request.match_info["pool_name"]))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v2/{project_id}/pools", create_pool, name="create")
    app.router.add_get("/v2/{project_id}/pools", list_pools, name="list", allow_head=False)
    app.router.add_get("/v2/{project_id}/pools/{pool_name}", show_pool, name="show", allow_head=False)
    app.router.add_patch("/v2/{project_id}/pools/{pool_name}", patch_pool, name="patch")
    app.router.add_delete("/v2/{project_id}/pools/{pool_name}", delete_pool, name="delete")


# ----- the middleware -----
@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = uuid.uuid4().hex
    if request.path == "/v2" or request.path.startswith("/v2/"):
        response = await _serve_v2(request, handler, request_id)
    else:
        try:
            response = await handler(request)
        except ApiError as error:
            response = error_response(error, request_id)
    response.headers.setdefault(REQUEST_ID, request_id)
    return response


async def _serve_v2(request: web.Request, handler: Handler, request_id: str) -> web.StreamResponse:
    state = _state(request)
    raw_path = request.raw_path
    path = raw_path.partition("?")[0]
    body = await request.read()
    route_name = request.match_info.route.name
    entry: dict[str, Any] = {
        "id": request_id,
        "time": datetime.now(UTC).isoformat(),
        "method": request.method,
        "path": path,
        "query": dict(parse_qsl(raw_path.partition("?")[2], keep_blank_values=True)),
        "operation": route_name if route_name in ("create", "list", "show", "patch", "delete") else None,
        "pool_name": request.match_info.get("pool_name"),
        "content_type": request.headers.get("Content-Type"),
        "body": _recorded_body(body),
        "access_key": None,
        "fault": None,
        "dropped": False,
        "status": None,
        "error_code": None,
    }
    state.recorder.add(entry)
    try:
        fault = state.faults.take(request.method, path)
        if fault is not None:
            entry["fault"] = fault.id
            entry["dropped"] = fault.drop_connection
            injected = await _apply_fault(request, fault, request_id)
            if injected is not None:
                if fault.body is None:
                    entry["error_code"] = fault.error_body()["error_code"]
                return _finish(entry, injected)
        entry["access_key"] = state.gate.admit(
            method=request.method,
            raw_path=raw_path,
            headers=request.headers,
            body=body,
            now=state.world.clock(),
        )
        project_id = request.match_info.get("project_id")
        if project_id is not None and project_id != state.config.project_id:
            raise ApiError(
                403,
                PROJECT_MISMATCH,
                "The project ID in the URL does not match the project of the credentials.",
            )
        response = await handler(request)
        entry["pool_name"] = request.get(POOL_NAME_KEY, entry["pool_name"])
    except ApiError as error:
        response = error_response(error, request_id)
        entry["error_code"] = error.error_code
    except web.HTTPException as http_error:
        if http_error.status not in (404, 405):
            raise
        # Like Huawei's gateway: a path or method it does not publish is "no such API".
        no_api = ApiError(
            404, GATEWAY_NO_SUCH_API, "The API does not exist or has not been published in the environment"
        )
        response = error_response(no_api, request_id)
        entry["error_code"] = no_api.error_code
    except Exception:  # a bug in the emulator must still look like a server answer, not a dropped request
        logger.exception("emulator bug while serving %s %s", request.method, path)
        response = error_response(ApiError(500, INTERNAL_ERROR, "Internal server error."), request_id)
        entry["error_code"] = INTERNAL_ERROR
    return _finish(entry, response)


def _finish(entry: dict[str, Any], response: web.StreamResponse) -> web.StreamResponse:
    entry["status"] = response.status
    return response


def _recorded_body(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", errors="replace")


async def _apply_fault(request: web.Request, fault: Fault, request_id: str) -> web.StreamResponse | None:
    """The injected answer, or ``None`` when the fault only delays the real one."""
    if fault.delay_seconds > 0:
        await asyncio.sleep(fault.delay_seconds)
    if fault.drop_connection:
        transport = request.transport
        if transport is not None:
            transport.abort()  # no answer at all: the client sees the connection reset
        raise asyncio.CancelledError
    if fault.status is None:
        return None
    if fault.body is not None:
        raw = web.Response(
            status=fault.status,
            text=fault.body,
            content_type=fault.content_type or "text/html",
            headers={REQUEST_ID: request_id},
        )
        if fault.retry_after is not None:
            raw.headers["Retry-After"] = fault.retry_after
        return raw
    body = fault.error_body()
    response = error_response(ApiError(fault.status, body["error_code"], body["error_msg"]), request_id)
    if fault.retry_after is not None:
        response.headers["Retry-After"] = fault.retry_after
    return response
