"""Arguments and output of ``probe`` and ``audit``. The work is done in ``tools.probe`` / ``tools.audit``, imported
only when the command runs (``modelarts-operator crd`` must not pay for them)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from modelarts_operator.modelarts.models import DEFAULT_WORKSPACE_ID

OUTPUTS = ("table", "json")


def configure_probe(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Read-only compatibility check of a ModelArts account: lists pools (and failed "
        "creations), reads a few, and reports what the operator would mis-read. Exit status: 0 "
        "compatible, 1 differences, 2 unreachable or refused."
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("MODELARTS_REGION"),
        help="Huawei Cloud region, e.g. cn-north-4 (default: $MODELARTS_REGION)",
    )
    parser.add_argument(
        "--endpoint",
        default=os.environ.get("MODELARTS_ENDPOINT"),
        help="ModelArts endpoint URL (default: $MODELARTS_ENDPOINT, else the region's public one)",
    )
    parser.add_argument(
        "--project-id", help="project ID (default: $MODELARTS_PROJECT_ID, else $HUAWEICLOUD_SDK_PROJECT_ID)"
    )
    parser.add_argument("--workspace-id", default=DEFAULT_WORKSPACE_ID, help='workspace to list (default "0")')
    parser.add_argument(
        "--credentials-file",
        type=Path,
        help="YAML/JSON with accessKey/secretKey[/securityToken], a Secret manifest (kubectl get "
        "secret -o yaml), or the console's credentials.csv; default: $MODELARTS_ACCESS_KEY/"
        "$MODELARTS_SECRET_KEY[/$MODELARTS_SECURITY_TOKEN], else $HUAWEICLOUD_SDK_AK/"
        "$HUAWEICLOUD_SDK_SK[/$HUAWEICLOUD_SDK_SECURITY_TOKEN]",
    )
    parser.add_argument("--sample", type=int, default=3, help="pools to read one by one (default 3)")
    parser.add_argument("--page-size", type=int, default=500, help="pools asked for per list page (default 500)")
    parser.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="write every answer to DIR as JSON, account ids and keys replaced by placeholders",
    )
    parser.add_argument("--ca-bundle", help="CA bundle for the endpoint's TLS certificate")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    parser.add_argument("-o", "--output", choices=OUTPUTS, default="table")


def configure_audit(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Read-only report of cloud pools versus ModelArtsPool objects, for every "
        "ModelArtsProject (and the operator's own project when MODELARTS_PROJECT_ID and its "
        "credentials are set). Exit status: 0 clean, 1 findings, 2 something could not be read."
    )
    parser.add_argument(
        "--stuck-after",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="an object deleted longer ago than this is reported as stuck (default 600)",
    )
    parser.add_argument(
        "--workspace-id",
        action="append",
        default=[],
        help='also list this workspace (repeatable; "0" and the objects\' workspaces always are)',
    )
    parser.add_argument(
        "--project",
        action="append",
        default=[],
        metavar="NAME",
        help="audit only this ModelArtsProject and its objects (repeatable; default: every project, "
        "and the operator's own when configured)",
    )
    parser.add_argument("-o", "--output", choices=OUTPUTS, default="table")


def _fail(message: str) -> int:
    print(f"modelarts-operator: {message}", file=sys.stderr)
    return 2


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# --- probe -------------------------------------------------------------------------------------------


def run_probe(args: argparse.Namespace) -> int:
    from modelarts_operator.modelarts.client import default_endpoint
    from modelarts_operator.tools import credentials as creds
    from modelarts_operator.tools import probe
    from modelarts_operator.tools.recording import write_records
    from modelarts_operator.tools.redaction import Redactor

    endpoint = args.endpoint or (default_endpoint(args.region) if args.region else None)
    project_id = args.project_id or creds.project_id_from(os.environ)
    if not endpoint:
        return _fail("probe needs --region or --endpoint")
    if not project_id:
        return _fail("probe needs --project-id (or MODELARTS_PROJECT_ID / HUAWEICLOUD_SDK_PROJECT_ID)")
    if args.sample < 0 or args.page_size < 1:
        return _fail("--sample must be 0 or more and --page-size 1 or more")
    try:
        credentials = creds.resolve(args.credentials_file, os.environ)
    except creds.CredentialsError as exc:
        return _fail(str(exc))
    target = probe.Target(endpoint=endpoint.rstrip("/"), project_id=project_id, workspace_id=args.workspace_id)
    transport = probe.http_transport(target.endpoint, ca_bundle=args.ca_bundle)
    result = asyncio.run(
        probe.run_probe(
            target,
            credentials,
            transport=transport,
            sample=args.sample,
            page_size=args.page_size,
            request_timeout=args.timeout,
        )
    )
    secrets = [credentials.secret_key.get_secret_value()]
    if credentials.security_token is not None:
        secrets.append(credentials.security_token.get_secret_value())
    redactor = Redactor(project_id=project_id, access_key=credentials.access_key, secrets=secrets)
    recorded = write_records(result.exchanges, args.record, redactor) if args.record else []
    report = probe_report(result, redactor, recorded)
    if args.record:
        (args.record / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if args.output == "json":
        _print_json(report)
    else:
        print(probe_table(report))
    return result.exit_code


def probe_report(result: Any, redactor: Any, recorded: list[Path]) -> dict[str, Any]:
    """The JSON report; every value that came from the cloud goes through ``redactor``."""
    from modelarts_operator.tools import probe

    return {
        "endpoint": result.target.endpoint,
        "project": probe.masked(result.target.project_id),
        "workspaceId": result.target.workspace_id,
        "result": result.verdict,
        "exitCode": result.exit_code,
        "reason": redactor.text(result.unreachable) if result.unreachable else None,
        "read": probe.summary(result),
        "findings": [
            {
                "severity": str(item.finding.severity),
                "kind": item.finding.kind,
                "answer": item.finding.answer,
                "field": redactor.text(item.finding.field),
                "count": item.count,
                "detail": redactor.text(item.finding.detail),
            }
            for item in result.findings
        ],
        "recorded": [str(path) for path in recorded],
    }


def probe_table(report: dict[str, Any]) -> str:
    from modelarts_operator.tools.table import render

    read = report["read"]
    lines = [
        f"ModelArts probe of {report['endpoint']} (project {report['project']}, workspace {report['workspaceId']})",
        f"read: {read['poolsListed']} pools listed, {read['failedListed']} failed creations listed, "
        f"{read['sampled']} pools read one by one, "
        f"{sum(entry['requests'] for entry in read['requests'].values())} requests (GET only)",
    ]
    verdicts = {
        "compatible": "compatible: the operator reads every answer as the notes describe it",
        "differences": "differences: see below",
        "unreachable": f"unreachable: {report['reason']}",
    }
    lines.append(f"result: {verdicts[report['result']]} (exit {report['exitCode']})")
    if report["findings"]:
        rows = [
            (item["severity"], item["kind"], item["answer"], item["field"], item["count"], item["detail"])
            for item in report["findings"]
        ]
        lines += ["", render(("SEVERITY", "KIND", "ANSWER", "FIELD", "SEEN", "DETAIL"), rows)]
    if report["recorded"]:
        lines += ["", f"recorded {len(report['recorded'])} answers (redacted) in {Path(report['recorded'][0]).parent}"]
    return "\n".join(lines)


# --- audit -------------------------------------------------------------------------------------------


def run_audit(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from modelarts_operator.controller.kube import KubeApi
    from modelarts_operator.modelarts.client import make_http_client
    from modelarts_operator.settings import SettingsError, load_settings
    from modelarts_operator.tools import audit

    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc))

    async def go() -> audit.AuditReport:
        try:
            kube = KubeApi.from_environment()
        except Exception as exc:  # the kubernetes loaders raise several unrelated types
            report = audit.AuditReport()
            report.errors.append(f"no cluster configuration: {type(exc).__name__}: {exc}")
            return report
        verify: bool | str = settings.ca_bundle or settings.verify_tls
        http = make_http_client(verify=verify, timeout=settings.request_timeout_seconds)
        try:
            return await audit.run_audit(
                kube,
                settings,
                http,
                now=datetime.now(UTC),
                stuck_after_seconds=args.stuck_after,
                workspaces=tuple(args.workspace_id),
                projects=tuple(args.project),
            )
        finally:
            await http.aclose()
            await kube.aclose()

    report = asyncio.run(go())
    data = audit_report(report)
    if args.output == "json":
        _print_json(data)
    else:
        print(audit_table(data))
    return report.exit_code


def audit_report(report: Any) -> dict[str, Any]:
    from modelarts_operator.tools.audit_compare import format_age

    return {
        "result": {0: "clean", 1: "findings", 2: "unreadable"}[report.exit_code],
        "exitCode": report.exit_code,
        "accounts": [
            {
                "sources": account.sources,
                "endpoint": account.endpoint,
                "projectId": account.project_id,
                "pools": account.pools,
                "error": account.error,
            }
            for account in report.accounts
        ],
        "objects": len(report.objects),
        "findings": [
            {
                "kind": str(finding.kind),
                "projectId": finding.project_id,
                "pool": finding.pool,
                "objects": list(finding.objects),
                "ageSeconds": None if finding.age_seconds is None else int(finding.age_seconds),
                "age": format_age(finding.age_seconds),
                "nodes": finding.nodes,
                "phase": finding.phase,
                "detail": finding.detail,
            }
            for finding in report.findings
        ],
        "unaudited": [
            {"object": obj.key, "pool": obj.pool_name, "projectId": obj.project_id} for obj in report.unaudited
        ],
        "errors": list(report.errors),
    }


def audit_table(data: dict[str, Any]) -> str:
    from modelarts_operator.tools.table import render

    accounts = data["accounts"]
    lines = [f"audited {len(accounts)} ModelArts project(s) against {data['objects']} ModelArtsPool object(s)"]
    if accounts:
        lines += [
            "",
            render(
                ("PROJECT", "ENDPOINT", "POOLS", "USED BY"),
                [
                    (
                        a["projectId"],
                        a["endpoint"],
                        "-" if a["error"] else a["pools"],
                        ", ".join(a["sources"]) + (f" — NOT READ: {a['error']}" if a["error"] else ""),
                    )
                    for a in accounts
                ],
            ),
        ]
    lines += [f"error: {error}" for error in data["errors"]]
    if data["findings"]:
        lines += [
            "",
            render(
                ("FINDING", "POOL", "PROJECT", "OBJECTS", "AGE", "NODES", "PHASE", "DETAIL"),
                [
                    (
                        f["kind"],
                        f["pool"] or "-",
                        f["projectId"] or "-",
                        ", ".join(f["objects"]) or "-",
                        f["age"],
                        "-" if f["nodes"] is None else f["nodes"],
                        f["phase"] or "-",
                        f["detail"],
                    )
                    for f in data["findings"]
                ],
            ),
        ]
    if data["unaudited"]:
        lines += [
            "",
            "not audited (their project was not listed): "
            + ", ".join(f"{u['object']} ({u['projectId']})" for u in data["unaudited"]),
        ]
    lines += ["", f"result: {data['result']} (exit {data['exitCode']})"]
    return "\n".join(lines)
