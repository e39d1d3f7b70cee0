"""``modelarts-operator probe``: does this ModelArts account answer the way the operator expects?

Read-only by construction: the operator's own ``ModelArtsClient`` over a transport that refuses anything but GET.
It lists the pools (every page, as the operator does), lists the failed creations (``?status=failed``), reads a few
pools one by one, and compares every answer with the operator's tolerant models and with the strict models of our
notes (``tools.compare``). Exit status: 0 compatible, 1 differences, 2 nothing could be read (unreachable,
credentials refused, not a ModelArts endpoint).

Only one signed request is made before the first answer is known, so wrong credentials cost one failed
authentication, not the five after which Huawei's gateway locks the key for five minutes.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from modelarts_operator.modelarts.auth import AkSkAuth, Credentials
from modelarts_operator.modelarts.client import DEFAULT_MAX_RESPONSE_BYTES, ModelArtsClient
from modelarts_operator.modelarts.errors import MalformedResponse, ModelArtsError
from modelarts_operator.modelarts.models import DEFAULT_WORKSPACE_ID
from modelarts_operator.modelarts.retry import RetryPolicy
from modelarts_operator.reconcile.endpoints import DEFAULT_ALLOWED_ENDPOINTS, EndpointPolicy, EndpointRefused
from modelarts_operator.tools.compare import (
    AnswerKind,
    CountedFinding,
    Finding,
    Severity,
    compare_error_answer,
    compare_pool_answer,
    count,
)
from modelarts_operator.tools.recording import Exchange, RecordingTransport

LABEL_LIST = "list"
LABEL_FAILED = "list status=failed"
LABEL_GET = "get"
EXIT_COMPATIBLE, EXIT_DIFFERENCES, EXIT_UNREACHABLE = 0, 1, 2


@dataclass(frozen=True)
class Target:
    endpoint: str
    project_id: str
    workspace_id: str = DEFAULT_WORKSPACE_ID


@dataclass
class ProbeResult:
    target: Target
    exchanges: list[Exchange]
    findings: list[CountedFinding]
    unreachable: str | None = None
    pools_listed: int = 0
    failed_listed: int = 0
    sampled: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.unreachable is not None:
            return EXIT_UNREACHABLE
        if any(item.finding.severity != Severity.INFO for item in self.findings):
            return EXIT_DIFFERENCES
        return EXIT_COMPATIBLE

    @property
    def verdict(self) -> str:
        return {EXIT_COMPATIBLE: "compatible", EXIT_DIFFERENCES: "differences", EXIT_UNREACHABLE: "unreachable"}[
            self.exit_code
        ]


def _proxy_for(endpoint: str) -> str | None:
    """``HTTPS_PROXY``/``NO_PROXY`` as urllib reads them (httpx would route around the recording transport)."""
    parts = urlsplit(endpoint)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def http_transport(endpoint: str, *, ca_bundle: str | None = None) -> httpx.AsyncBaseTransport:
    tls = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
    return httpx.AsyncHTTPTransport(verify=tls, proxy=_proxy_for(endpoint))


def _names_in(exchanges: Iterable[Exchange], label: str) -> list[tuple[str, str]]:
    """``(pool name, phase)`` of every item the list answers carried, read from the raw JSON (so even an answer
    the operator cannot read still gives pools to look at)."""
    found = []
    for exchange in exchanges:
        data = exchange.json_body() if exchange.label == label and exchange.status == 200 else None
        items = data.get("items") if isinstance(data, dict) else None
        for item in items if isinstance(items, list) else []:
            metadata = item.get("metadata") if isinstance(item, dict) else None
            status = item.get("status") if isinstance(item, dict) else None
            name = metadata.get("name") if isinstance(metadata, dict) else None
            phase = status.get("phase") if isinstance(status, dict) else None
            if isinstance(name, str) and name:
                found.append((name, str(phase)))
    return found


def choose_sample(pools: list[tuple[str, str]], size: int) -> list[str]:
    """Up to ``size`` pools, one per phase first (a Deleting pool tells more than a third Running one)."""
    chosen: list[str] = []
    seen_phases: set[str] = set()
    for name, phase in pools:
        if phase not in seen_phases and len(chosen) < size:
            chosen.append(name)
            seen_phases.add(phase)
    for name, _phase in pools:
        if len(chosen) >= size:
            break
        if name not in chosen:
            chosen.append(name)
    return chosen


def analyse(exchanges: Iterable[Exchange]) -> list[Finding]:
    """Every answer compared (2xx against the pool models, the others against the error shape)."""
    findings: list[Finding] = []
    for exchange in exchanges:
        label = exchange.label or "answer"
        if exchange.status is None:
            findings.append(
                Finding(Severity.DIFFERENCE, "no-answer", label, "<connection>", exchange.error or "no answer")
            )
            continue
        data = exchange.json_body()
        if 200 <= exchange.status < 300:
            kind = AnswerKind.GET if label == LABEL_GET else AnswerKind.LIST
            findings += compare_pool_answer(kind, data, label)
        else:
            findings += compare_error_answer(exchange.status, data, label, exchange.text_body())
    return findings


def endpoint_findings(endpoint: str) -> list[Finding]:
    try:
        EndpointPolicy(DEFAULT_ALLOWED_ENDPOINTS).check(endpoint, origin="the endpoint")
    except EndpointRefused:
        return [
            Finding(
                Severity.INFO,
                "endpoint",
                "-",
                "endpoint",
                "not on the operator's default allow-list: add it to MODELARTS_ALLOWED_ENDPOINTS",
            )
        ]
    return []


async def run_probe(
    target: Target,
    credentials: Credentials,
    *,
    transport: httpx.AsyncBaseTransport,
    sample: int = 3,
    page_size: int = 500,
    request_timeout: float = 30.0,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    retry: RetryPolicy | None = None,
) -> ProbeResult:
    """Read, never write; compare every answer. ``transport``: where requests go (``http_transport``, or a test's)."""
    recorder = RecordingTransport(transport, max_body_bytes=max_response_bytes)
    result = ProbeResult(target=target, exchanges=recorder.exchanges, findings=[])
    async with httpx.AsyncClient(
        transport=recorder, trust_env=False, follow_redirects=False, timeout=request_timeout
    ) as http:
        client = ModelArtsClient(
            http,
            endpoint=target.endpoint,
            project_id=target.project_id,
            auth=AkSkAuth(credentials),
            retry=retry,
            timeout=request_timeout,
            max_response_bytes=max_response_bytes,
            redact=[credentials.access_key],
        )
        recorder.label = LABEL_LIST
        try:
            result.pools_listed = len(await client.list_pools(workspace_id=target.workspace_id, limit=page_size))
        except MalformedResponse as exc:
            if exc.status_code is None or not 200 <= exc.status_code < 300:
                result.unreachable = str(exc)
        except ModelArtsError as exc:  # refused, unreachable, or something that is not the pools API
            result.unreachable = str(exc)
        if result.unreachable is None:
            await _read_more(client, recorder, result, sample=sample, page_size=page_size)
    findings = analyse(recorder.exchanges) + endpoint_findings(target.endpoint)
    result.findings = count(findings)
    return result


async def _read_more(
    client: ModelArtsClient, recorder: RecordingTransport, result: ProbeResult, *, sample: int, page_size: int
) -> None:
    """The failed creations and a few pools one by one; their errors are findings, not the end of the probe."""
    recorder.label = LABEL_FAILED
    try:
        result.failed_listed = len(
            await client.list_pools(workspace_id=result.target.workspace_id, status="failed", limit=page_size)
        )
    except ModelArtsError:
        pass  # the answer itself is analysed with the others
    result.sampled = choose_sample(_names_in(recorder.exchanges, LABEL_LIST), sample)
    recorder.label = LABEL_GET
    for name in result.sampled:
        try:
            await client.get_pool(name)
        except ModelArtsError:
            pass


def masked(value: str) -> str:
    return "****" + value[-4:] if len(value) > 8 else "****"


def summary(result: ProbeResult) -> dict[str, Any]:
    """Counts of what was read, by call."""
    by_label: dict[str, dict[str, int]] = {}
    for exchange in result.exchanges:
        entry = by_label.setdefault(exchange.label, {"requests": 0, "ok": 0})
        entry["requests"] += 1
        entry["ok"] += 1 if exchange.status is not None and 200 <= exchange.status < 300 else 0
    return {
        "poolsListed": result.pools_listed,
        "failedListed": result.failed_listed,
        "sampled": len(result.sampled),
        "requests": by_label,
    }
