"""``modelarts-operator probe`` as a user runs it, against the emulator as a process, over real HTTP with real
signatures: exit status, what it reports, and that the emulator saw nothing but GETs."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stack import EmulatorProcess, console_script, free_port

POOL_BODY = {
    "apiVersion": "v2",
    "kind": "Pool",
    "metadata": {"labels": {"os.modelarts/name": "probe-a"}},
    "spec": {
        "type": "Dedicate",
        "scope": ["Train"],
        "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 2}],
        "network": {"name": "network-test"},
    },
}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess.start(tmp_path_factory.mktemp("probe-emulator"), create_seconds=30, delete_seconds=1)
    yield process
    process.stop()


def control(emulator: EmulatorProcess, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{emulator.url}/_emulator{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json() if response.content else {}


def create_pool(emulator: EmulatorProcess, display: str, *, ready: bool = True) -> dict[str, Any]:
    body = json.loads(json.dumps(POOL_BODY))
    body["metadata"]["labels"]["os.modelarts/name"] = display
    pool: dict[str, Any] = control(emulator, "POST", f"/pools?ready={'true' if ready else 'false'}", body)
    return pool


@pytest.fixture(autouse=True)
def fresh(emulator: EmulatorProcess) -> None:
    control(emulator, "POST", "/reset")


def clean_env(**variables: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MODELARTS_", "HUAWEICLOUD_SDK_"))}
    env.update(variables)
    return env


def probe(
    emulator: EmulatorProcess, *args: str, env: dict[str, str] | None = None, endpoint: str | None = None
) -> tuple[int, dict[str, Any]]:
    environment = (
        env
        if env is not None
        else clean_env(MODELARTS_ACCESS_KEY=emulator.access_key, MODELARTS_SECRET_KEY=emulator.secret_key)
    )
    completed = subprocess.run(
        [
            console_script(),
            "probe",
            "--endpoint",
            endpoint or emulator.url,
            "--project-id",
            emulator.project_id,
            "-o",
            "json",
            *args,
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.stdout, completed.stderr
    report: dict[str, Any] = json.loads(completed.stdout)
    assert report["exitCode"] == completed.returncode
    return completed.returncode, report


def kinds(report: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(f["severity"], f["kind"], f["answer"], f["field"]) for f in report["findings"]}


def test_the_emulator_is_compatible_and_sees_only_gets(emulator: EmulatorProcess) -> None:
    create_pool(emulator, "probe-a")
    create_pool(emulator, "probe-b", ready=False)  # still Creating: a second phase for the sample
    abnormal = create_pool(emulator, "probe-c")
    control(emulator, "POST", f"/pools/{abnormal['metadata']['name']}/phase", {"phase": "Abnormal"})
    control(emulator, "DELETE", "/requests")

    code, report = probe(emulator)
    assert code == 0 and report["result"] == "compatible", report
    assert kinds(report) == {("info", "endpoint", "-", "endpoint")}  # http://127.0.0.1 is not a public endpoint
    assert (report["read"]["poolsListed"], report["read"]["sampled"]) == (3, 3)

    seen = control(emulator, "GET", "/requests")["requests"]
    assert {entry["method"] for entry in seen} == {"GET"}
    assert len(seen) == sum(entry["requests"] for entry in report["read"]["requests"].values()) == 5


def test_a_documented_shape_answer_is_reported_and_recorded_redacted(emulator: EmulatorProcess, tmp_path: Path) -> None:
    name = create_pool(emulator, "probe-a")["metadata"]["name"]
    view = next(item["view"] for item in control(emulator, "GET", "/pools")["pools"] if item["name"] == name)
    view["status"]["resources"]["available"] = view["status"]["resources"]["available"][0]  # one object, as documented
    control(
        emulator,
        "POST",
        "/faults",
        {
            "method": "GET",
            "path_regex": f"/pools/{name}$",
            "status": 200,
            "body": json.dumps(view),
            "content_type": "application/json",
            "times": 1,
        },
    )

    code, report = probe(emulator, "--record", str(tmp_path / "rec"))
    assert code == 1 and report["result"] == "differences"
    assert kinds(report) == {
        ("difference", "shape", "get", "status.resources.available"),
        ("info", "endpoint", "-", "endpoint"),
    }

    files = sorted((tmp_path / "rec").glob("*.json"))
    assert [path.name for path in files] == [
        "001-list.json",
        "002-list-status-failed.json",
        "003-get.json",
        "report.json",
    ]
    text = "".join(path.read_text() for path in files)
    assert emulator.project_id not in text and emulator.access_key not in text and emulator.secret_key not in text
    recorded_get = json.loads(files[2].read_text())
    assert isinstance(recorded_get["response"]["body"]["status"]["resources"]["available"], dict)


def test_refused_credentials_exit_2_after_a_single_request(emulator: EmulatorProcess) -> None:
    control(emulator, "DELETE", "/requests")
    code, report = probe(
        emulator, env=clean_env(MODELARTS_ACCESS_KEY=emulator.access_key, MODELARTS_SECRET_KEY="not-the-secret")
    )
    assert code == 2 and report["result"] == "unreachable" and "HTTP 401" in report["reason"]
    assert len(control(emulator, "GET", "/requests")["requests"]) == 1


def test_nothing_listening_exits_2(emulator: EmulatorProcess) -> None:
    code, report = probe(emulator, endpoint=f"http://127.0.0.1:{free_port()}")
    assert code == 2 and "ConnectError" in report["reason"]


def test_credentials_from_a_kubectl_secret_dump_or_huaweis_variables(emulator: EmulatorProcess, tmp_path: Path) -> None:
    create_pool(emulator, "probe-a")

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    secret = tmp_path / "secret.yaml"
    secret.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: modelarts-credentials\ntype: Opaque\n"
        f"data:\n  accessKey: {b64(emulator.access_key)}\n  secretKey: {b64(emulator.secret_key)}\n"
    )
    assert probe(emulator, "--credentials-file", str(secret), env=clean_env())[0] == 0
    huawei = clean_env(HUAWEICLOUD_SDK_AK=emulator.access_key, HUAWEICLOUD_SDK_SK=emulator.secret_key)
    assert probe(emulator, env=huawei)[0] == 0
    missing = subprocess.run(
        [console_script(), "probe", "--endpoint", emulator.url, "--project-id", "x"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2 and "HUAWEICLOUD_SDK_AK" in missing.stderr
