"""Tier 1: who may use what. The binding of a pool to a project, the endpoint allow-list, and the ownership check
before every PATCH and DELETE — each attack of the security review tried against the pure decision."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelarts_operator.modelarts.models import Pool
from modelarts_operator.reconcile import ownership
from modelarts_operator.reconcile.binding import (
    Binding,
    BindingRefused,
    CredentialsKind,
    CredentialsRef,
    OperatorDefaults,
    resolve,
)
from modelarts_operator.reconcile.endpoints import DEFAULT_ALLOWED_ENDPOINTS, EndpointPolicy, EndpointRefused
from modelarts_operator.reconcile.view import DisplayNameClaim, PoolObject
from modelarts_operator.resource.project import Adoption, ModelArtsProjectSpec
from modelarts_operator.resource.spec import ModelArtsPoolSpec
from modelarts_operator.resource.status import ModelArtsPoolStatus

POOL = {"type": "Logical", "scope": ["Train"], "resources": [{"flavor": "f", "count": 1}]}
ENDPOINTS = EndpointPolicy(DEFAULT_ALLOWED_ENDPOINTS)
DEFAULTS = OperatorDefaults(
    project_id="platform-project",
    region="cn-north-4",
    endpoint=None,
    has_credentials=True,
    default_credentials_namespaces=("platform-*",),
    default_adoption=Adoption.FORBIDDEN,
    tenant_secrets=False,
)


def project(selector: dict[str, Any] | None = None, **spec: Any) -> ModelArtsProjectSpec:
    return ModelArtsProjectSpec.model_validate(
        {
            "projectId": "team-a-project",
            "region": "cn-north-4",
            "credentialsSecretRef": {"namespace": "modelarts-system", "name": "team-a"},
            "namespaceSelector": selector if selector is not None else {"matchLabels": {"team": "a"}},
            **spec,
        }
    )


def bind(
    spec: dict[str, Any],
    namespace: str = "team-a",
    labels: dict[str, str] | None = None,
    projects: dict[str, ModelArtsProjectSpec] | None = None,
    defaults: OperatorDefaults = DEFAULTS,
) -> Binding:
    return resolve(
        ModelArtsPoolSpec.model_validate({**POOL, **spec}),
        namespace,
        {"team": "a"} if labels is None else labels,
        {"team-a": project()} if projects is None else projects,
        defaults,
        ENDPOINTS,
    )


def refused(**kwargs: Any) -> BindingRefused:
    with pytest.raises(BindingRefused) as caught:
        bind(**kwargs)
    return caught.value


# --- binding ------------------------------------------------------------------------------------------


def test_the_project_selecting_the_namespace_serves_it() -> None:
    binding = bind({})
    assert (binding.project, binding.project_id) == ("team-a", "team-a-project")
    assert binding.endpoint == "https://modelarts.cn-north-4.myhuaweicloud.com"
    assert binding.credentials == CredentialsRef(CredentialsKind.PROJECT_SECRET, "modelarts-system", "team-a")
    assert binding.adoption == Adoption.FORBIDDEN


def test_a_namespace_nobody_serves_is_told_what_to_ask_for() -> None:
    error = refused(spec={}, namespace="team-b", labels={})
    assert error.reason == "NotBound"
    assert "select namespace team-b in a ModelArtsProject's spec.namespaceSelector" in str(error)


def test_projectref_must_exist_and_select_the_namespace() -> None:
    assert refused(spec={"projectRef": {"name": "nope"}}).reason == "ProjectNotFound"
    # Naming another team's project does not reach it.
    projects = {"team-a": project(), "team-b": project({"matchLabels": {"team": "b"}}, projectId="team-b-project")}
    error = refused(spec={"projectRef": {"name": "team-b"}}, projects=projects)
    assert error.reason == "NotBound" and "does not serve namespace team-a" in str(error)
    assert bind({"projectRef": {"name": "team-a"}}, projects=projects).project_id == "team-a-project"


def test_a_project_without_a_selector_serves_no_namespace_and_an_empty_one_all() -> None:
    no_selector = ModelArtsProjectSpec.model_validate(
        {"projectId": "p", "region": "cn-north-4", "credentialsSecretRef": {"namespace": "ops", "name": "s"}}
    )
    assert refused(spec={}, projects={"p": no_selector}).reason == "NotBound"
    assert bind({}, projects={"all": project({})}).project == "all"
    # The API server labels every namespace with its name: a project can select namespaces by name.
    by_name = project(
        {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a"]}]}
    )
    assert bind({}, labels={}, projects={"named": by_name}).project == "named"


def test_several_projects_selecting_a_namespace_must_be_chosen_between() -> None:
    projects = {"one": project(), "two": project()}
    error = refused(spec={}, projects=projects)
    assert error.reason == "InvalidSpec" and "one, two" in str(error)
    assert bind({"projectRef": {"name": "two"}}, projects=projects).project == "two"


@pytest.mark.parametrize(
    "override",
    [
        {"projectId": "victim-project"},
        {"region": "eu-west-101"},
        {"endpoint": "https://modelarts.eu-west-101.myhuaweicloud.eu"},
    ],
)
def test_a_bound_pool_cannot_move_itself_to_another_project_region_or_endpoint(override: dict[str, str]) -> None:
    error = refused(spec=override)
    assert error.reason == "InvalidSpec" and "cannot override" in str(error)


def test_stating_the_same_values_as_the_project_is_harmless() -> None:
    assert bind({"projectId": "team-a-project", "region": "cn-north-4"}).project == "team-a"


def test_tenant_secrets_only_when_the_platform_allows_them() -> None:
    spec = {"credentialsSecretRef": {"name": "mine"}, "projectId": "own-project", "region": "cn-north-4"}
    assert refused(spec=spec).reason == "InvalidSpec"
    allowing = OperatorDefaults(**{**DEFAULTS.__dict__, "tenant_secrets": True})
    binding = bind(spec, defaults=allowing)
    assert binding.credentials == CredentialsRef(CredentialsKind.TENANT_SECRET, "team-a", "mine")
    assert binding.project_id == "own-project" and binding.project is None


def test_the_operators_own_credentials_serve_only_the_listed_namespaces() -> None:
    assert refused(spec={}, namespace="team-x", labels={}, projects={}).reason == "NotBound"
    binding = bind({}, namespace="platform-tools", labels={}, projects={})
    assert binding.credentials.kind == CredentialsKind.OPERATOR_DEFAULTS
    assert binding.project_id == "platform-project"
    # ...and only the operator's own project: spec.projectId reaches nothing else with them.
    assert refused(spec={"projectId": "victim"}, namespace="platform-tools", labels={}, projects={}).reason == (
        "InvalidSpec"
    )


# --- endpoints ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:8080",  # cluster-internal / loopback
        "http://169.254.169.254/openstack/latest",  # instance metadata
        "http://modelarts.cn-north-4.myhuaweicloud.com",  # right host, clear text
        "https://evil.example.com",
        "https://modelarts.cn-north-4.myhuaweicloud.com.evil.example.com",
        "https://modelarts.cn-north-4.myhuaweicloud.com:8443",
    ],
)
def test_foreign_endpoints_are_refused_before_anything_is_sent(endpoint: str) -> None:
    allowing = OperatorDefaults(**{**DEFAULTS.__dict__, "tenant_secrets": True})
    error = refused(
        spec={"credentialsSecretRef": {"name": "mine"}, "projectId": "p", "endpoint": endpoint}, defaults=allowing
    )
    assert error.reason == "InvalidSpec"
    assert "not an allowed ModelArts endpoint" in str(error) or "may not carry" in str(error)


def test_userinfo_is_refused_by_the_schema_and_by_the_policy() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ModelArtsPoolSpec.model_validate({**POOL, "endpoint": "https://user:pw@modelarts.x.myhuaweicloud.com"})
    with pytest.raises(EndpointRefused, match="may not carry credentials"):
        ENDPOINTS.check("https://user:pw@modelarts.x.myhuaweicloud.com", origin="x")


def test_a_projects_endpoint_is_checked_too() -> None:
    error = refused(spec={}, projects={"team-a": project(endpoint="http://10.0.0.1:80")})
    assert error.reason == "InvalidSpec" and "ModelArtsProject team-a" in str(error)


def test_patterns_say_which_schemes_hosts_and_ports() -> None:
    local = EndpointPolicy(["http://127.0.0.1:*"])
    assert local.check("http://127.0.0.1:41597/", origin="x") == "http://127.0.0.1:41597"
    with pytest.raises(EndpointRefused):
        local.check("https://127.0.0.1:41597", origin="x")
    public = EndpointPolicy(DEFAULT_ALLOWED_ENDPOINTS)
    assert public.check("https://modelarts.ap-southeast-3.myhuaweicloud.com", origin="x")
    with pytest.raises(EndpointRefused):
        public.check("https://modelarts.a.b.myhuaweicloud.com", origin="x")  # * is one DNS label
    with pytest.raises(ValueError, match="not an endpoint pattern"):
        EndpointPolicy(["modelarts.*.com"])


# --- ownership --------------------------------------------------------------------------------------------

CREATED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


class Claims:
    def __init__(self, owners: dict[str, set[str]] | None = None) -> None:
        self.owners = owners or {}

    def pool_owners(self, pool_name: str) -> set[str]:
        return self.owners.get(pool_name, set())

    def display_name_owners(self, project_id: str, display_name: str) -> list[DisplayNameClaim]:
        return []


def obj(spec: dict[str, Any] | None = None, annotations: dict[str, str] | None = None) -> PoolObject:
    return PoolObject(
        namespace="team-b",
        name="innocent",
        uid="u",
        generation=1,
        spec=ModelArtsPoolSpec.model_validate({**POOL, **(spec or {})}),
        status=ModelArtsPoolStatus(pool_name="victim-pool"),
        annotations=annotations or {},
        creation_timestamp=CREATED,
    )


def cloud_pool(display: str, created: datetime, name: str = "victim-pool") -> Pool:
    return Pool.model_validate(
        {
            "metadata": {
                "name": name,
                "labels": {"os.modelarts/name": display},
                "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "spec": {"type": "Logical"},
        }
    )


BOUND = Binding(
    endpoint="https://e",
    project_id="p",
    credentials=CredentialsRef(CredentialsKind.PROJECT_SECRET),
    adoption=Adoption.FULL,
    project="team-b",
)


def test_a_forged_status_pool_name_cannot_delete_an_older_pool() -> None:
    victim = cloud_pool("innocent", CREATED - timedelta(days=30))
    assert "was not created for this object" in (
        ownership.refusal(obj(), victim, Claims(), BOUND, action="delete") or ""
    )


def test_a_forged_status_pool_name_cannot_delete_a_pool_with_another_display_name() -> None:
    victim = cloud_pool("team-a-prod", CREATED + timedelta(minutes=5))
    assert ownership.refusal(obj(), victim, Claims(), BOUND, action="delete") is not None


def test_a_pool_another_object_manages_is_never_touched() -> None:
    mine = cloud_pool("innocent", CREATED + timedelta(seconds=5))
    message = ownership.refusal(obj(), mine, Claims({"victim-pool": {"team-a/prod"}}), BOUND, action="update")
    assert message is not None and "team-a/prod" in message


def test_the_objects_own_pool_may_be_changed_and_deleted() -> None:
    mine = cloud_pool("innocent", CREATED + timedelta(seconds=5))
    assert ownership.refusal(obj(), mine, Claims({"victim-pool": {"team-b/innocent"}}), BOUND, action="delete") is None
    # The cloud's clock may run a little behind the API server's.
    assert (
        ownership.refusal(
            obj(), cloud_pool("innocent", CREATED - timedelta(seconds=60)), Claims(), BOUND, action="delete"
        )
        is None
    )


def test_adopted_pools_need_full_policy_and_a_project_that_allows_it() -> None:
    adopted = obj({"poolName": "victim-pool", "managementPolicy": "Full"})
    old = cloud_pool("team-a-prod", CREATED - timedelta(days=30))
    assert ownership.refusal(adopted, old, Claims(), BOUND, action="delete") is None
    observe_only = Binding(**{**BOUND.__dict__, "adoption": Adoption.OBSERVE_ONLY})
    assert "observed only" in (ownership.refusal(adopted, old, Claims(), observe_only, action="delete") or "")
    watching = obj({"poolName": "victim-pool", "managementPolicy": "ObserveOnly"})
    assert ownership.refusal(watching, old, Claims(), BOUND, action="update") is not None


def test_the_create_intent_comes_from_status_and_is_never_earlier_than_the_object() -> None:
    # An annotation a tenant writes means nothing (the intent used to live there).
    assert (
        obj(annotations={"modelarts.operator.dev/create-requested-at": "2000-01-01T00:00:00Z"}).create_requested_at
        is None
    )
    forged = replace(obj(), status=ModelArtsPoolStatus(create_requested_at="2000-01-01T00:00:00Z"))
    assert forged.create_requested_at == CREATED, "even a forged status is floored at the object's creation"
    later = replace(obj(), status=ModelArtsPoolStatus(create_requested_at="2026-11-29T12:05:00Z"))
    assert later.create_requested_at == CREATED + timedelta(minutes=5)
    assert obj().create_requested_at is None
