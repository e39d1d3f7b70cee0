"""promtool and the Prometheus server that `make prometheus` builds (tools/prometheus/build.sh), and a running
Prometheus for the tests: start, wait until ready, query the HTTP API, stop.

Tests that need them skip with the reason when they are not built (the Makefile builds them before tier 3).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devcluster import REPO_ROOT, cache_root, read_versions
from stack import free_port

VERSIONS = REPO_ROOT / "tools" / "prometheus" / "versions.env"


def module_version() -> str:
    return read_versions(VERSIONS)["PROMETHEUS_MODULE_VERSION"]


@dataclass(frozen=True)
class PrometheusTools:
    promtool: Path
    prometheus: Path

    @classmethod
    def locate(cls) -> PrometheusTools | str:
        """The cached binaries, or why they cannot be used (the skip reason)."""
        version = module_version()
        paths = {tool: cache_root() / f"{tool}-{version}" / tool for tool in ("promtool", "prometheus")}
        missing = [str(path) for path in paths.values() if not os.access(path, os.X_OK)]
        if missing:
            return f"Prometheus tools not built ({', '.join(missing)}): run `make prometheus`"
        return cls(promtool=paths["promtool"], prometheus=paths["prometheus"])

    def run_promtool(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.promtool), *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
        )


@dataclass
class PrometheusServer:
    """A real Prometheus server with a scrape config of the test's choosing, answering on its HTTP API."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(
        cls, binary: Path, workdir: Path, config: dict[str, Any], *, ready_timeout: float = 60.0
    ) -> PrometheusServer:
        config_file = workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        port = free_port()
        log = workdir / "prometheus.log"
        with log.open("a") as out:
            process = subprocess.Popen(
                [
                    str(binary),
                    f"--config.file={config_file}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )
        server = cls(url=f"http://127.0.0.1:{port}", process=process, log=log)
        deadline = time.monotonic() + ready_timeout
        while not server.ready():
            if process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {process.returncode}: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"prometheus not ready after {ready_timeout}s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        return server

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except OSError:
            return False

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as response:  # noqa: S310
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query, as Grafana's instant panels (and the last point of its range panels) see it."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", (expr, data["resultType"])
        result: list[dict[str, Any]] = data["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts."""
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
