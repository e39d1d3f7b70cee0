"""``make bench``: the operator measured on a real control plane against the emulator; writes JSON results.

    .venv/bin/python bench/run.py [--quick] [--out bench/results/latest.json]

Starts etcd + kube-apiserver (tools/devcluster.py), then per emulator deletion time an emulator and an operator
(tools/stack.py) that watches only that group's namespaces. Tenancy as a platform sets it up: one ModelArtsProject
per group, its credentials Secret in one platform namespace, selecting the group's namespaces by label; pools
carry no credentials. The scenarios (``scenarios.py``): deletion at each emulator deletion time and size, a
minute-scale deletion (``--long-deletion``), and in the first group creation of ``--steady-pools`` pools by a fresh
process, a restart with them Running, and the steady state. Scenarios that would not fit in ``--budget-minutes``
are skipped and listed, with the reason, under ``skipped`` in the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tools")]

from emulog import EmulatorControl  # noqa: E402
from kubeapi import Kube, WriteLog  # noqa: E402
from runtime import operator_command  # noqa: E402
from scenarios import Stack, creation, deletion, restart, steady  # noqa: E402

from devcluster import Binaries, DevCluster  # noqa: E402
from stack import EmulatorProcess, OperatorProcess  # noqa: E402

CRDS = [
    ROOT / "crds" / "modelarts.operator.dev_modelartspools.yaml",
    ROOT / "crds" / "modelarts.operator.dev_modelartsprojects.yaml",
]
# Issue 12's table (bench/report.py judges the results against the same numbers).
TARGETS = {
    "steady_1000": {
        "calls_per_minute": 3,
        "status_writes_per_minute": 0,
        "cpu_seconds_per_minute": 1.0,
        "peak_rss_mb": 150,
    },
    "deletion_500": {
        "completion_lag_p95_seconds": "transition_poll_seconds + 1",
        "reaction_from_mark_p95_seconds": 2.0,
        "gets_per_pool": 1.5,
    },
    "deletion_1_120s": {
        "gets_per_pool": "<= Terraform's (30 s delay, then every 10 s: 10)",
        "completion_lag_p95_seconds": "transition_poll_seconds + 1",
    },
    "creation_1000": {"peak_rss_mb": 150},
    "restart_1000": {"settled_seconds": 15, "calls": 3},
    "calls_per_second": "never above the limiter's rate (burst + rate * window)",
}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    parser.add_argument("--quick", action="store_true", help="small sizes, for trying the runner out")
    parser.add_argument("--deletion-n", default="1,100,500", help="objects deleted at once (comma-separated)")
    parser.add_argument("--delete-seconds", default="10,120", help="emulator deletion times (comma-separated)")
    parser.add_argument(
        "--long-deletion", default="600:100", help="a minute-scale deletion as SECONDS:N (its own group); empty: none"
    )
    parser.add_argument("--steady-pools", type=int, default=1000)
    parser.add_argument("--steady-minutes", type=float, default=5.0)
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=90.0,
        help="skip deletion runs that would end after this (they are listed as skipped)",
    )
    parser.add_argument("--transition-poll-seconds", type=float, default=5.0)
    parser.add_argument("--stable-poll-seconds", type=float, default=60.0)
    parser.add_argument("--rate-limit", type=float, default=100.0)
    parser.add_argument("--rate-burst", type=int, default=100)
    parser.add_argument(
        "--timelines",
        type=Path,
        default=None,
        help="a directory: each deletion run writes its raw ModelArts calls and object writes there as JSON",
    )
    args = parser.parse_args()
    if args.quick:
        args.deletion_n, args.delete_seconds, args.steady_pools, args.steady_minutes = "1,20", "5", 50, 1.0
        args.long_deletion = "20:10"
    return args


def estimate_seconds(n: int, delete_seconds: float, rate: float) -> float:
    """A generous guess of one deletion run: create and settle, send n DELETEs, wait out the deletion."""
    return 60 + 3 * n / rate + delete_seconds + 2 * n / rate + 30


def main() -> int:
    args = parse()
    settings = {
        "transition_poll_seconds": args.transition_poll_seconds,
        "stable_poll_seconds": args.stable_poll_seconds,
        "rate_limit": args.rate_limit,
        "rate_burst": float(args.rate_burst),
    }
    operator_env = {key: f"{value:g}" for key, value in settings.items()}
    emulator_timings = {"create_seconds": 3.0, "scale_seconds": 3.0}
    began = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - began:7.1f}s] {message}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="modelarts-bench-"))
    binaries = Binaries.locate()
    results: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "operator_settings": {
            **settings,
            "request_timeout_seconds": 30.0,
            "deletion_stall_seconds": 600.0,
            "note": "operator defaults except the rate limit: 100/s with a burst of 100 (the "
            "default 10/s alone makes n=500 DELETEs take 50 s)",
        },
        "emulator": emulator_timings,
        "targets": TARGETS,
        "scenarios": {"deletion": [], "creation": None, "restart": None, "steady": None},
        "skipped": [],
    }
    groups = [(float(x), [int(n) for n in args.deletion_n.split(",") if n]) for x in args.delete_seconds.split(",")]
    if args.long_deletion:
        seconds, _, count = args.long_deletion.partition(":")
        groups.append((float(seconds), [int(count)]))
    command, runtime_env = operator_command()
    log(f"operator runtime: {command[0]} (requirements.lock only)")
    results["machine"]["operator_runtime"] = "a virtualenv of requirements.lock only, as in the image"
    log(f"control plane starting in {workdir}")
    cluster = DevCluster.start(workdir / "controlplane", binaries=binaries)
    writes: WriteLog | None = None
    try:
        kubectl = [str(binaries.kubectl), f"--kubeconfig={cluster.kubeconfig}"]
        for crd in CRDS:
            subprocess.run([*kubectl, "apply", "--server-side", "-f", str(crd)], check=True, capture_output=True)
        subprocess.run(
            [
                *kubectl,
                "wait",
                "--for=condition=Established",
                "crd/modelartspools.modelarts.operator.dev",
                "crd/modelartsprojects.modelarts.operator.dev",
                "--timeout=60s",
            ],
            check=True,
            capture_output=True,
        )
        kube = Kube(cluster.kubeconfig)
        writes = WriteLog(kube)
        writes.start()
        for group, (delete_seconds, sizes) in enumerate(groups):
            groupdir = workdir / f"group-{group}"
            groupdir.mkdir()
            emulator = EmulatorProcess.start(
                groupdir,
                delete_seconds=delete_seconds,
                create_seconds=emulator_timings["create_seconds"],
                scale_seconds=emulator_timings["scale_seconds"],
                extra_args=["--max-recorded-requests", "400000"],
            )
            project = f"bench-{group}"
            kube.project(
                project,
                group=str(group),
                project_id=emulator.project_id,
                endpoint=emulator.url,
                access_key=emulator.access_key,
                secret_key=emulator.secret_key,
                secret_namespace=f"bench-platform-{group}",
            )
            operator = OperatorProcess.configure(
                groupdir,
                cluster.kubeconfig,
                emulator,
                base_env={**cluster.env(), **runtime_env},
                command=command,
                namespaces=f"bench-{group}-*",
                **operator_env,
            )
            operator.start()
            stack = Stack(
                kube,
                writes,
                emulator,
                EmulatorControl(emulator.url),
                operator,
                settings,
                log,
                group=str(group),
                timelines=args.timelines,
                neighbours={
                    **{name: pid for name, pid in cluster.pids.items() if name in ("kube-apiserver", "etcd")},
                    "emulator": emulator.process.pid,
                },
            )
            try:
                for n in sizes:
                    elapsed = time.monotonic() - began
                    guess = estimate_seconds(n, delete_seconds, args.rate_limit)
                    if elapsed + guess > args.budget_minutes * 60:
                        reason = (
                            f"would end after the {args.budget_minutes:g} min budget ({elapsed / 60:.1f} min "
                            f"used, ~{guess / 60:.1f} min more)"
                        )
                        results["skipped"].append(
                            {"scenario": "deletion", "n": n, "delete_seconds": delete_seconds, "reason": reason}
                        )
                        log(f"skipped deletion n={n} delete_seconds={delete_seconds:g}: {reason}")
                        continue
                    results["scenarios"]["deletion"].append(
                        deletion(stack, f"bench-{group}-deletion-{n}", n, delete_seconds)
                    )
                if group == 0 and args.steady_pools:
                    namespace = f"bench-{group}-steady"
                    results["scenarios"]["creation"] = creation(stack, namespace, args.steady_pools)
                    results["scenarios"]["restart"] = restart(stack, namespace, args.steady_pools)
                    results["scenarios"]["steady"] = steady(stack, namespace, args.steady_pools, args.steady_minutes)
            finally:
                operator.stop()
                stack.control.close()
                emulator.stop()
                kube.delete_project(project)
                shutil.copy(operator.log, workdir / f"operator-{group}.log")
        results["watch_errors"] = writes.errors
        results["wall_minutes"] = round((time.monotonic() - began) / 60, 1)
    finally:
        if writes is not None:
            writes.stop()
        cluster.stop()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        log(f"wrote {args.out} (work directory with logs: {workdir})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
