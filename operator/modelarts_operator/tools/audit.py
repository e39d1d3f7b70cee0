"""``modelarts-operator audit``: which billed pools does no object manage, and which objects lost their pool?

Read-only, with the platform's rights: it lists the ModelArtsProjects and ModelArtsPools in the cluster (current
kubeconfig or in-cluster config), reads each project's credentials Secret the way the operator does
(``CredentialStore``), lists each project's pools — and the operator's own project when ``MODELARTS_PROJECT_ID``,
``MODELARTS_ACCESS_KEY``/``SECRET_KEY`` and a region or endpoint are set — and compares (``tools.audit_compare``).
Endpoints must pass the operator's allow-list (``MODELARTS_ALLOWED_ENDPOINTS``) before anything is signed.

Exit status: 0 clean, 1 findings, 2 something could not be read (the cluster, a Secret, a project's pools).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from pydantic import ValidationError

from modelarts_operator.controller.cloud import ConfigurationError, CredentialStore
from modelarts_operator.controller.kube import KubeApi, KubeError, ObjectGone
from modelarts_operator.modelarts.auth import AkSkAuth
from modelarts_operator.modelarts.client import ModelArtsClient, default_endpoint
from modelarts_operator.modelarts.errors import ModelArtsError
from modelarts_operator.modelarts.models import DEFAULT_WORKSPACE_ID
from modelarts_operator.modelarts.retry import RetryPolicy
from modelarts_operator.reconcile.binding import CredentialsKind, CredentialsRef
from modelarts_operator.reconcile.endpoints import EndpointPolicy, EndpointRefused
from modelarts_operator.resource import names
from modelarts_operator.resource.project import ModelArtsProjectSpec
from modelarts_operator.settings import OperatorSettings
from modelarts_operator.tools.audit_compare import (
    AuditFinding,
    CloudPool,
    Inventory,
    PoolObject,
    compare,
    unaudited,
)

DEFAULTS_LABEL = "operator defaults"
EXIT_CLEAN, EXIT_FINDINGS, EXIT_UNREADABLE = 0, 1, 2


@dataclass
class Account:
    """One (endpoint, project) to list, and who uses it."""

    endpoint: str
    project_id: str
    credentials: CredentialsRef | None
    sources: list[str] = field(default_factory=list)  # "ModelArtsProject a", "operator defaults"
    pools: int = 0
    error: str | None = None


@dataclass
class AuditReport:
    accounts: list[Account] = field(default_factory=list)
    objects: list[PoolObject] = field(default_factory=list)
    findings: list[AuditFinding] = field(default_factory=list)
    unaudited: list[PoolObject] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # what could not be read (besides accounts' own errors)

    @property
    def exit_code(self) -> int:
        if self.errors or any(account.error for account in self.accounts):
            return EXIT_UNREADABLE
        return EXIT_FINDINGS if self.findings else EXIT_CLEAN


def _accounts(
    projects: list[dict[str, object]],
    settings: OperatorSettings,
    report: AuditReport,
    project_ids: dict[str, str],
    only: tuple[str, ...],
) -> list[Account]:
    policy = EndpointPolicy(settings.allowed_endpoints)
    accounts: dict[tuple[str, str], Account] = {}

    def add(raw_endpoint: str, project_id: str, ref: CredentialsRef | None, source: str) -> None:
        try:
            endpoint = policy.check(raw_endpoint, origin=f"the endpoint of {source}")
        except EndpointRefused as exc:
            account = Account(raw_endpoint.rstrip("/"), project_id, None, [source], error=str(exc))
            accounts.setdefault((account.endpoint, project_id), account)
            return
        account = accounts.setdefault((endpoint, project_id), Account(endpoint, project_id, ref))
        account.sources.append(source)
        if account.credentials is None and account.error is None:
            account.credentials = ref

    for body in projects:
        metadata = body.get("metadata")
        name = str(metadata.get("name", "")) if isinstance(metadata, dict) else ""
        if only and name not in only:
            continue
        try:
            spec = ModelArtsProjectSpec.model_validate(body.get("spec") or {})
        except ValidationError:
            report.errors.append(f"ModelArtsProject {name}: its spec is not valid")
            continue
        project_ids[name] = spec.project_id
        secret = spec.credentials_secret_ref
        add(
            spec.endpoint or default_endpoint(spec.region),
            spec.project_id,
            CredentialsRef(CredentialsKind.PROJECT_SECRET, secret.namespace, secret.name),
            f"ModelArtsProject {name}",
        )
    raw_default = settings.endpoint or (default_endpoint(settings.region) if settings.region else None)
    for name in sorted(set(only) - set(project_ids)):
        report.errors.append(f"ModelArtsProject {name} does not exist")
    if not only and settings.project_id and settings.access_key and settings.secret_key is not None and raw_default:
        add(raw_default, settings.project_id, CredentialsRef(CredentialsKind.OPERATOR_DEFAULTS), DEFAULTS_LABEL)
    return list(accounts.values())


async def _list_account(
    account: Account,
    workspaces: set[str],
    store: CredentialStore,
    http: httpx.AsyncClient,
    settings: OperatorSettings,
    retry: RetryPolicy | None,
    inventory: Inventory,
) -> None:
    if account.credentials is None:
        return
    try:
        credentials = await store.credentials(account.credentials)
    except ConfigurationError as exc:
        account.error = str(exc)
        return
    except KubeError as exc:
        account.error = f"the credentials Secret could not be read: {exc}"
        return
    client = ModelArtsClient(
        http,
        endpoint=account.endpoint,
        project_id=account.project_id,
        auth=AkSkAuth(credentials),
        retry=retry,
        timeout=settings.request_timeout_seconds,
        max_response_bytes=settings.max_response_bytes,
        redact=[credentials.access_key],
    )
    pools = inventory.pools.setdefault(account.project_id, [])
    failed = inventory.failed.setdefault(account.project_id, set())
    seen = {pool.name for pool in pools}
    try:
        for workspace in sorted(workspaces):
            for pool in await client.list_pools(workspace_id=workspace, limit=settings.list_page_size):
                if pool.name and pool.name not in seen:
                    seen.add(pool.name)
                    pools.append(CloudPool.from_pool(account.project_id, pool))
            failures = await client.list_pools(workspace_id=workspace, status="failed", limit=settings.list_page_size)
            failed.update(pool.name for pool in failures if pool.name)
    except ModelArtsError as exc:
        account.error = str(exc)
        inventory.pools.pop(account.project_id, None)  # a partial list would turn every other pool into a finding
        return
    account.pools = len(pools)


def _objects(bodies: list[dict[str, Any]], project_ids: dict[str, str], report: AuditReport) -> list[PoolObject]:
    objects = []
    for body in bodies:
        try:
            objects.append(PoolObject.from_body(body, project_ids))
        except ValidationError:
            metadata = body.get("metadata") or {}
            report.errors.append(
                f"ModelArtsPool {metadata.get('namespace')}/{metadata.get('name')}: its status cannot be read"
            )
    return objects


async def run_audit(
    kube: KubeApi,
    settings: OperatorSettings,
    http: httpx.AsyncClient,
    *,
    now: datetime,
    stuck_after_seconds: float,
    workspaces: tuple[str, ...] = (),
    projects: tuple[str, ...] = (),
    retry: RetryPolicy | None = None,
) -> AuditReport:
    """The audit; ``projects``: only these ModelArtsProjects and their objects (default: every project, and the
    operator's own when configured)."""
    report = AuditReport()
    try:
        try:
            project_bodies = await kube.list_objects(names.PROJECT_PLURAL)
        except ObjectGone:
            project_bodies = []  # the ModelArtsProject CRD is not installed: only the operator's defaults to audit
        bodies = await kube.list_objects(names.PLURAL)
    except KubeError as exc:
        report.errors.append(f"the cluster could not be read: {exc}")
        return report
    project_ids: dict[str, str] = {}
    report.accounts = _accounts(project_bodies, settings, report, project_ids, projects)
    report.objects = _objects(bodies, project_ids, report)
    if projects:
        audited = {account.project_id for account in report.accounts}
        report.objects = [obj for obj in report.objects if obj.project in projects or obj.project_id in audited]
    store = CredentialStore(kube, settings)
    inventory = Inventory()
    for account in report.accounts:
        wanted = {DEFAULT_WORKSPACE_ID, *workspaces}
        wanted |= {
            obj.workspace_id for obj in report.objects if obj.workspace_id and obj.project_id == account.project_id
        }
        await _list_account(account, wanted, store, http, settings, retry, inventory)
    report.findings = compare(inventory, report.objects, now=now, stuck_after_seconds=stuck_after_seconds)
    report.unaudited = unaudited(inventory, report.objects)
    return report
