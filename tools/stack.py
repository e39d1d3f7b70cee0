"""The ModelArts emulator and the operator as real processes, for the end-to-end tests and ``make demo``.

Both are started through the installed console script (``modelarts-operator emulator`` / ``run``), exactly as
a user would run them; output goes to log files in a work directory.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modelarts_emulator.control_client import ControlClient

EMULATOR_PROJECT_ID = "0123456789abcdef0123456789abcdef"
EMULATOR_ACCESS_KEY = "EMULATORACCESSKEY000"
EMULATOR_SECRET_KEY = "EmulatorSecretKeyForLocalDevelopment0000"  # noqa: S105 (the emulator's public dev key)


def console_script() -> str:
    """``modelarts-operator`` next to the running interpreter (the project's virtualenv)."""
    return str(Path(sys.executable).with_name("modelarts-operator"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmulatorProcess:
    url: str
    process: subprocess.Popen[str]
    log: Path
    project_id: str = EMULATOR_PROJECT_ID
    access_key: str = EMULATOR_ACCESS_KEY
    secret_key: str = EMULATOR_SECRET_KEY
    # The control API (/_emulator/...): recorded requests, faults, pools; closed by stop().
    control: ControlClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.control = ControlClient(self.url)

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        create_seconds: float = 3,
        delete_seconds: float = 6,
        scale_seconds: float = 3,
        state_file: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> EmulatorProcess:
        log = workdir / "emulator.log"
        args = [
            console_script(),
            "emulator",
            "--port",
            "0",
            "--create-seconds",
            str(create_seconds),
            "--delete-seconds",
            str(delete_seconds),
            "--scale-seconds",
            str(scale_seconds),
        ]
        if state_file is not None:
            args += ["--state-file", str(state_file)]
        args += list(extra_args)
        with log.open("a") as stderr:
            process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        if not first.startswith("listening on "):
            process.kill()
            raise RuntimeError(f"emulator did not start: {first!r}; see {log}")
        return cls(url=first.removeprefix("listening on "), process=process, log=log)

    def stop(self) -> None:
        self.control.close()
        _terminate(self.process)


@dataclass
class OperatorProcess:
    """``modelarts-operator run`` against a kubeconfig, with settings from ``MODELARTS_*`` variables."""

    env: dict[str, str]
    log: Path
    health_port: int
    metrics_port: int
    process: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)
    # Another way to run ``modelarts-operator run`` (bench/: the image's dependencies only); None: the script.
    command: list[str] | None = None

    @classmethod
    def configure(
        cls,
        workdir: Path,
        kubeconfig: Path,
        emulator: EmulatorProcess,
        *,
        base_env: dict[str, str] | None = None,
        command: list[str] | None = None,
        **settings: str,
    ) -> OperatorProcess:
        health, metrics = free_port(), free_port()
        env = dict(base_env or os.environ)
        env.update(
            KUBECONFIG=str(kubeconfig),
            MODELARTS_ENDPOINT=emulator.url,
            MODELARTS_PROJECT_ID=emulator.project_id,
            # The emulator listens on loopback over plain http: allowed explicitly, as a platform would.
            MODELARTS_ALLOWED_ENDPOINTS="http://127.0.0.1:*",
            MODELARTS_HEALTH_ADDRESS="127.0.0.1",
            MODELARTS_HEALTH_PORT=str(health),
            MODELARTS_METRICS_PORT=str(metrics),
        )
        env.update({f"MODELARTS_{key.upper()}": value for key, value in settings.items()})
        return cls(env=env, log=workdir / "operator.log", health_port=health, metrics_port=metrics, command=command)

    def start(self, *, ready_timeout: float = 60.0) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        with self.log.open("a") as out:
            out.write(f"\n===== operator start #{self.starts} =====\n")
            out.flush()
            self.process = subprocess.Popen(
                self.command or [console_script(), "run"], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + ready_timeout
        while not self.healthy():
            if self.process.poll() is not None:
                raise RuntimeError(f"operator exited with {self.process.returncode}; see {self.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"operator not healthy after {ready_timeout}s; see {self.log}")
            time.sleep(0.2)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye, as when a node dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            _terminate(self.process)


def _terminate(process: subprocess.Popen[str] | subprocess.Popen[bytes], grace: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
