"""How the operator reaches ModelArts for a binding: credentials, connection pools, rate limits, lockout.

- **Credentials** come from where the binding says (``reconcile.binding``): a ModelArtsProject's Secret, a
  tenant's own Secret (only if labelled ``modelarts.operator.dev/credentials=true``), or the operator's settings.
  Only the three keys the operator needs are decoded; a value that is not UTF-8 is a clear error naming the key.
- **Connection pools** are one per endpoint origin, each with its own connection limit, so a slow or hostile
  endpoint cannot take the connections every other tenant's calls need.
- **Rate limits** are one bucket per (origin, project): what the gateway throttles.
- **Lockout**: Huawei's gateway locks an access key for 5 minutes after 5 failed authentications, and then
  refuses even correct signatures. After a 401 no call uses that key until the window has passed; then one call
  probes, and the others wait for its answer. Retrying faster would only keep the key locked.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from modelarts_operator.controller.kube import KubeApi, KubeError, ObjectGone
from modelarts_operator.limiter import LimiterRegistry, before_request_hook, bucket_key, throttle_observer
from modelarts_operator.metrics import Metrics
from modelarts_operator.modelarts.auth import AkSkAuth, Credentials
from modelarts_operator.modelarts.client import ModelArtsClient, make_http_client
from modelarts_operator.modelarts.errors import CredentialsLocked
from modelarts_operator.modelarts.retry import RetryPolicy
from modelarts_operator.reconcile import conditions as c
from modelarts_operator.reconcile.binding import CredentialsKind, CredentialsRef
from modelarts_operator.resource.names import LABEL_CREDENTIALS
from modelarts_operator.settings import OperatorSettings
from modelarts_operator.slots import Slots

logger = logging.getLogger(__name__)

SECRET_ACCESS_KEY = "accessKey"  # noqa: S105 (a key name)
SECRET_SECRET_KEY = "secretKey"  # noqa: S105 (a key name)
SECRET_SECURITY_TOKEN = "securityToken"  # noqa: S105 (a key name)
SECRET_CACHE_SECONDS = 30.0
# Connections per endpoint origin: enough for the rate limits in use, bounded so one origin cannot take them all.
CONNECTIONS_PER_ORIGIN = 32


class ConfigurationError(Exception):
    """The object cannot reach ModelArts as configured: the user or the platform must act. ``reason`` is the
    condition reason."""

    def __init__(self, message: str, reason: str = c.SYNCED_INVALID_SPEC) -> None:
        super().__init__(message)
        self.reason = reason


def origin_of(endpoint: str) -> str:
    """``scheme://host[:port]``: the unit of connection pools and rate limits (never the path)."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class CredentialStore:
    """AK/SK for a binding. Secrets are re-read at most every 30 s (rotations are picked up), one read at a time
    per Secret (after a restart a thousand objects ask for the same Secret together)."""

    def __init__(self, kube: KubeApi, settings: OperatorSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._kube = kube
        self._settings = settings
        self._clock = clock
        self._cache: dict[tuple[str, str, bool], tuple[float, Credentials]] = {}
        self._reading: dict[tuple[str, str, bool], asyncio.Task[Credentials]] = {}

    async def credentials(self, ref: CredentialsRef) -> Credentials:
        if ref.kind == CredentialsKind.OPERATOR_DEFAULTS:
            return self._defaults()
        key = (ref.namespace, ref.name, ref.kind == CredentialsKind.TENANT_SECRET)
        cached = self._cache.get(key)
        if cached is not None and self._clock() - cached[0] < SECRET_CACHE_SECONDS:
            return cached[1]
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(self._read_and_cache(key))
            self._reading[key] = reading
            reading.add_done_callback(lambda _done: self._reading.pop(key, None))
        # Shielded: one caller being cancelled (its object deleted) must not cancel the read the others await.
        return await asyncio.shield(reading)

    def forget(self, ref: CredentialsRef) -> None:
        """Drop a cached Secret (after ModelArts refused its credentials, re-read them next time)."""
        self._cache.pop((ref.namespace, ref.name, ref.kind == CredentialsKind.TENANT_SECRET), None)

    async def _read_and_cache(self, key: tuple[str, str, bool]) -> Credentials:
        credentials = await self._read(*key)
        self._cache[key] = (self._clock(), credentials)
        return credentials

    def _defaults(self) -> Credentials:
        settings = self._settings
        if not settings.access_key or settings.secret_key is None:
            raise ConfigurationError(
                "the operator has no credentials of its own (MODELARTS_ACCESS_KEY/SECRET_KEY)", c.SYNCED_NOT_BOUND
            )
        return Credentials(
            access_key=settings.access_key, secret_key=settings.secret_key, security_token=settings.security_token
        )

    async def _read(self, namespace: str, name: str, tenant: bool) -> Credentials:
        where = f"Secret {namespace}/{name}"
        try:
            secret = await self._kube.read_secret(namespace, name)
        except ObjectGone:
            raise ConfigurationError(f"{where} does not exist") from None
        except KubeError as exc:
            if exc.status_code != 403:
                raise
            raise ConfigurationError(
                f"the operator may not read {where}: a project's Secret must be in one of the namespaces the "
                "platform allows (Helm value tenancy.projectSecretNamespaces)"
                if not tenant
                else f"the operator may not read {where} (tenant Secrets need Helm value tenancy.tenantSecrets)"
            ) from None
        if tenant and secret.labels.get(LABEL_CREDENTIALS) != "true":
            raise ConfigurationError(
                f"{where} is not labelled {LABEL_CREDENTIALS}=true; only Secrets marked for the operator are used"
            )
        values: dict[str, str] = {}
        for key in (SECRET_ACCESS_KEY, SECRET_SECRET_KEY, SECRET_SECURITY_TOKEN):
            raw = secret.data.get(key)
            if raw is None:
                continue
            try:
                values[key] = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise ConfigurationError(f"{where}: the value of {key} is not UTF-8 text") from None
        missing = [k for k in (SECRET_ACCESS_KEY, SECRET_SECRET_KEY) if not values.get(k)]
        if missing:
            raise ConfigurationError(f"{where} has no {' or '.join(missing)}")
        return Credentials.model_validate(
            {
                "access_key": values[SECRET_ACCESS_KEY],
                "secret_key": values[SECRET_SECRET_KEY],
                "security_token": values.get(SECRET_SECURITY_TOKEN) or None,
            }
        )


def _fingerprint(credentials: Credentials) -> str:
    token = credentials.security_token.get_secret_value() if credentials.security_token else ""
    material = f"{credentials.access_key}\0{credentials.secret_key.get_secret_value()}\0{token}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


# A lock whose window ended this long ago without anyone probing the key: nobody uses those credentials any more
# (callers come back within SECRET_CACHE_SECONDS), e.g. the Secret was fixed. It is forgotten, so it no longer
# counts as refused credentials (the ModelArtsCredentialsRefused alert).
UNUSED_LOCK_SECONDS = 4 * SECRET_CACHE_SECONDS


@dataclass
class _Lock:
    refused_at: float
    until: float
    probing_since: float | None = None


class LockoutGuard:
    """Keeps calls away from credentials ModelArts has just refused (see the module docstring)."""

    def __init__(
        self,
        window_seconds: float,
        probe_timeout: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        self._window = window_seconds
        self._probe_timeout = probe_timeout
        self._clock = clock
        self._on_change = on_change
        self._locks: dict[str, _Lock] = {}

    def check(self, key: str, operation: str) -> None:
        """Raise ``CredentialsLocked`` (no request sent) while ``key`` is locked; let one probe through after."""
        now = self._clock()
        self._forget_unused(now)
        lock = self._locks.get(key)
        if lock is None:
            return
        if now < lock.until:
            raise self._refusal(lock, operation, now)
        if lock.probing_since is not None and now - lock.probing_since < self._probe_timeout:
            raise self._refusal(lock, operation, now)
        lock.probing_since = now  # this call is the probe; the others wait for its answer

    def observed(self, key: str, code: str) -> None:
        """An answer came back with ``key``: a 401 locks it (again), anything else from the server clears it."""
        now = self._clock()
        self._forget_unused(now)
        before = len(self._locks)
        if code == "401":
            self._locks[key] = _Lock(refused_at=now, until=now + self._window)
        elif code.isdigit():
            self._locks.pop(key, None)
        self._changed(before)

    def _forget_unused(self, now: float) -> None:
        before = len(self._locks)
        for key, lock in list(self._locks.items()):
            if lock.probing_since is None and now - lock.until > UNUSED_LOCK_SECONDS:
                del self._locks[key]
        self._changed(before)

    def _changed(self, before: int) -> None:
        if self._on_change is not None and len(self._locks) != before:
            self._on_change(len(self._locks))

    def _refusal(self, lock: _Lock, operation: str, now: float) -> CredentialsLocked:
        wall = time.time()
        refused = datetime.fromtimestamp(wall - (now - lock.refused_at), UTC).strftime("%H:%M:%SZ")
        until = datetime.fromtimestamp(wall + max(lock.until - now, 0.0), UTC).strftime("%H:%M:%SZ")
        # Come back well before the window ends: a fixed Secret (other credentials, not locked) is used as soon as
        # the cached read expires, not only once the old key's lock has run out.
        return CredentialsLocked(
            f"ModelArts refused these credentials at {refused}; no call uses them before {until} (Huawei's gateway "
            "locks an access key for 5 minutes after 5 failed authentications): fix the credentials Secret",
            operation=operation,
            status_code=401,
            retry_after=min(max(lock.until - now, 1.0), SECRET_CACHE_SECONDS),
        )


class CloudAccess:
    """ModelArts clients for bindings: per-origin HTTP clients, shared limiter buckets, the lockout guard."""

    def __init__(self, settings: OperatorSettings, limiters: LimiterRegistry, metrics: Metrics) -> None:
        self._settings = settings
        self._limiters = limiters
        self._metrics = metrics
        self._http: dict[str, httpx.AsyncClient] = {}
        # Per limiter bucket (endpoint, project), as many as the origin's connections: a call holds its slot while
        # it waits for its token, so slots shared by the projects of one regional endpoint would let one throttled
        # project (tokens paused up to a minute) hold every slot and starve the other tenants' projects.
        self._slots: dict[tuple[str, str], Slots] = {}
        # Refused credentials stay refused (and counted) until a call with them succeeds: the alert follows that
        # state, not a count of 401s, of which the guard lets through one per window.
        self.guard = LockoutGuard(
            settings.credentials_lockout_seconds,
            probe_timeout=2 * settings.request_timeout_seconds,
            on_change=metrics.set_credentials_refused,
        )

    def _http_for(self, endpoint: str) -> httpx.AsyncClient:
        origin = origin_of(endpoint)
        client = self._http.get(origin)
        if client is None:
            verify: bool | str = self._settings.ca_bundle or self._settings.verify_tls
            client = make_http_client(
                verify=verify,
                timeout=self._settings.request_timeout_seconds,
                limits=httpx.Limits(
                    max_connections=CONNECTIONS_PER_ORIGIN, max_keepalive_connections=CONNECTIONS_PER_ORIGIN
                ),
            )
            self._http[origin] = client
        return client

    def client_for(
        self, endpoint: str, project_id: str, credentials: Credentials, caller: str, *, shared: bool = False
    ) -> ModelArtsClient:
        """A client for one caller (an object key, or an observer), sharing everything that must be shared.
        ``shared``: its calls answer for every object (the pool list), so they go first for a connection and in the
        limiter's round."""
        bucket = self._limiters.bucket_for(origin_of(endpoint), project_id)
        guard_key = _fingerprint(credentials)
        limit = before_request_hook(bucket, caller, self._metrics, first=shared)
        record = throttle_observer(bucket, self._metrics.observer)

        async def before_request(operation: str) -> None:
            self.guard.check(guard_key, operation)
            await limit(operation)

        def observer(operation: str, code: str, seconds: float) -> None:
            self.guard.observed(guard_key, code)
            record(operation, code, seconds)

        http = self._http_for(endpoint)
        return ModelArtsClient(
            http,
            endpoint=endpoint,
            project_id=project_id,
            auth=AkSkAuth(credentials),
            retry=RetryPolicy(),
            timeout=self._settings.request_timeout_seconds,
            before_request=before_request,
            observer=observer,
            max_response_bytes=self._settings.max_response_bytes,
            redact=[credentials.access_key],
            # The shared list answers for every object: it does not queue behind their own calls.
            connection=functools.partial(self._slots_for(endpoint, project_id).slot, background=not shared),
        )

    def _slots_for(self, endpoint: str, project_id: str) -> Slots:
        key = bucket_key(origin_of(endpoint), project_id)
        slots = self._slots.get(key)
        if slots is None:
            slots = self._slots[key] = Slots(CONNECTIONS_PER_ORIGIN)
        return slots

    async def aclose(self) -> None:
        for client in self._http.values():
            await client.aclose()
        self._http.clear()
        self._slots.clear()
