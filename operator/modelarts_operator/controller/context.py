"""Everything the controller shares, in one typed object built at start-up (kept in kopf's memo as ``context``)."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from modelarts_operator.controller.claims import Index, IndexClaims
from modelarts_operator.controller.cloud import CloudAccess, CredentialStore
from modelarts_operator.controller.events import EventPoster
from modelarts_operator.controller.kube import KubeApi
from modelarts_operator.controller.observer import ObserverRegistry
from modelarts_operator.controller.urgency import DeletesFirst
from modelarts_operator.limiter import LimiterRegistry
from modelarts_operator.metrics import Metrics
from modelarts_operator.reconcile import binding
from modelarts_operator.reconcile.endpoints import EndpointPolicy
from modelarts_operator.reconcile.timing import Timing
from modelarts_operator.reconcile.view import PoolObject
from modelarts_operator.resource.project import ModelArtsProjectSpec
from modelarts_operator.settings import OperatorSettings


def default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


@dataclass
class Indices:
    """kopf's indices, captured from the first handler call (kopf fills them before any handler runs)."""

    claims: Index = field(default_factory=dict)
    projects: Index = field(default_factory=dict)
    namespaces: Index = field(default_factory=dict)

    def capture(self, kwargs: dict[str, Any]) -> None:
        self.claims = kwargs.get("pool_claims", self.claims)
        self.projects = kwargs.get("project_specs", self.projects)
        self.namespaces = kwargs.get("namespace_labels", self.namespaces)

    def project_specs(self) -> dict[str, ModelArtsProjectSpec]:
        specs: dict[str, ModelArtsProjectSpec] = {}
        for name, values in list(self.projects.items()):
            value = next(iter(values), None)
            if isinstance(value, ModelArtsProjectSpec):
                specs[str(name)] = value
        return specs

    def labels_of(self, namespace: str) -> dict[str, str]:
        values = self.namespaces.get(namespace)
        labels = next(iter(values), None) if values is not None else None
        return dict(labels) if isinstance(labels, dict) else {}


@dataclass
class OperatorContext:
    settings: OperatorSettings
    kube: KubeApi
    metrics: Metrics
    limiters: LimiterRegistry
    cloud: CloudAccess
    credentials: CredentialStore
    observers: ObserverRegistry
    events: EventPoster
    timing: Timing
    endpoints: EndpointPolicy
    defaults: binding.OperatorDefaults
    identity: str
    deletes_first: DeletesFirst
    indices: Indices = field(default_factory=Indices)

    @classmethod
    def build(cls, settings: OperatorSettings, metrics: Metrics, kube: KubeApi, identity: str) -> OperatorContext:
        limiters = LimiterRegistry(settings.rate_limit, settings.rate_burst)
        deletes_first = DeletesFirst()
        return cls(
            settings=settings,
            kube=kube,
            metrics=metrics,
            limiters=limiters,
            cloud=CloudAccess(settings, limiters, metrics),
            credentials=CredentialStore(kube, settings),
            observers=ObserverRegistry(settings.list_page_size),
            events=EventPoster(kube, identity, wait=deletes_first.calm),
            timing=Timing(
                transition_seconds=settings.transition_poll_seconds,
                stable_seconds=settings.stable_poll_seconds,
                max_backoff_seconds=settings.max_backoff_seconds,
                deletion_stall_seconds=settings.deletion_stall_seconds,
            ),
            endpoints=EndpointPolicy(settings.allowed_endpoints),
            defaults=binding.OperatorDefaults(
                project_id=settings.project_id,
                region=settings.region,
                endpoint=settings.endpoint,
                has_credentials=bool(settings.access_key and settings.secret_key),
                default_credentials_namespaces=tuple(settings.default_credentials_namespaces),
                default_adoption=settings.default_adoption,
                tenant_secrets=settings.tenant_secrets,
            ),
            identity=identity,
            deletes_first=deletes_first,
        )

    def claims(self) -> IndexClaims:
        return IndexClaims(self.indices.claims)

    def bind(self, obj: PoolObject) -> binding.Binding:
        """The pool's binding (``binding.BindingRefused`` when it has none)."""
        return binding.resolve(
            obj.spec,
            obj.namespace,
            self.indices.labels_of(obj.namespace),
            self.indices.project_specs(),
            self.defaults,
            self.endpoints,
        )

    async def aclose(self) -> None:
        await self.observers.stop()
        self.limiters.close()
        await self.events.drain()
        await self.cloud.aclose()
        await self.kube.aclose()
