"""The real console script as a subprocess, and the state file across restarts."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from emulator_helpers import SignedClient, eventually, pool_body

from modelarts_emulator.config import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_PROJECT_ID,
    DEFAULT_SECRET_KEY,
    EmulatorConfig,
    Timings,
)
from modelarts_emulator.server import running_emulator

SCRIPT = Path(sys.executable).with_name("modelarts-operator")


@contextmanager
def emulator_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [str(SCRIPT), "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        # The line comes once the server is bound; never wait forever for a process that hangs.
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "no 'listening on' line within 30 s"
        first = process.stdout.readline()
        assert first.startswith("listening on http://127.0.0.1:"), (first, process.stderr and process.stderr.read())
        yield process, first.removeprefix("listening on ").strip()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


async def test_console_script_serves_and_stops_on_sigterm(http: httpx.AsyncClient) -> None:
    with emulator_process("--create-seconds", "0.2") as (process, url):
        api = SignedClient(
            http, url=url, project_id=DEFAULT_PROJECT_ID, access_key=DEFAULT_ACCESS_KEY, secret_key=DEFAULT_SECRET_KEY
        )
        name = (await api.create(pool_body("pool-proc"))).json()["metadata"]["name"]
        running = await eventually(lambda: api.get(name), lambda r: r.json()["status"]["phase"] == "Running")
        assert running.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


async def test_console_script_flags(http: httpx.AsyncClient, tmp_path: Path) -> None:
    project = "fedcba9876543210fedcba9876543210"
    state = tmp_path / "state.json"
    with emulator_process(
        "--project-id",
        project,
        "--access-key",
        "AK1",
        "--secret-key",
        "SK1",
        "--access-key",
        "AK2",
        "--secret-key",
        "SK2",
        "--state-file",
        str(state),
    ) as (process, url):
        for ak, sk in (("AK1", "SK1"), ("AK2", "SK2")):
            api = SignedClient(http, url=url, project_id=project, access_key=ak, secret_key=sk)
            assert (await api.list()).status_code == 200
        default = SignedClient(
            http, url=url, project_id=project, access_key=DEFAULT_ACCESS_KEY, secret_key=DEFAULT_SECRET_KEY
        )
        assert (await default.list()).status_code == 401
        created = await SignedClient(http, url=url, project_id=project, access_key="AK1", secret_key="SK1").create(
            pool_body("pool-flags")
        )
        assert created.json()["metadata"]["name"] == f"pool-flags-{project}"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    assert f"pool-flags-{project}" in json.loads(state.read_text())["pools"]


def test_mismatched_key_pairs_fail_fast() -> None:
    result = subprocess.run(
        [str(SCRIPT), "emulator", "--access-key", "A", "--access-key", "B", "--secret-key", "S"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0 and "--secret-key" in result.stderr


async def test_state_file_survives_restart(http: httpx.AsyncClient, tmp_path: Path) -> None:
    state = tmp_path / "emulator" / "state.json"
    config = EmulatorConfig(timings=Timings(create_seconds=0.5, delete_seconds=30, scale_seconds=0.5), state_file=state)
    async with running_emulator(config) as emu:
        api = SignedClient(
            http, url=emu.url, project_id=emu.project_id, access_key=emu.access_key, secret_key=emu.secret_key
        )
        kept = (await api.create(pool_body("pool-kept", count=3))).json()["metadata"]["name"]
        going = (await api.create(pool_body("pool-going", count=2))).json()["metadata"]["name"]
        await eventually(lambda: api.get(kept), lambda r: r.json()["status"]["phase"] == "Running")
        await api.delete(going)
        before = (await api.get(kept)).json()
    assert not list(state.parent.glob("*.tmp"))  # atomic writes leave no temporary files behind

    async with running_emulator(config) as emu:  # a new process would do the same: load at start
        api = SignedClient(
            http, url=emu.url, project_id=emu.project_id, access_key=emu.access_key, secret_key=emu.secret_key
        )
        after = await api.get(kept)
        assert after.status_code == 200 and after.json() == before
        still_deleting = await api.get(going)
        assert still_deleting.json()["status"]["phase"] == "Deleting"
        assert (await api.create(pool_body("pool-kept"))).status_code == 409


async def test_ticker_settles_and_persists_without_requests(http: httpx.AsyncClient, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    config = EmulatorConfig(
        timings=Timings(create_seconds=0.3, delete_seconds=0.3, scale_seconds=0.3), state_file=state, tick_seconds=0.05
    )
    async with running_emulator(config) as emu:
        api = SignedClient(
            http, url=emu.url, project_id=emu.project_id, access_key=emu.access_key, secret_key=emu.secret_key
        )
        name = (await api.create(pool_body("pool-tick"))).json()["metadata"]["name"]

        async def saved_states() -> list[str]:
            pools = json.loads(state.read_text())["pools"]
            return [batch["state"] for batch in pools[name]["nodes"]] if name in pools else ["gone"]

        await eventually(saved_states, lambda states: states == ["available"])
        await api.delete(name)
        await eventually(saved_states, lambda states: states == ["gone"])


def test_unusable_state_file_refuses_to_start(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")
    result = subprocess.run(
        [str(SCRIPT), "emulator", "--state-file", str(state)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "is not JSON" in result.stderr and result.stdout == ""
    assert state.read_text() == "{not json"  # left alone for the user to look at


def test_non_loopback_host_needs_allow_remote() -> None:
    result = subprocess.run(
        [str(SCRIPT), "emulator", "--port", "0", "--host", "0.0.0.0"],  # noqa: S104 - the refusal under test
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "--allow-remote" in result.stderr and "no authentication" in result.stderr
    assert "listening on" not in result.stdout


async def test_fidelity_flags_from_the_command_line(http: httpx.AsyncClient) -> None:
    with emulator_process("--visibility-delay-seconds", "30", "--rate-limit-per-minute", "2") as (_, url):
        api = SignedClient(
            http, url=url, project_id=DEFAULT_PROJECT_ID, access_key=DEFAULT_ACCESS_KEY, secret_key=DEFAULT_SECRET_KEY
        )
        name = (await api.create(pool_body("pool-flagged"))).json()["metadata"]["name"]
        assert (await api.get(name)).status_code == 404  # hidden for 30 s
        throttled = await api.list()  # the third call this minute
        assert throttled.status_code == 429 and throttled.json()["error_code"] == "APIGW.0308"
