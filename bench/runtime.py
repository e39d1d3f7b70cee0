"""The operator's runtime for the bench: exactly the image's dependencies (``requirements.lock``), not the dev venv.

The dev venv also holds what only the tests use (the ``kubernetes`` client, ``rich``, ``pygments``...), and
libraries import optional packages when they find them: kopf imports the ``kubernetes`` client (and with it
``requests``, ``oauthlib``, ``websocket``) and httpx imports ``rich`` and ``pygments`` for its command line. The
container image has none of them, so memory measured with the dev venv would not be the operator's. This builds a
virtualenv with the hash-pinned lock only (as the Dockerfile installs it), cached under
``~/.cache/modelarts-operator/operator-runtime-<hash>/`` keyed by the lock and the Python version, and runs the
working tree's code from it (``PYTHONPATH``), so no install of the operator itself is needed.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from devcluster import cache_root

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"


def runtime_python() -> Path:
    """The runtime virtualenv's interpreter, built on first use (needs PyPI, like ``make venv``)."""
    key = hashlib.sha256(LOCK.read_bytes() + platform.python_version().encode()).hexdigest()[:12]
    home = cache_root() / f"operator-runtime-{key}"
    python = home / "bin" / "python"
    if python.exists():
        return python
    building = home.with_name(home.name + f".building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(building)], check=True)
    subprocess.run(
        [
            str(building / "bin" / "pip"),
            "install",
            "--quiet",
            "--require-hashes",
            "--no-deps",
            "--only-binary=:all:",
            "-r",
            str(LOCK),
        ],
        check=True,
    )
    building.rename(home)  # a venv's scripts name their own path: only bin/python is used from here on
    return python


def operator_command() -> tuple[list[str], dict[str, str]]:
    """``modelarts-operator run`` with the runtime interpreter and the working tree's code."""
    return [str(runtime_python()), "-m", "modelarts_operator", "run"], {"PYTHONPATH": str(ROOT / "operator")}
