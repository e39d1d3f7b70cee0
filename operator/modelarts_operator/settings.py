"""Operator settings: one object, read from ``MODELARTS_*`` environment variables at start-up, no I/O."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """Every setting of ``modelarts-operator run``; the README's settings table mirrors this class."""

    model_config = SettingsConfigDict(env_prefix="MODELARTS_", extra="ignore")

    region: str | None = Field(default=None, description="Default region for objects without spec.region.")
    project_id: str | None = Field(default=None, description="Default project for objects without spec.projectId.")
    endpoint: str | None = Field(
        default=None,
        description="Default ModelArts endpoint; else https://modelarts.{region}.myhuaweicloud.com.",
    )
    access_key: str | None = Field(default=None, description="Default AK for objects without credentialsSecretRef.")
    secret_key: SecretStr | None = Field(default=None, description="Default SK.")
    security_token: SecretStr | None = Field(default=None, description="Default security token (temporary AK/SK).")
    ca_bundle: str | None = Field(default=None, description="Path of a CA bundle for the ModelArts endpoint.")
    verify_tls: bool = Field(default=True, description="Verify the endpoint's TLS certificate.")
    request_timeout_seconds: float = Field(default=30.0, gt=0, description="Timeout of one ModelArts request.")

    namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Namespaces to watch (comma-separated; globs allowed); empty: the whole cluster.",
    )
    transition_poll_seconds: float = Field(
        default=5.0, gt=0, description="How often a pool in transition (creating, scaling, deleting) is read."
    )
    stable_poll_seconds: float = Field(
        default=60.0, gt=0, description="How often a stable pool is read (per object: annotation "
        "modelarts.operator.dev/poll-interval-seconds)."
    )
    deletion_stall_seconds: float = Field(
        default=600.0, gt=0, description="A deletion that shows no progress this long is reported as "
        "DeletionStalled (and still retried)."
    )
    max_backoff_seconds: float = Field(default=300.0, gt=0, description="Upper bound of retry backoff.")
    rate_limit: float = Field(
        default=10.0, gt=0, description="ModelArts requests per second, shared per (endpoint, project)."
    )
    rate_burst: int = Field(default=20, ge=1, description="Requests that may go at once before the rate applies.")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    health_address: str = Field(default="0.0.0.0", description="Bind address of the health and metrics "  # noqa: S104
                                "endpoints.")
    health_port: int = Field(default=8081, ge=0, le=65535, description="Port of /healthz (liveness).")
    metrics_port: int = Field(default=8080, ge=0, le=65535, description="Port of /metrics (Prometheus); 0: off.")

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
