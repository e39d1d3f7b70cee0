"""Which ModelArts project, endpoint and credentials serve a pool: decided by the platform, never by the tenant.

In order:
1. ``spec.projectRef`` names a ModelArtsProject, which must exist and select the pool's namespace;
2. ``spec.credentialsSecretRef``: the team's own Secret, in its namespace, with its own project — only when the
   platform allows tenant Secrets;
3. the one ModelArtsProject whose ``namespaceSelector`` selects the namespace (several: the pool must choose);
4. the operator's own credentials and project, for the namespaces in ``MODELARTS_DEFAULT_CREDENTIALS_NAMESPACES``;
5. otherwise the pool is not bound, and its condition says which setting to ask the platform for.

A bound pool cannot move itself elsewhere: ``projectId``/``region``/``endpoint`` that contradict its project are
refused, and every endpoint, whoever chose it, must be on the allow-list before anything is read or sent.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from modelarts_operator.modelarts.client import default_endpoint
from modelarts_operator.reconcile import conditions as c
from modelarts_operator.reconcile.endpoints import EndpointPolicy, EndpointRefused
from modelarts_operator.resource.project import Adoption, ModelArtsProjectSpec
from modelarts_operator.resource.spec import ModelArtsPoolSpec


class CredentialsKind(StrEnum):
    PROJECT_SECRET = "ProjectSecret"  # noqa: S105 (a kind, not a secret)
    TENANT_SECRET = "TenantSecret"  # noqa: S105
    OPERATOR_DEFAULTS = "OperatorDefaults"


@dataclass(frozen=True)
class CredentialsRef:
    """Where the AK/SK come from; ``namespace``/``name`` for Secrets."""

    kind: CredentialsKind
    namespace: str = ""
    name: str = ""


@dataclass(frozen=True)
class Binding:
    """Where a pool lives and how the operator reaches it."""

    endpoint: str
    project_id: str
    credentials: CredentialsRef
    adoption: Adoption
    project: str | None = None  # the ModelArtsProject, when one serves the pool

    @property
    def origin(self) -> str:
        """For messages: what decided this binding."""
        if self.project:
            return f"ModelArtsProject {self.project}"
        if self.credentials.kind == CredentialsKind.TENANT_SECRET:
            return f"Secret {self.credentials.namespace}/{self.credentials.name}"
        return "the operator's own credentials"


class BindingRefused(Exception):
    """The pool cannot be served as it stands; ``reason`` is the Synced condition's reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class OperatorDefaults:
    """The operator's own settings that binding reads (a slice of ``OperatorSettings``)."""

    project_id: str | None
    region: str | None
    endpoint: str | None
    has_credentials: bool
    default_credentials_namespaces: tuple[str, ...]
    default_adoption: Adoption
    tenant_secrets: bool


def serves_namespace(patterns: tuple[str, ...], namespace: str) -> bool:
    return any(fnmatch.fnmatchcase(namespace, pattern) for pattern in patterns)


def projects_selecting(
    projects: Mapping[str, ModelArtsProjectSpec], namespace_labels: Mapping[str, str], namespace: str
) -> list[str]:
    """Names of the projects whose selector selects the namespace (``kubernetes.io/metadata.name`` included, as
    the API server sets it on every namespace)."""
    labels = {**namespace_labels, "kubernetes.io/metadata.name": namespace}
    return sorted(
        name
        for name, spec in projects.items()
        if spec.namespace_selector is not None and spec.namespace_selector.matches(labels)
    )


def resolve(
    spec: ModelArtsPoolSpec,
    namespace: str,
    namespace_labels: Mapping[str, str],
    projects: Mapping[str, ModelArtsProjectSpec],
    defaults: OperatorDefaults,
    endpoints: EndpointPolicy,
) -> Binding:
    """The pool's binding, or ``BindingRefused`` with the reason and a message that says what to do."""
    selecting = projects_selecting(projects, namespace_labels, namespace)
    if spec.project_ref is not None:
        name = spec.project_ref.name
        project = projects.get(name)
        if project is None:
            raise BindingRefused(c.SYNCED_PROJECT_NOT_FOUND, f"ModelArtsProject {name} does not exist")
        if name not in selecting:
            raise BindingRefused(
                c.SYNCED_NOT_BOUND,
                f"ModelArtsProject {name} does not serve namespace {namespace}: ask your platform team to select it "
                f"in the project's spec.namespaceSelector",
            )
        return _project_binding(name, project, spec, endpoints)
    if spec.credentials_secret_ref is not None:
        return _tenant_binding(spec, namespace, defaults, endpoints)
    if len(selecting) > 1:
        raise BindingRefused(
            c.SYNCED_INVALID_SPEC,
            f"namespace {namespace} is served by several ModelArtsProjects ({', '.join(selecting)}): choose one "
            "with spec.projectRef.name",
        )
    if selecting:
        return _project_binding(selecting[0], projects[selecting[0]], spec, endpoints)
    if serves_namespace(defaults.default_credentials_namespaces, namespace):
        return _defaults_binding(spec, namespace, defaults, endpoints)
    tenant_hint = (
        " (or to allow tenant Secrets)"
        if not defaults.tenant_secrets
        else (", or bring your own credentials with spec.credentialsSecretRef")
    )
    raise BindingRefused(
        c.SYNCED_NOT_BOUND,
        f"namespace {namespace} is not served by any ModelArtsProject and the pool brings no credentials of its own: "
        f"ask your platform team to select namespace {namespace} in a ModelArtsProject's spec.namespaceSelector"
        f"{tenant_hint}",
    )


def _no_contradiction(spec: ModelArtsPoolSpec, project_id: str, region: str | None, endpoint: str, origin: str) -> None:
    wrong = []
    if spec.project_id is not None and spec.project_id != project_id:
        wrong.append(f"spec.projectId {spec.project_id}")
    if spec.region is not None and spec.region != region:
        wrong.append(f"spec.region {spec.region}")
    if spec.endpoint is not None and spec.endpoint.rstrip("/") != endpoint:
        wrong.append(f"spec.endpoint {spec.endpoint}")
    if wrong:
        raise BindingRefused(
            c.SYNCED_INVALID_SPEC,
            f"the pool is served by {origin} (project {project_id}); it cannot override {', '.join(wrong)}: remove "
            "them from the spec",
        )


def _project_binding(
    name: str, project: ModelArtsProjectSpec, spec: ModelArtsPoolSpec, endpoints: EndpointPolicy
) -> Binding:
    try:
        endpoint = endpoints.check(
            project.endpoint or default_endpoint(project.region), origin=f"the endpoint of ModelArtsProject {name}"
        )
    except EndpointRefused as exc:
        raise BindingRefused(c.SYNCED_INVALID_SPEC, str(exc)) from None
    _no_contradiction(spec, project.project_id, project.region, endpoint, f"ModelArtsProject {name}")
    secret = project.credentials_secret_ref
    return Binding(
        endpoint=endpoint,
        project_id=project.project_id,
        credentials=CredentialsRef(CredentialsKind.PROJECT_SECRET, secret.namespace, secret.name),
        adoption=project.adoption,
        project=name,
    )


def _tenant_binding(
    spec: ModelArtsPoolSpec, namespace: str, defaults: OperatorDefaults, endpoints: EndpointPolicy
) -> Binding:
    assert spec.credentials_secret_ref is not None
    if not defaults.tenant_secrets:
        raise BindingRefused(
            c.SYNCED_INVALID_SPEC,
            "the platform does not allow pools to bring their own credentials (MODELARTS_TENANT_SECRETS is off): "
            "remove spec.credentialsSecretRef to use the ModelArtsProject serving this namespace",
        )
    project_id = spec.project_id or defaults.project_id
    if not project_id:
        raise BindingRefused(c.SYNCED_INVALID_SPEC, "spec.projectId is required with spec.credentialsSecretRef")
    if spec.endpoint:
        endpoint, origin = spec.endpoint, "spec.endpoint"
    elif spec.region:
        endpoint, origin = default_endpoint(spec.region), f"the endpoint of spec.region {spec.region}"
    elif defaults.endpoint:
        endpoint, origin = defaults.endpoint, "the operator's MODELARTS_ENDPOINT"
    elif defaults.region:
        endpoint, origin = default_endpoint(defaults.region), "the operator's MODELARTS_REGION endpoint"
    else:
        raise BindingRefused(
            c.SYNCED_INVALID_SPEC, "spec.region or spec.endpoint is required with spec.credentialsSecretRef"
        )
    try:
        endpoint = endpoints.check(endpoint, origin=origin)
    except EndpointRefused as exc:
        raise BindingRefused(c.SYNCED_INVALID_SPEC, str(exc)) from None
    # The team's own credentials reach only what the team may reach anyway: adopting with them is its business.
    return Binding(
        endpoint=endpoint,
        project_id=project_id,
        credentials=CredentialsRef(CredentialsKind.TENANT_SECRET, namespace, spec.credentials_secret_ref.name),
        adoption=Adoption.FULL,
    )


def _defaults_binding(
    spec: ModelArtsPoolSpec, namespace: str, defaults: OperatorDefaults, endpoints: EndpointPolicy
) -> Binding:
    if not defaults.has_credentials or not defaults.project_id:
        raise BindingRefused(
            c.SYNCED_NOT_BOUND,
            f"namespace {namespace} may use the operator's own credentials, but the operator has none "
            "(MODELARTS_ACCESS_KEY, MODELARTS_SECRET_KEY and MODELARTS_PROJECT_ID): ask your platform team",
        )
    raw = defaults.endpoint or (default_endpoint(defaults.region) if defaults.region else None)
    if raw is None:
        raise BindingRefused(c.SYNCED_NOT_BOUND, "the operator has no MODELARTS_REGION or MODELARTS_ENDPOINT")
    try:
        endpoint = endpoints.check(raw, origin="the operator's own endpoint")
    except EndpointRefused as exc:
        raise BindingRefused(c.SYNCED_INVALID_SPEC, str(exc)) from None
    _no_contradiction(spec, defaults.project_id, defaults.region, endpoint, "the operator's own credentials")
    return Binding(
        endpoint=endpoint,
        project_id=defaults.project_id,
        credentials=CredentialsRef(CredentialsKind.OPERATOR_DEFAULTS),
        adoption=defaults.default_adoption,
    )
