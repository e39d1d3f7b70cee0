"""Argo CD's own verdict on Kubernetes objects, for the tests: runs tools/argocd-health (Argo CD's settings manager,
Lua engine and gitops-engine health package, built by `make argocd-health`) on deploy/argocd/argocd-cm-patch.yaml.

    verdicts = judge([obj1, obj2])      # one process for the whole batch
    verdicts[0].status, verdicts[0].message
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = REPO_ROOT / "tools" / "argocd-health" / "build.sh"
ARGOCD_CM_PATCH = REPO_ROOT / "deploy" / "argocd" / "argocd-cm-patch.yaml"


class EngineNotBuilt(RuntimeError):
    """The binary for the current tools/argocd-health sources is not in the cache."""


@dataclass(frozen=True)
class Verdict:
    """What the Argo CD application controller records for a resource: its health status and message.

    ``error`` is the error Argo CD's engine returned (then ``status`` is Unknown); ``status`` is empty when no
    health check applies to the object."""

    status: str
    message: str
    error: str | None = None


def engine() -> Path:
    """The cached binary built from the current sources; EngineNotBuilt says how to build it."""
    result = subprocess.run(["bash", str(BUILD_SCRIPT), "--path"], capture_output=True, text=True, check=False)
    path = Path(result.stdout.strip())
    if result.returncode != 0 or not path.is_file():
        raise EngineNotBuilt(
            f"Argo CD's health engine is not built for the current tools/argocd-health sources ({path} is "
            "missing): run `make argocd-health` (needs go >= 1.21 and the Go module proxy; "
            f"{result.stderr.strip() or 'see tools/argocd-health/build.sh'})"
        )
    return path


def judge(objects: list[dict[str, Any]], *, patch: Path = ARGOCD_CM_PATCH, binary: Path | None = None) -> list[Verdict]:
    """Argo CD's verdict on each object, with the health customization from ``patch`` (an argocd-cm merge patch)."""
    result = subprocess.run(
        [str(binary or engine()), "-argocd-cm-patch", str(patch)],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"argocd-health failed ({result.returncode}): {result.stderr.strip()}")
    verdicts = [
        Verdict(status=v["status"], message=v["message"], error=v.get("error")) for v in json.loads(result.stdout)
    ]
    if len(verdicts) != len(objects):
        raise RuntimeError(f"argocd-health judged {len(verdicts)} of {len(objects)} objects")
    return verdicts
