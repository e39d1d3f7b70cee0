"""Where a person running ``probe`` keeps an access key: a file, or the environment.

In order, the first complete pair wins (an AK from one place is never paired with an SK from another):

1. ``--credentials-file``: YAML or JSON with ``accessKey``/``secretKey`` (and optionally ``securityToken``), the keys
   of the operator's credentials Secret; a Secret manifest (``stringData``, or ``data`` in base64, as
   ``kubectl get secret -o yaml`` prints it); or the ``credentials.csv`` the Huawei Cloud console hands out
   (``Access Key Id``, ``Secret Access Key`` columns).
2. ``MODELARTS_ACCESS_KEY``/``MODELARTS_SECRET_KEY``/``MODELARTS_SECURITY_TOKEN``: the operator's own variables.
3. ``HUAWEICLOUD_SDK_AK``/``HUAWEICLOUD_SDK_SK``/``HUAWEICLOUD_SDK_SECURITY_TOKEN``: the variables Huawei's SDKs
   read (``huaweicloudsdkcore.auth.provider.EnvCredentialProvider``).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from modelarts_operator.modelarts.auth import Credentials

ENV_SOURCES = (
    ("MODELARTS_ACCESS_KEY", "MODELARTS_SECRET_KEY", "MODELARTS_SECURITY_TOKEN"),
    ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN"),
)
PROJECT_ID_VARIABLES = ("MODELARTS_PROJECT_ID", "HUAWEICLOUD_SDK_PROJECT_ID")
KEY_ACCESS, KEY_SECRET, KEY_TOKEN = "accessKey", "secretKey", "securityToken"
_CSV_ACCESS, _CSV_SECRET = "access key id", "secret access key"


class CredentialsError(ValueError):
    """No usable credentials; the message says where we looked (never a secret's value)."""


def _text(value: Any, where: str, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CredentialsError(f"{where}: {key} is not a string")
    return value.strip() or None


def _from_mapping(data: Mapping[str, Any], where: str) -> Credentials:
    values: dict[str, Any] = dict(data)
    if str(values.get("kind", "")) == "Secret":
        plain = dict(values.get("stringData") or {})
        for key, encoded in dict(values.get("data") or {}).items():
            try:
                plain.setdefault(key, base64.b64decode(str(encoded), validate=True).decode("utf-8"))
            except (binascii.Error, ValueError):
                raise CredentialsError(f"{where}: data.{key} is not base64 of UTF-8 text") from None
        values = plain
    access = _text(values.get(KEY_ACCESS), where, KEY_ACCESS)
    secret = _text(values.get(KEY_SECRET), where, KEY_SECRET)
    token = _text(values.get(KEY_TOKEN), where, KEY_TOKEN)
    missing = [key for key, value in ((KEY_ACCESS, access), (KEY_SECRET, secret)) if not value]
    if missing:
        raise CredentialsError(f"{where} has no {' or '.join(missing)}")
    assert access is not None and secret is not None
    return Credentials(
        access_key=access, secret_key=SecretStr(secret), security_token=SecretStr(token) if token else None
    )


def _from_csv(text: str, where: str) -> Credentials | None:
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        return None
    header = [cell.strip().lower() for cell in rows[0]]
    if _CSV_ACCESS not in header or _CSV_SECRET not in header:
        return None
    row = rows[1]
    pick = {KEY_ACCESS: row[header.index(_CSV_ACCESS)], KEY_SECRET: row[header.index(_CSV_SECRET)]}
    return _from_mapping(pick, where)


def from_file(path: Path) -> Credentials:
    where = f"credentials file {path}"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CredentialsError(f"{where}: {exc.strerror}") from None
    from_csv = _from_csv(text, where)
    if from_csv is not None:
        return from_csv
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        raise CredentialsError(f"{where} is neither JSON, YAML nor the console's credentials.csv") from None
    if not isinstance(data, dict):
        raise CredentialsError(f"{where} is not a mapping with {KEY_ACCESS} and {KEY_SECRET}")
    return _from_mapping(data, where)


def from_environment(environ: Mapping[str, str]) -> Credentials | None:
    for access_name, secret_name, token_name in ENV_SOURCES:
        access, secret = environ.get(access_name, "").strip(), environ.get(secret_name, "").strip()
        if access and secret:
            token = environ.get(token_name, "").strip()
            return Credentials(
                access_key=access, secret_key=SecretStr(secret), security_token=SecretStr(token) if token else None
            )
    return None


def resolve(path: Path | None, environ: Mapping[str, str]) -> Credentials:
    """The credentials to probe with (see the module docstring for the order)."""
    if path is not None:
        return from_file(path)
    found = from_environment(environ)
    if found is None:
        names = ", ".join(f"{access}/{secret}" for access, secret, _ in ENV_SOURCES)
        raise CredentialsError(f"no credentials: pass --credentials-file or set {names}")
    return found


def project_id_from(environ: Mapping[str, str]) -> str | None:
    for name in PROJECT_ID_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None
