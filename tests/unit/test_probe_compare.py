"""``tools.compare``: each answer read the operator's way and the notes' way, and every difference named."""

from __future__ import annotations

import copy
from typing import Any

from probe_fakes import pool, pool_list

from modelarts_operator.modelarts.models import Pool
from modelarts_operator.tools.compare import (
    AnswerKind,
    Finding,
    Severity,
    compare_error_answer,
    compare_pool_answer,
    count,
)


def kinds(findings: list[Finding]) -> set[tuple[Severity, str, str]]:
    return {(finding.severity, finding.kind, finding.field) for finding in findings}


def test_a_pool_as_the_notes_describe_it_has_no_findings() -> None:
    assert compare_pool_answer(AnswerKind.GET, pool(), "get") == []
    assert compare_pool_answer(AnswerKind.LIST, pool_list(pool("a-pool"), pool("b-pool", "Creating")), "list") == []


def test_the_documented_object_shape_of_a_bucket_is_a_difference_the_operator_still_reads() -> None:
    answer = pool()
    answer["status"]["resources"]["available"] = answer["status"]["resources"]["available"][0]
    findings = compare_pool_answer(AnswerKind.GET, answer, "get")
    assert kinds(findings) == {(Severity.DIFFERENCE, "shape", "status.resources.available")}
    assert "one-element list" in findings[0].detail
    assert Pool.model_validate(answer).status.resources.available[0].count == 2  # the tolerant read, for real


def test_unknown_phase_field_and_bucket_are_named_with_what_the_operator_does() -> None:
    answer = pool()
    answer["status"]["phase"] = "Frozen"
    answer["status"]["resources"]["stopping"] = [{"flavor": "modelarts.vm.cpu.8ud", "count": 1}]
    answer["spec"]["brandNew"] = True
    findings = {finding.field: finding for finding in compare_pool_answer(AnswerKind.GET, answer, "get")}
    assert findings["status.phase"].kind == "unknown-value"
    assert "'Frozen'" in findings["status.phase"].detail and "never as terminal" in findings["status.phase"].detail
    assert findings["status.resources.stopping"].kind == "unknown-field"
    assert "does not count these nodes" in findings["status.resources.stopping"].detail
    assert findings["spec.brandNew"].kind == "unknown-field"
    assert {finding.severity for finding in findings.values()} == {Severity.DIFFERENCE}


def test_a_missing_display_name_label_and_an_undocumented_billing_mode_are_differences() -> None:
    answer = pool()
    del answer["metadata"]["labels"]["os.modelarts/name"]
    answer["metadata"]["annotations"]["os.modelarts/billing.mode"] = "2"
    found = kinds(compare_pool_answer(AnswerKind.GET, answer, "get"))
    assert found == {
        (Severity.DIFFERENCE, "missing-field", "metadata.labels"),
        (Severity.DIFFERENCE, "unknown-value", "metadata.annotations"),
    }


def test_numbers_sent_as_strings_are_a_type_difference_not_an_incompatibility() -> None:
    answer = pool()
    answer["status"]["resources"]["available"][0]["count"] = "2"
    assert kinds(compare_pool_answer(AnswerKind.GET, answer, "get")) == {
        (Severity.DIFFERENCE, "type", "status.resources.available[*].count")
    }


def test_an_answer_the_operator_cannot_read_is_incompatible() -> None:
    answer = pool()
    del answer["spec"]
    findings = compare_pool_answer(AnswerKind.GET, answer, "get")
    assert (Severity.INCOMPATIBLE, "unreadable", "spec") in kinds(findings)
    assert compare_pool_answer(AnswerKind.LIST, [pool()], "list")[0].severity == Severity.INCOMPATIBLE


def test_list_paging_metadata_is_not_in_the_notes() -> None:
    answer: dict[str, Any] = pool_list(pool())
    answer["metadata"] = {"continue": "token"}
    assert kinds(compare_pool_answer(AnswerKind.LIST, answer, "list")) == {
        (Severity.DIFFERENCE, "unknown-field", "metadata")
    }


def test_the_same_difference_in_many_pools_is_one_row_counted() -> None:
    pools = [pool(f"pool-{index}") for index in range(3)]
    for item in pools:
        item["status"]["phase"] = "Frozen"
    rows = count(compare_pool_answer(AnswerKind.LIST, pool_list(*pools), "list"))
    assert [(row.finding.field, row.count) for row in rows] == [("items[*].status.phase", 3)]


def test_error_answers_known_unknown_and_mispaired() -> None:
    not_found = {"error_code": "ModelArts.50015001", "error_msg": "pool not found"}
    assert kinds(compare_error_answer(404, not_found, "get")) == {(Severity.INFO, "error-code", "error_code")}
    gateway = {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information", "request_id": "abc"}
    assert kinds(compare_error_answer(401, gateway, "list")) == {(Severity.INFO, "error-code", "error_code")}
    unknown = compare_error_answer(403, {"error_code": "ModelArts.7777", "error_msg": "no"}, "get")
    assert [(f.severity, f.kind) for f in unknown] == [(Severity.DIFFERENCE, "error-code")]
    mispaired = compare_error_answer(400, not_found, "get")
    assert "HTTP 404" in mispaired[0].detail and mispaired[0].severity == Severity.DIFFERENCE
    extra: dict[str, object] = copy.deepcopy(not_found) | {"details": []}
    assert (Severity.DIFFERENCE, "unknown-field", "details") in kinds(compare_error_answer(404, extra, "get"))
    html = compare_error_answer(502, None, "list", "<html><body>Bad gateway</body></html>")
    assert html[0].kind == "error-body" and "Bad gateway" in html[0].detail
