"""``probe --record``: no account id or secret leaves in the files, placeholders are stable and keep their shape,
and a recording replays to the same report."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from probe_fakes import (
    ACCESS_KEY,
    DOMAIN_ID,
    ENDPOINT,
    PROJECT_ID,
    SECRET_KEY,
    SECURITY_TOKEN,
    FakeCloud,
    json_response,
    pool,
)
from pydantic import SecretStr

from modelarts_operator.modelarts.auth import Credentials
from modelarts_operator.modelarts.retry import RetryPolicy
from modelarts_operator.tools import strict
from modelarts_operator.tools.probe import ProbeResult, Target, run_probe
from modelarts_operator.tools.recording import ReplayTransport, load_records, write_records
from modelarts_operator.tools.redaction import Redactor

CREDENTIALS = Credentials(
    access_key=ACCESS_KEY, secret_key=SecretStr(SECRET_KEY), security_token=SecretStr(SECURITY_TOKEN)
)
RESOURCE_ID = "2a2af7e0-d3e4-4d23-81ab-d8d41aa5e256"


def redactor() -> Redactor:
    return Redactor(project_id=PROJECT_ID, access_key=ACCESS_KEY, secrets=[SECRET_KEY, SECURITY_TOKEN])


def test_identifiers_become_placeholders_of_the_same_shape() -> None:
    redact = redactor()
    out = redact.json(pool("train-a"))
    labels = out["metadata"]["labels"]
    assert labels["os.modelarts/tenant.project.id"] == "project0000000000000000000000001"
    assert labels["os.modelarts/tenant.domain.id"] == "domain00000000000000000000000001"
    assert re.fullmatch(r"00000000-0000-4000-8000-\d{12}", labels["os.modelarts/resource.id"])
    assert out["metadata"]["name"] == "train-a-project0000000000000000000000001"
    assert re.fullmatch(strict.POOL_NAME_PATTERN, out["metadata"]["name"])  # still a valid pool name
    assert labels["os.modelarts/name"] == "train-a"  # display names and timestamps stay


def test_the_same_value_gets_the_same_placeholder_and_redacting_twice_changes_nothing() -> None:
    redact = redactor()
    first = redact.json(pool("a-pool"))
    second = redact.json(pool("b-pool", resource_id="0f0e0d0c-0b0a-4909-8807-060504030201"))
    assert (
        first["metadata"]["labels"]["os.modelarts/tenant.domain.id"]
        == second["metadata"]["labels"]["os.modelarts/tenant.domain.id"]
    )
    assert (
        first["metadata"]["labels"]["os.modelarts/resource.id"]
        != second["metadata"]["labels"]["os.modelarts/resource.id"]
    )
    assert redact.json(first) == first


def test_keys_in_messages_are_masked_even_unknown_ones() -> None:
    redact = redactor()
    text = redact.text(f"Get secretKey failed,ak:{ACCESS_KEY},err:ak not exist; other key ABCDEFGHIJ0123456789")
    assert ACCESS_KEY not in text and "ABCDEFGHIJ0123456789" not in text
    assert "ACCESSKEY00000000001" in text


async def test_recorded_files_hold_no_account_id_or_secret_and_replay_to_the_same_report(tmp_path: Path) -> None:
    documented = pool("b-pool", "Deleting")
    documented["status"]["resources"]["deleting"] = documented["status"]["resources"].pop("available")[0]
    cloud = FakeCloud([pool("a-pool"), documented])
    cloud.override = lambda request: (
        json_response(
            403,
            {"error_code": "ModelArts.0299", "error_msg": f"ak {ACCESS_KEY} may not list failed pools of {PROJECT_ID}"},
        )
        if request.url.params.get("status") == "failed"
        else None
    )
    target = Target(endpoint=ENDPOINT, project_id=PROJECT_ID)
    recorded = await run_probe(
        target, CREDENTIALS, transport=httpx.MockTransport(cloud.handler), retry=RetryPolicy.never()
    )
    assert recorded.exit_code == 1
    files = write_records(recorded.exchanges, tmp_path, redactor())
    assert [path.name for path in files] == [
        "001-list.json",
        "002-list-status-failed.json",
        "003-get.json",
        "004-get.json",
    ]
    text = "".join(path.read_text() for path in files)
    for secret in (PROJECT_ID, DOMAIN_ID, ACCESS_KEY, SECRET_KEY, SECURITY_TOKEN, RESOURCE_ID):
        assert secret not in text

    records = load_records(tmp_path)
    placeholder = records[0]["request"]["path"].split("/")[2]
    replayed = await run_probe(
        Target(endpoint=ENDPOINT, project_id=placeholder),
        CREDENTIALS,
        transport=ReplayTransport(records),
        retry=RetryPolicy.never(),
    )
    assert replayed.exit_code == recorded.exit_code
    assert [exchange.label for exchange in replayed.exchanges] == [exchange.label for exchange in recorded.exchanges]

    def summary(result: ProbeResult) -> list[tuple[str, str, str, int]]:
        return [(f.finding.kind, f.finding.answer, f.finding.field, f.count) for f in result.findings]

    assert summary(replayed) == summary(recorded)
    assert ("shape", "get", "status.resources.deleting", 1) in summary(replayed)
    assert ("error-code", "list status=failed", "error_code", 1) in summary(replayed)
