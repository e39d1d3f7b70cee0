"""kubectl and waiting helpers for the e2e tier; independent of pytest so any fixture can reuse them."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

_SECRET_FLAGS = ("--token",)


class KubectlError(AssertionError):
    """kubectl exited non-zero where success was expected; an AssertionError so pytest reports it plainly."""


def redact(args: Sequence[str]) -> list[str]:
    """Arguments safe to show in an error: values of credential flags are masked."""
    shown: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            shown.append("***")
            hide_next = False
        elif arg in _SECRET_FLAGS:
            shown.append(arg)
            hide_next = True
        elif arg.startswith(tuple(f"{flag}=" for flag in _SECRET_FLAGS)):
            shown.append(arg.split("=", 1)[0] + "=***")
        else:
            shown.append(arg)
    return shown


@dataclass(frozen=True)
class Kubectl:
    """Runs the venv's kubectl against one kubeconfig. Call it like ``kubectl("get", "pods", "-A")``."""

    binary: Path
    kubeconfig: Path
    env: Mapping[str, str]

    def __call__(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 180.0
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl; with ``check`` a non-zero exit raises :class:`KubectlError` carrying stderr.

        ``timeout`` is a backstop above any ``--timeout`` given to kubectl itself, so its own message wins.
        """
        cmd = [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=timeout, env=dict(self.env), check=False
        )
        if check and result.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(redact(args))} exited {result.returncode}: {result.stderr.strip()}")
        return result

    def json(self, *args: str) -> Any:
        """Run ``kubectl ... -o json`` and parse the output."""
        return json.loads(self(*args, "-o", "json").stdout)

    def apply(self, *manifests: Mapping[str, Any]) -> subprocess.CompletedProcess[str]:
        """``kubectl apply -f -`` with the given objects."""
        return self("apply", "-f", "-", stdin=yaml.safe_dump_all(list(manifests)))

    def credentials_secret(
        self, namespace: str, name: str, access_key: str, secret_key: str, *, marked: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """A team's own credentials Secret; ``marked``: labelled for the operator, which uses no other."""
        labels = {"modelarts.operator.dev/credentials": "true"} if marked else {}
        return self.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "stringData": {"accessKey": access_key, "secretKey": secret_key},
            }
        )

    def with_token(self, token: str, path: Path) -> Kubectl:
        """A Kubectl that authenticates ONLY with ``token`` (a kubeconfig of its own written to ``path``).

        Passing ``--token`` alone is not enough: the admin kubeconfig's client certificate would still be
        presented in the TLS handshake and win authentication.
        """
        current = yaml.safe_load(self.kubeconfig.read_text())
        cluster = current["clusters"][0]
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [cluster],
            "users": [{"name": "token-user", "user": {"token": token}}],
            "contexts": [{"name": "token", "context": {"cluster": cluster["name"], "user": "token-user"}}],
            "current-context": "token",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return Kubectl(binary=self.binary, kubeconfig=path, env=self.env)


def wait_for(condition: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
