"""Operator settings: one object, read from ``MODELARTS_*`` environment variables at start-up, no I/O."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from modelarts_operator.reconcile.endpoints import DEFAULT_ALLOWED_ENDPOINTS
from modelarts_operator.resource.project import Adoption


class OperatorSettings(BaseSettings):
    """Every setting of ``modelarts-operator run``; the settings table in docs/configuration.md mirrors this class
    (tests/unit/test_docs.py)."""

    model_config = SettingsConfigDict(env_prefix="MODELARTS_", extra="ignore")

    region: str | None = Field(
        default=None,
        description="The operator's own region (for the namespaces in "
        "MODELARTS_DEFAULT_CREDENTIALS_NAMESPACES; also the fallback of tenant Secrets).",
    )
    project_id: str | None = Field(default=None, description="The operator's own project (same use as the region).")
    endpoint: str | None = Field(
        default=None,
        description="The operator's own ModelArts endpoint; else https://modelarts.{region}.myhuaweicloud.com.",
    )
    access_key: str | None = Field(
        default=None, description="The operator's own AK: it serves only MODELARTS_DEFAULT_CREDENTIALS_NAMESPACES."
    )
    secret_key: SecretStr | None = Field(default=None, description="Default SK.")
    security_token: SecretStr | None = Field(default=None, description="Default security token (temporary AK/SK).")
    ca_bundle: str | None = Field(default=None, description="Path of a CA bundle for the ModelArts endpoint.")
    verify_tls: bool = Field(default=True, description="Verify the endpoint's TLS certificate.")
    request_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Deadline of one ModelArts request attempt, from connecting to the last byte of the answer.",
    )
    max_response_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=64 * 1024,
        description="Largest ModelArts answer read, as received and once decompressed; bigger ones are refused.",
    )
    allowed_endpoints: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_ENDPOINTS),
        description="ModelArts endpoints the operator may call (comma-separated URL patterns; * matches one DNS "
        "label or any port). https only unless a pattern says http://.",
    )
    default_credentials_namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Namespaces (comma-separated, globs allowed) whose pools may use the operator's own "
        "credentials and project; empty: none.",
    )
    default_adoption: Adoption = Field(
        default=Adoption.FORBIDDEN,
        description="What pools on the operator's own credentials may adopt: Forbidden, ObserveOnly or Full.",
    )
    tenant_secrets: bool = Field(
        default=False,
        description="Let pools bring their own credentials "
        "(spec.credentialsSecretRef to a Secret labelled "
        "modelarts.operator.dev/credentials=true in their namespace).",
    )
    visibility_grace_seconds: float = Field(
        default=600.0,
        gt=0,
        description="How long after its creation a pool answering 404 is taken as not yet "
        "visible (read-after-create lag) rather than gone.",
    )
    credentials_lockout_seconds: float = Field(
        default=300.0,
        ge=0,
        description="After ModelArts refuses an access key (401), no call uses it for this "
        "long: Huawei's gateway locks a key for 5 minutes after 5 failed authentications.",
    )
    list_page_size: int = Field(default=500, ge=1, le=5000, description="Pools asked for per page when listing.")

    namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Namespaces to watch (comma-separated; globs allowed); empty: the whole cluster.",
    )
    transition_poll_seconds: float = Field(
        default=5.0, gt=0, description="How often a pool in transition (creating, scaling, deleting) is read."
    )
    stable_poll_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often a stable pool is read (per object: annotation "
        "modelarts.operator.dev/poll-interval-seconds).",
    )
    deletion_stall_seconds: float = Field(
        default=600.0,
        gt=0,
        description="A deletion that shows no progress this long is reported as DeletionStalled (and still retried).",
    )
    max_backoff_seconds: float = Field(default=300.0, gt=0, description="Upper bound of retry backoff.")
    rate_limit: float = Field(
        default=10.0, gt=0, description="ModelArts requests per second, shared per (endpoint host, project)."
    )
    rate_burst: int = Field(default=20, ge=1, description="Requests that may go at once before the rate applies.")
    leader_election: bool = Field(
        default=False, description="Run only while holding the Lease modelarts-operator (two or more replicas)."
    )
    leader_election_namespace: str | None = Field(
        default=None, description="Namespace of the Lease; default: the pod's namespace."
    )
    leader_election_identity: str | None = Field(
        default=None, description="This replica's name in the Lease; default: the host name plus a random suffix."
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    health_address: str = Field(
        default="127.0.0.1", description="Bind address of the health and metrics endpoints (the chart sets 0.0.0.0)."
    )
    health_port: int = Field(default=8081, ge=0, le=65535, description="Port of /healthz (liveness).")
    metrics_port: int = Field(default=8080, ge=0, le=65535, description="Port of /metrics (Prometheus); 0: off.")

    @field_validator("namespaces", "allowed_endpoints", "default_credentials_namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class SettingsError(ValueError):
    """The ``MODELARTS_*`` environment does not make valid settings; the message names every bad variable (never
    its value: some are secrets)."""


def load_settings() -> OperatorSettings:
    """The settings from the environment, or :class:`SettingsError` saying which variables are wrong and why."""
    try:
        return OperatorSettings()
    except ValidationError as exc:
        problems = [
            f"{OperatorSettings.model_config.get('env_prefix', '')}{str(error['loc'][0]).upper()}: {error['msg']}"
            if error["loc"]
            else error["msg"]
            for error in exc.errors(include_input=False, include_url=False)
        ]
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
