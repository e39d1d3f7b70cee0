"""A ``probe --record`` recording as a test fixture: recorded from the emulator with the documented (object) bucket
shape injected into one GET answer (see tests/fixtures/probe/README.md). Every answer must read through the
operator's models, and replaying the recording must give the report it was recorded with."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from modelarts_operator.modelarts.auth import Credentials
from modelarts_operator.modelarts.models import Pool, PoolList
from modelarts_operator.modelarts.retry import RetryPolicy
from modelarts_operator.tools.compare import AnswerKind, compare_pool_answer
from modelarts_operator.tools.probe import Target, run_probe
from modelarts_operator.tools.recording import ReplayTransport, load_records

RECORDING = Path(__file__).resolve().parents[1] / "fixtures" / "probe" / "emulator-documented-shape"


def records() -> list[dict[str, Any]]:
    loaded = load_records(RECORDING)
    assert [record["label"] for record in loaded] == ["list", "list status=failed", "get", "get"]
    return loaded


def test_every_recorded_answer_reads_through_the_operators_models() -> None:
    pools = []
    for record in records():
        body = record["response"]["body"]
        if record["label"] == "get":
            pools.append(Pool.model_validate(body))
        else:
            pools.extend(PoolList.model_validate(body).items)
    assert sorted(pool.status.phase or "" for pool in pools) == ["Creating", "Creating", "Running", "Running"]
    documented = next(
        pool for pool in pools if pool.status.resources.available and pool.metadata.display_name == "train-a"
    )
    assert documented.status.resources.available[0].count == 2


def test_only_the_injected_answer_differs_from_the_notes() -> None:
    differences = {
        record["sequence"]: [
            (f.kind, f.field)
            for f in compare_pool_answer(
                AnswerKind.GET if record["label"] == "get" else AnswerKind.LIST,
                record["response"]["body"],
                record["label"],
            )
        ]
        for record in records()
    }
    assert {sequence: found for sequence, found in differences.items() if found} == {
        3: [("shape", "status.resources.available")]
    }


async def test_replaying_the_recording_gives_the_recorded_report() -> None:
    loaded = records()
    project = loaded[0]["request"]["path"].split("/")[2]
    credentials = Credentials(access_key="REPLAYACCESSKEY00000", secret_key=SecretStr("replay"))
    result = await run_probe(
        Target(endpoint="https://modelarts.cn-north-4.myhuaweicloud.com", project_id=project),
        credentials,
        transport=ReplayTransport(loaded),
        retry=RetryPolicy.never(),
    )
    report = json.loads((RECORDING / "report.json").read_text())
    assert result.exit_code == report["exitCode"] == 1
    recorded = {(f["kind"], f["answer"], f["field"], f["count"]) for f in report["findings"] if f["kind"] != "endpoint"}
    assert {(f.finding.kind, f.finding.answer, f.finding.field, f.count) for f in result.findings} == recorded


def test_the_committed_recording_holds_placeholders_only() -> None:
    text = "".join(path.read_text() for path in sorted(RECORDING.glob("*.json")))
    hex_ids = set(re.findall(r"(?<![0-9a-z])[0-9a-f]{32}(?![0-9a-z])", text))
    uuids = set(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text))
    assert hex_ids == set()
    assert all(uuid.startswith("00000000-0000-4000-8000-") for uuid in uuids)
    assert "EMULATORACCESSKEY000" not in text
