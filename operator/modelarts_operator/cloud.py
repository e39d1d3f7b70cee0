"""Which ModelArts an object talks to, with which credentials: endpoint, project, AK/SK, limiter, metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from modelarts_operator.kube import KubeApi, ObjectGone
from modelarts_operator.limiter import LimiterRegistry, before_request_hook, throttle_observer
from modelarts_operator.metrics import Metrics
from modelarts_operator.modelarts.auth import AkSkAuth, Credentials
from modelarts_operator.modelarts.client import ModelArtsClient, default_endpoint
from modelarts_operator.modelarts.retry import RetryPolicy
from modelarts_operator.resource.spec import ModelArtsPoolSpec
from modelarts_operator.settings import OperatorSettings

SECRET_ACCESS_KEY = "accessKey"  # noqa: S105 (a key name)
SECRET_SECRET_KEY = "secretKey"  # noqa: S105 (a key name)
SECRET_SECURITY_TOKEN = "securityToken"  # noqa: S105 (a key name)
SECRET_CACHE_SECONDS = 30.0


class ConfigurationError(Exception):
    """The object cannot reach ModelArts as configured (no project, no credentials, ...): the user must act."""


@dataclass(frozen=True)
class Target:
    endpoint: str
    project_id: str


def resolve_target(spec: ModelArtsPoolSpec, settings: OperatorSettings) -> Target:
    """spec.endpoint, else spec.region's public endpoint, else the operator's endpoint, else its region's."""
    project_id = spec.project_id or settings.project_id
    if not project_id:
        raise ConfigurationError("spec.projectId is not set and the operator has no default (MODELARTS_PROJECT_ID)")
    if spec.endpoint:
        endpoint = spec.endpoint
    elif spec.region:
        endpoint = default_endpoint(spec.region)
    elif settings.endpoint:
        endpoint = settings.endpoint
    elif settings.region:
        endpoint = default_endpoint(settings.region)
    else:
        raise ConfigurationError(
            "no endpoint: set spec.region or spec.endpoint, or the operator's MODELARTS_REGION/MODELARTS_ENDPOINT"
        )
    return Target(endpoint=endpoint.rstrip("/"), project_id=project_id)


class CredentialSource:
    """AK/SK for an object: its namespace's Secret (re-read at most every 30 s, so rotations are picked up),
    else the operator's own."""

    def __init__(self, kube: KubeApi, settings: OperatorSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._kube = kube
        self._settings = settings
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Credentials]] = {}
        self._reading: dict[tuple[str, str], asyncio.Task[Credentials]] = {}

    async def for_object(self, namespace: str, spec: ModelArtsPoolSpec) -> Credentials:
        if spec.credentials_secret_ref is None:
            return self._defaults()
        key = (namespace, spec.credentials_secret_ref.name)
        cached = self._cache.get(key)
        if cached is not None and self._clock() - cached[0] < SECRET_CACHE_SECONDS:
            return cached[1]
        # One read per Secret at a time: after a restart a thousand objects ask for the same Secret together.
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(self._read_and_cache(key))
            self._reading[key] = reading
            reading.add_done_callback(lambda _done: self._reading.pop(key, None))
        # Shielded: one caller being cancelled (its object deleted) must not cancel the read the others await.
        return await asyncio.shield(reading)

    async def _read_and_cache(self, key: tuple[str, str]) -> Credentials:
        credentials = await self._read(*key)
        self._cache[key] = (self._clock(), credentials)
        return credentials

    def forget(self, namespace: str, spec: ModelArtsPoolSpec) -> None:
        """Drop a cached Secret (after ModelArts refused its credentials, re-read them at once)."""
        if spec.credentials_secret_ref is not None:
            self._cache.pop((namespace, spec.credentials_secret_ref.name), None)

    def _defaults(self) -> Credentials:
        settings = self._settings
        if not settings.access_key or settings.secret_key is None:
            raise ConfigurationError(
                "no credentials: set spec.credentialsSecretRef or the operator's MODELARTS_ACCESS_KEY/SECRET_KEY"
            )
        return Credentials(access_key=settings.access_key, secret_key=settings.secret_key,
                           security_token=settings.security_token)

    async def _read(self, namespace: str, name: str) -> Credentials:
        try:
            data = await self._kube.read_secret(namespace, name)
        except ObjectGone:
            raise ConfigurationError(f"Secret {namespace}/{name} does not exist") from None
        missing = [k for k in (SECRET_ACCESS_KEY, SECRET_SECRET_KEY) if not data.get(k)]
        if missing:
            raise ConfigurationError(f"Secret {namespace}/{name} has no {' or '.join(missing)}")
        token = data.get(SECRET_SECURITY_TOKEN) or None
        return Credentials.model_validate(
            {"access_key": data[SECRET_ACCESS_KEY].strip(), "secret_key": data[SECRET_SECRET_KEY].strip(),
             "security_token": token.strip() if token else None}
        )


class CloudClients:
    """ModelArts clients over one shared HTTP connection pool, rate-limited per (endpoint, project)."""

    def __init__(self, http: httpx.AsyncClient, limiters: LimiterRegistry, metrics: Metrics,
                 settings: OperatorSettings) -> None:
        self._http = http
        self._limiters = limiters
        self._metrics = metrics
        self._settings = settings

    def client_for(self, target: Target, credentials: Credentials, object_key: str) -> ModelArtsClient:
        bucket = self._limiters.bucket_for(target.endpoint, target.project_id)
        return ModelArtsClient(
            self._http,
            endpoint=target.endpoint,
            project_id=target.project_id,
            auth=AkSkAuth(credentials),
            retry=RetryPolicy(),
            timeout=self._settings.request_timeout_seconds,
            before_request=before_request_hook(bucket, object_key, self._metrics),
            observer=throttle_observer(bucket, self._metrics.observer),
        )
