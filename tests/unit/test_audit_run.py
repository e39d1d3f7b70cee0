"""``tools.audit.run_audit`` with a fake cluster and a fake ModelArts: which projects are listed, with which
credentials, and when the audit refuses to vouch (exit 2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from probe_fakes import PROJECT_ID, FakeCloud, pool

from modelarts_operator.controller.kube import ObjectGone, SecretData
from modelarts_operator.modelarts.retry import RetryPolicy
from modelarts_operator.resource import names
from modelarts_operator.settings import OperatorSettings
from modelarts_operator.tools.audit import AuditReport, run_audit

ENDPOINT = "https://modelarts.cn-north-4.myhuaweicloud.com"
NOW = datetime(2024, 6, 1, tzinfo=UTC)


def project(name: str, *, endpoint: str | None = None, project_id: str = PROJECT_ID) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "projectId": project_id,
        "region": "cn-north-4",
        "credentialsSecretRef": {"namespace": "platform", "name": f"{name}-keys"},
    }
    if endpoint:
        spec["endpoint"] = endpoint
    return {"metadata": {"name": name}, "spec": spec}


def pool_object(name: str, pool_name: str, project_name: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "team", "name": name, "creationTimestamp": "2024-05-01T00:00:00Z"},
        "spec": {"projectRef": {"name": project_name}},
        "status": {"poolName": pool_name, "project": project_name, **status},
    }


class FakeKube:
    def __init__(self, projects: list[dict[str, Any]] | None, pools: list[dict[str, Any]]) -> None:
        self.projects = projects
        self.pools = pools
        self.secrets_read: list[str] = []

    async def list_objects(self, plural: str = names.PLURAL, *, page_size: int = 500) -> list[dict[str, Any]]:
        if plural == names.PROJECT_PLURAL:
            if self.projects is None:
                raise ObjectGone("no such kind", status_code=404)
            return self.projects
        return self.pools

    async def read_secret(self, namespace: str, name: str) -> SecretData:
        self.secrets_read.append(f"{namespace}/{name}")
        return SecretData(labels={}, data={"accessKey": b"QTWAOYTTINDUT2QVKYUC", "secretKey": b"secret"})


async def audit(
    kube: FakeKube, cloud: FakeCloud, settings: OperatorSettings | None = None, **options: Any
) -> AuditReport:
    async with httpx.AsyncClient(transport=httpx.MockTransport(cloud.handler)) as http:
        return await run_audit(
            kube,  # type: ignore[arg-type]
            settings or OperatorSettings(),
            http,
            now=NOW,
            stuck_after_seconds=600,
            retry=RetryPolicy.never(),
            **options,
        )


async def test_projects_sharing_a_project_id_are_listed_once_and_every_pool_is_accounted_for() -> None:
    kube = FakeKube(
        [project("team-a"), project("team-b")],
        [pool_object("a", f"a-pool-{PROJECT_ID}", "team-a"), pool_object("b", f"b-pool-{PROJECT_ID}", "team-b")],
    )
    cloud = FakeCloud([pool("a-pool"), pool("b-pool")])
    report = await audit(kube, cloud)
    assert report.exit_code == 0 and report.findings == []
    assert [(a.sources, a.pools) for a in report.accounts] == [
        (["ModelArtsProject team-a", "ModelArtsProject team-b"], 2)
    ]
    assert kube.secrets_read == ["platform/team-a-keys"]
    assert [request.url.params.get("status") for request in cloud.requests] == [None, "failed"]


async def test_an_endpoint_off_the_allow_list_is_never_signed_for_and_makes_the_audit_exit_2() -> None:
    kube = FakeKube([project("rogue", endpoint="https://evil.example.com")], [])
    cloud = FakeCloud([])
    report = await audit(kube, cloud)
    assert report.exit_code == 2
    assert "not an allowed ModelArts endpoint" in (report.accounts[0].error or "")
    assert cloud.requests == [] and kube.secrets_read == []


async def test_the_operators_own_project_is_audited_when_configured_and_not_with_project_selection() -> None:
    settings = OperatorSettings(
        project_id=PROJECT_ID, access_key="QTWAOYTTINDUT2QVKYUC", secret_key="s", endpoint=ENDPOINT
    )
    cloud = FakeCloud([pool("leaky")])
    report = await audit(FakeKube(None, []), cloud, settings)
    assert [a.sources for a in report.accounts] == [["operator defaults"]]
    assert report.exit_code == 1 and [f.pool for f in report.findings] == [f"leaky-{PROJECT_ID}"]

    kube = FakeKube(
        [project("team-a"), project("other", project_id="f" * 32)],
        [pool_object("a", f"a-pool-{PROJECT_ID}", "team-a"), pool_object("o", "o-pool", "other")],
    )
    selected = await audit(kube, FakeCloud([pool("a-pool")]), settings, projects=("team-a",))
    assert [a.sources for a in selected.accounts] == [["ModelArtsProject team-a"]]
    assert [o.key for o in selected.objects] == ["team/a"] and selected.exit_code == 0
    missing = await audit(kube, FakeCloud([]), settings, projects=("nope",))
    assert missing.exit_code == 2 and missing.errors == ["ModelArtsProject nope does not exist"]


async def test_refused_credentials_or_an_unreadable_object_make_the_audit_exit_2() -> None:
    cloud = FakeCloud([pool("a-pool")])
    cloud.override = lambda request: httpx.Response(
        401, json={"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information"}
    )
    report = await audit(FakeKube([project("team-a")], []), cloud)
    assert report.exit_code == 2 and "HTTP 401" in (report.accounts[0].error or "")
    assert len(cloud.requests) == 1

    broken = pool_object("a", f"a-pool-{PROJECT_ID}", "team-a", conditions="not a list")
    report = await audit(FakeKube([project("team-a")], [broken]), FakeCloud([pool("a-pool")]))
    assert report.exit_code == 2 and report.errors == ["ModelArtsPool team/a: its status cannot be read"]
