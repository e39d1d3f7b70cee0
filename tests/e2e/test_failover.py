"""High availability end to end: two operator processes with leader election, the real API server, the emulator.

Each replica has its own identity in the Lease, its own client certificate (so the API server's audit log says who
wrote what) and its own ModelArts access key (so the emulator's request log says who called). Deletions are held
in the cloud with the emulator's ``stall`` mode while a failure happens, then released: "mid-deletion" is a state
the test controls, not a race it hopes to win. Every wait is on a condition with a timeout; the takeover times
are measured and printed (docs/high-availability.md), not asserted beyond the safety bounds of the election.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube import Kubectl, wait_for
from netproxy import PartitionableProxy

from devcluster import DevCluster
from modelarts_operator.controller.leader import LEASE_NAME, ElectionTiming
from stack import EmulatorProcess, OperatorProcess

FLAVOR = "modelarts.vm.cpu.8ud"
DISPLAY_LABEL = "os.modelarts/name"
TIMING = ElectionTiming()  # what the operator runs with: 15 s lease, 10 s renew deadline, 2 s retry
OUTAGE_SECONDS = 30.0
EXIT_LEADERSHIP_LOST = 3
# The keys the emulator accepts, one per replica: its request log tells the replicas apart.
KEYS = {
    "operator-a": ("HAREPLICAAKEY0000001", "ReplicaASecretKeyForTheFailoverTests0001"),
    "operator-b": ("HAREPLICABKEY0000002", "ReplicaBSecretKeyForTheFailoverTests0002"),
}


def wall(value: str) -> float:
    """An RFC 3339 / ISO 8601 timestamp (API server, emulator) as seconds since the epoch."""
    return datetime.fromisoformat(value).timestamp()


# --- the replicas ------------------------------------------------------------------------------------------


@dataclass
class Replica:
    """One operator process, watched like a kubelet watches a container: every exit is recorded with its time
    and code, and with ``restart`` the process is started again (restartPolicy Always)."""

    name: str
    access_key: str
    operator: OperatorProcess
    restart: bool = False
    exits: list[tuple[float, int]] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _watcher: threading.Thread | None = None
    error: BaseException | None = None

    def start(self) -> Replica:
        self.operator.start()
        self._watcher = threading.Thread(target=self._watch, name=f"kubelet-{self.name}", daemon=True)
        self._watcher.start()
        return self

    def _watch(self) -> None:
        try:
            while True:
                process = self.operator.process
                assert process is not None
                code = process.wait()
                if self._stopping.is_set():
                    return
                self.exits.append((time.time(), code))
                if not self.restart:
                    return
                self.operator.start()
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.error = exc

    def running(self) -> bool:
        return self.operator.process is not None and self.operator.process.poll() is None

    def signal(self, signum: signal.Signals) -> float:
        assert self.operator.process is not None
        at = time.time()
        self.operator.process.send_signal(signum)
        return at

    def stop(self) -> None:
        self._stopping.set()
        self.operator.stop()
        if self._watcher is not None:
            self._watcher.join(timeout=30)

    def log(self) -> str:
        return self.operator.log.read_text(errors="replace") if self.operator.log.exists() else ""


@dataclass
class Cluster:
    """What the tests drive: the API server, kubectl, the emulator, the namespace the replicas serve."""

    controlplane: DevCluster
    kubectl: Kubectl
    emulator: EmulatorProcess
    namespace: str
    workdir: Path
    replicas: dict[str, Replica] = field(default_factory=dict)

    def replica(self, name: str, *, server: str | None = None, restart: bool = False, election: bool = True) -> Replica:
        """Start ``name`` (``operator-a``/``operator-b``) with leader election on (unless ``election`` is off);
        ``server`` overrides the API server URL in its kubeconfig (a proxy in front of it)."""
        kubeconfig = self.controlplane.user_kubeconfig(name)
        if server is not None:
            config = yaml.safe_load(kubeconfig.read_text())
            config["clusters"][0]["cluster"]["server"] = server
            kubeconfig = self.workdir / f"kubeconfig-{name}-via-{server.rsplit(':', 1)[1]}"
            kubeconfig.write_text(yaml.safe_dump(config))
            kubeconfig.chmod(0o600)
        access_key, secret_key = KEYS[name]
        workdir = self.workdir / name
        workdir.mkdir(exist_ok=True)
        operator = OperatorProcess.configure(
            workdir, kubeconfig, self.emulator, base_env=self.controlplane.env(),
            leader_election=str(election).lower(), leader_election_namespace=self.namespace,
            leader_election_identity=name,
            namespaces=self.namespace, default_credentials_namespaces=self.namespace,
            access_key=access_key, secret_key=secret_key,
            transition_poll_seconds="0.5", stable_poll_seconds="2", max_backoff_seconds="3",
            deletion_stall_seconds="600",
        )  # fmt: skip
        replica = Replica(name, access_key, operator, restart=restart)
        self.replicas[name] = replica
        return replica.start()

    def leader_then_standby(self) -> tuple[Replica, Replica]:
        """operator-a leading, then operator-b started and seen waiting as a standby."""
        leader = self.replica("operator-a")
        wait_for(lambda: self.holder() == "operator-a", timeout=60, what="operator-a to lead")
        standby = self.replica("operator-b")
        wait_for(lambda: "standby: the Lease" in standby.log(), timeout=60, what="operator-b waiting as standby")
        return leader, standby

    # --- the Lease ---------------------------------------------------------------------------------------

    def lease(self) -> dict[str, Any] | None:
        found = self.kubectl("get", "lease", LEASE_NAME, "-n", self.namespace, "-o", "json", check=False)
        return json.loads(found.stdout) if found.returncode == 0 else None

    def holder(self) -> str | None:
        lease = self.lease()
        return None if lease is None else str(lease["spec"].get("holderIdentity") or "")

    # --- pools -------------------------------------------------------------------------------------------

    def apply(self, *names: str, count: int = 1) -> None:
        self.kubectl.apply(*(pool_manifest(name, self.namespace, count) for name in names))

    def get(self, name: str) -> dict[str, Any] | None:
        found = self.kubectl("get", "mapool", name, "-n", self.namespace, "-o", "json", check=False)
        return json.loads(found.stdout) if found.returncode == 0 else None

    def wait_running(self, name: str, timeout: float = 60) -> str:
        def running() -> str | None:
            status = (self.get(name) or {}).get("status") or {}
            nodes = status.get("nodes") or {}
            settled = status.get("phase") == "Running" and nodes.get("available") and not nodes.get("creating")
            return str(status["poolName"]) if settled else None

        return wait_for(running, timeout=timeout, what=f"{name} Running")

    def wait_gone(self, name: str, timeout: float = 90) -> None:
        wait_for(lambda: self.get(name) is None, timeout=timeout, what=f"the object {name} gone")

    def delete(self, *names: str) -> None:
        self.kubectl("delete", "mapool", *names, "-n", self.namespace, "--wait=false")

    # --- who did what ------------------------------------------------------------------------------------

    def calls(self, replica: Replica | None = None) -> list[dict[str, Any]]:
        """ModelArts requests as the emulator recorded them (by ``replica``'s access key)."""
        recorded = self.emulator.control.requests()
        return [r for r in recorded if replica is None or r["access_key"] == replica.access_key]

    def writes(self, replica: Replica, *, leases: bool = False) -> list[dict[str, Any]]:
        """Writes the API server audited for ``replica``'s user, in this namespace; Lease writes only with
        ``leases``."""
        return [e for e in self.controlplane.audit_events()
                if (e.get("user") or {}).get("username") == replica.name
                and (e.get("objectRef") or {}).get("namespace") == self.namespace
                and ((e.get("objectRef") or {}).get("resource") == "leases") == leases]  # fmt: skip

    def lease_renewals(self, replica: Replica) -> list[float]:
        """When the API server received each successful Lease write of ``replica`` (wall clock): no other
        replica can have seen that version of the Lease earlier, so its lease runs from no earlier than this."""
        return [
            wall(str(e["requestReceivedTimestamp"]))
            for e in self.writes(replica, leases=True)
            if (e.get("responseStatus") or {}).get("code") in (200, 201)
        ]


def pool_manifest(name: str, namespace: str, count: int) -> dict[str, Any]:
    """A pool on the operator's own credentials (no Secret): each replica calls with its own access key."""
    return {
        "apiVersion": "modelarts.operator.dev/v1alpha1",
        "kind": "ModelArtsPool",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "Logical", "scope": ["Train"], "resources": [{"flavor": FLAVOR, "count": count}]},
    }


def posts(calls: list[dict[str, Any]], name: str) -> int:
    """Successful creations of the pool displayed as ``name``."""
    return sum(
        1
        for r in calls
        if r["operation"] == "create"
        and r["status"] == 200
        and ((r.get("body") or {}).get("metadata") or {}).get("labels", {}).get(DISPLAY_LABEL) == name
    )


def deletes(calls: list[dict[str, Any]], pool: str) -> int:
    return sum(1 for r in calls if r["operation"] == "delete" and r["pool_name"] == pool)


class LeaseWatch:
    """``kubectl get lease --watch``: every version of the Lease as it happens, with the time it was seen."""

    def __init__(self, kubectl: Kubectl, namespace: str) -> None:
        # "|" between fields: kubectl's printer turns tabs into aligned spaces.
        template = '{.metadata.resourceVersion}{"|"}{.spec.holderIdentity}{"|"}{.spec.renewTime}{"\\n"}'
        self.seen: list[tuple[float, str, str]] = []  # (seen at, holder, renewTime)
        self._process = subprocess.Popen(
            [str(kubectl.binary), f"--kubeconfig={kubectl.kubeconfig}", "get", "lease", LEASE_NAME, "-n", namespace,
             "--watch", "-o", f"jsonpath={template}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dict(kubectl.env),
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            _, holder, renewed = [*line.rstrip("\n").split("|"), "", ""][:3]
            self.seen.append((time.time(), holder, renewed))

    def first(self, predicate: Callable[[str], bool], after: float, timeout: float, what: str) -> float:
        """When a version whose holder satisfies ``predicate`` was first seen after ``after``."""
        return wait_for(
            lambda: next((at for at, holder, _ in list(self.seen) if at >= after and predicate(holder)), None),
            timeout=timeout,
            what=what,
        )

    def holders(self) -> list[str]:
        """The sequence of holders, repeats folded."""
        folded: list[str] = []
        for _, holder, _ in self.seen:
            if not folded or folded[-1] != holder:
                folded.append(holder)
        return folded

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


@pytest.fixture
def cluster(tmp_path: Path, controlplane: DevCluster, kubectl: Kubectl, namespace: str, crd: None) -> Iterator[Cluster]:
    extra: list[str] = []
    for access_key, secret_key in KEYS.values():
        extra += ["--access-key", access_key, "--secret-key", secret_key]
    emulator = EmulatorProcess.start(tmp_path, create_seconds=2, delete_seconds=4, scale_seconds=2, extra_args=extra)
    setup = Cluster(controlplane, kubectl, emulator, namespace, tmp_path)
    try:
        yield setup
    finally:
        for replica in setup.replicas.values():
            replica.stop()
        for replica in setup.replicas.values():
            print(f"----- {replica.name} (exits: {replica.exits})\n{replica.log()[-3000:]}")
        emulator.stop()


def assert_standby_idle(cluster: Cluster, standby: Replica, leader: Replica, until: float) -> None:
    """The standby called no ModelArts API and wrote nothing (not even the Lease) before ``until``; the leader
    did both — so these logs would show the standby's calls and writes if there were any."""
    assert [r for r in cluster.calls(standby) if wall(r["time"]) < until] == []
    assert [
        e
        for e in cluster.writes(standby) + cluster.writes(standby, leases=True)
        if wall(str(e["requestReceivedTimestamp"])) < until
    ] == []
    assert cluster.calls(leader) and cluster.writes(leader), "the leader's calls and writes must be visible"
    assert "modelarts_requests_total{" not in standby.operator.metrics(), "the standby's own count of calls"


def stall_deletion(cluster: Cluster, name: str, leader: Replica) -> str:
    """Delete the object ``name`` while its pool is held in Deleting; returns the pool's name once the leader's
    DELETE has been answered."""
    pool = cluster.wait_running(name)
    cluster.emulator.control.set_deletion(pool, "stall")
    cluster.delete(name)
    wait_for(lambda: deletes(cluster.calls(leader), pool), timeout=30, what=f"{leader.name}'s DELETE of {pool}")
    return pool


# --- the tests ---------------------------------------------------------------------------------------------


def test_standby_touches_nothing_while_the_leader_works(cluster: Cluster) -> None:
    leader, standby = cluster.leader_then_standby()
    cluster.apply("busy-pool")
    cluster.wait_running("busy-pool")
    cluster.apply("busy-pool", count=2)
    wait_for(
        lambda: ((cluster.get("busy-pool") or {}).get("status") or {}).get("nodes", {}).get("available") == 2,
        timeout=60,
        what="busy-pool scaled to 2",
    )
    cluster.delete("busy-pool")
    cluster.wait_gone("busy-pool")
    assert cluster.emulator.control.pools_named("busy-pool") == []
    assert_standby_idle(cluster, standby, leader, until=time.time())
    assert "modelarts_requests_total{" in leader.operator.metrics(), "the metric the standby is checked with"
    assert standby.running() and cluster.holder() == "operator-a"


def test_sigkill_of_the_leader_mid_deletion(cluster: Cluster) -> None:
    leader, standby = cluster.leader_then_standby()
    watch = LeaseWatch(cluster.kubectl, cluster.namespace)
    try:
        cluster.apply("doomed-pool", "kept-pool")
        kept = cluster.wait_running("kept-pool")
        doomed = stall_deletion(cluster, "doomed-pool", leader)
        cluster.apply("newborn-pool")  # killed right after its POST: the standby must not create it again
        wait_for(lambda: posts(cluster.calls(leader), "newborn-pool"), timeout=30, what="the POST of newborn-pool")
        killed = leader.signal(signal.SIGKILL)
        assert_standby_idle(cluster, standby, leader, until=killed)

        took_over = watch.first(lambda h: h == "operator-b", killed, timeout=60, what="operator-b holding the Lease")
        first_call = wait_for(
            lambda: min((wall(r["time"]) for r in cluster.calls(standby)), default=None),
            timeout=30,
            what="operator-b's first ModelArts call",
        )
        first_write = wait_for(
            lambda: min((wall(str(e["requestReceivedTimestamp"])) for e in cluster.writes(standby)), default=None),
            timeout=30,
            what="operator-b's first object write",
        )
        cluster.emulator.control.set_deletion(doomed, "normal")
        cluster.wait_gone("doomed-pool")
        newborn = cluster.wait_running("newborn-pool")
        assert cluster.wait_running("kept-pool") == kept
    finally:
        watch.close()

    cluster.delete("kept-pool", "newborn-pool")
    cluster.wait_gone("kept-pool")
    cluster.wait_gone("newborn-pool")
    calls = cluster.calls()
    assert all(wall(r["time"]) < killed for r in cluster.calls(leader)), "a SIGKILLed process cannot call"
    assert {name: posts(calls, name) for name in ("doomed-pool", "kept-pool", "newborn-pool")} == {
        "doomed-pool": 1,
        "kept-pool": 1,
        "newborn-pool": 1,
    }, "exactly one POST per pool"
    assert deletes(cluster.calls(leader), doomed) == 1 and deletes(calls, doomed) <= 2, "at most one extra DELETE"
    assert deletes(calls, kept) == 1 and deletes(calls, newborn) == 1
    assert cluster.emulator.control.pools() == [], "no pool left behind"
    assert watch.holders()[:2] == ["operator-a", "operator-b"]
    renewed = max(t for t in cluster.lease_renewals(leader) if t <= killed)
    print(
        f"\nSIGKILL (last renewal {killed - renewed:.1f}s before) -> Lease held by the standby: "
        f"{took_over - killed:.1f}s; -> its first ModelArts call: {first_call - killed:.1f}s; -> its first object "
        f"write: {first_write - killed:.1f}s (lease {TIMING.lease_duration:g}s, retry {TIMING.retry_period:g}s)"
    )
    assert took_over >= renewed + TIMING.lease_duration, "the standby waited for the lease to expire"


def test_sigterm_hands_the_lease_over_at_once(cluster: Cluster) -> None:
    leader, standby = cluster.leader_then_standby()
    watch = LeaseWatch(cluster.kubectl, cluster.namespace)
    try:
        cluster.apply("handed-pool")
        pool = stall_deletion(cluster, "handed-pool", leader)
        terminated = leader.signal(signal.SIGTERM)
        exited = wait_for(lambda: leader.exits[0] if leader.exits else None, timeout=30, what="operator-a to exit")
        released = watch.first(lambda h: h == "", terminated, timeout=30, what="the Lease released")
        took_over = watch.first(lambda h: h == "operator-b", terminated, timeout=30, what="operator-b leading")
        first_call = wait_for(
            lambda: min((wall(r["time"]) for r in cluster.calls(standby)), default=None),
            timeout=30,
            what="operator-b's first ModelArts call",
        )
        cluster.emulator.control.set_deletion(pool, "normal")
        cluster.wait_gone("handed-pool")
    finally:
        watch.close()
    print(
        f"\nSIGTERM -> operator-a exited: {exited[0] - terminated:.1f}s; -> Lease released: "
        f"{released - terminated:.1f}s; -> held by the standby: {took_over - terminated:.1f}s; "
        f"-> its first ModelArts call: {first_call - terminated:.1f}s"
    )
    assert exited[1] == 0, "a clean shutdown"
    assert watch.holders()[:3] == ["operator-a", "", "operator-b"], watch.holders()
    assert took_over - terminated < TIMING.lease_duration, "handed over, not waited out"
    calls = cluster.calls()
    assert posts(calls, "handed-pool") == 1 and deletes(calls, pool) <= 2
    assert all(wall(r["time"]) <= exited[0] for r in cluster.calls(leader))
    assert cluster.emulator.control.pools() == []


def test_a_partitioned_leader_stops_before_its_lease_expires(cluster: Cluster) -> None:
    """operator-a reaches the API server through a proxy that is then cut (requests hang, as in a partition);
    operator-b still reaches it. operator-a must stop acting within the renew deadline, before operator-b may
    take over; operator-b takes over once the lease has expired."""
    api_port = cluster.controlplane.ports[0]
    with PartitionableProxy(api_port) as proxy:
        leader = cluster.replica("operator-a", server=f"https://127.0.0.1:{proxy.port}")
        wait_for(lambda: cluster.holder() == "operator-a", timeout=60, what="operator-a to lead")
        standby = cluster.replica("operator-b")
        wait_for(lambda: "standby: the Lease" in standby.log(), timeout=60, what="operator-b waiting as standby")
        watch = LeaseWatch(cluster.kubectl, cluster.namespace)
        try:
            cluster.apply("partitioned-pool")
            pool = stall_deletion(cluster, "partitioned-pool", leader)  # the leader keeps polling ModelArts
            cut = time.time()
            proxy.cut()
            exited = wait_for(lambda: leader.exits[0] if leader.exits else None, timeout=60, what="operator-a to exit")
            took_over = watch.first(lambda h: h == "operator-b", cut, timeout=60, what="operator-b leading")
            first_call = wait_for(
                lambda: min((wall(r["time"]) for r in cluster.calls(standby)), default=None),
                timeout=30,
                what="operator-b's first ModelArts call",
            )
            cluster.emulator.control.set_deletion(pool, "normal")
            cluster.wait_gone("partitioned-pool")
        finally:
            watch.close()
    renewed = max(t for t in cluster.lease_renewals(leader) if t <= cut)
    last_call = max(wall(r["time"]) for r in cluster.calls(leader))
    print(
        f"\npartition: operator-a last renewed {cut - renewed:.1f}s before the cut, exited "
        f"{exited[0] - renewed:.1f}s after that renewal (renew deadline {TIMING.renew_deadline:g}s), last "
        f"called ModelArts {last_call - renewed:.1f}s after it; operator-b led {took_over - renewed:.1f}s "
        f"after it (lease {TIMING.lease_duration:g}s) and called {first_call - renewed:.1f}s after it"
    )
    assert exited[1] == EXIT_LEADERSHIP_LOST
    assert exited[0] - renewed <= TIMING.renew_deadline + TIMING.retry_period, "stopped within the renew deadline"
    assert exited[0] < renewed + TIMING.lease_duration, "stopped before the lease could expire"
    assert last_call <= exited[0] and last_call < first_call, "never two replicas calling ModelArts"
    assert took_over >= renewed + TIMING.lease_duration, "the standby waited for the lease to expire"
    assert standby.exits == []
    calls = cluster.calls()
    assert posts(calls, "partitioned-pool") == 1 and deletes(calls, pool) <= 2
    assert cluster.emulator.control.pools() == []


def test_apiserver_down_for_30s_mid_deletion(cluster: Cluster) -> None:
    """Both replicas lose the API server (stopped; connections refused) while a deletion is under way. The
    leader exits within the renew deadline (and is restarted, as Kubernetes would); the standby waits it out;
    once the API server is back a leader finishes the deletion: no object stranded, no pool leaked."""
    leader = cluster.replica("operator-a", restart=True)
    wait_for(lambda: cluster.holder() == "operator-a", timeout=60, what="operator-a to lead")
    standby = cluster.replica("operator-b", restart=True)
    wait_for(lambda: "standby: the Lease" in standby.log(), timeout=60, what="operator-b waiting as standby")
    cluster.apply("outage-pool", "steady-pool")
    steady = cluster.wait_running("steady-pool")
    pool = stall_deletion(cluster, "outage-pool", leader)

    stopped = time.time()
    cluster.controlplane.stop_apiserver()
    try:
        exited = wait_for(lambda: leader.exits[0] if leader.exits else None, timeout=60, what="operator-a to exit")
        # The pool finishes draining in the cloud while nobody can see Kubernetes.
        cluster.emulator.control.set_deletion(pool, "normal")
        wait_for(
            lambda: cluster.emulator.control.pools_named("outage-pool") == [],
            timeout=30,
            what="the pool gone in the cloud",
        )
        wait_for(
            lambda: time.time() - stopped >= OUTAGE_SECONDS,
            timeout=OUTAGE_SECONDS + 5,
            what="the end of the outage",
            interval=0.5,
        )
    finally:
        cluster.controlplane.start_apiserver()
    restarted = time.time()
    cluster.wait_gone("outage-pool", timeout=120)
    recovered = time.time()
    assert cluster.wait_running("steady-pool") == steady
    cluster.apply("after-pool")
    cluster.wait_running("after-pool")
    cluster.delete("steady-pool", "after-pool")
    cluster.wait_gone("steady-pool")
    cluster.wait_gone("after-pool")

    renewed = max(t for t in cluster.lease_renewals(leader) if t <= stopped)
    last_call = max(wall(r["time"]) for r in cluster.calls(leader) if wall(r["time"]) < restarted)
    print(
        f"\nAPI server down {restarted - stopped:.0f}s: operator-a exited {exited[0] - renewed:.1f}s after its "
        f"last renewal (renew deadline {TIMING.renew_deadline:g}s), last called ModelArts "
        f"{last_call - renewed:.1f}s after it; the object was released {recovered - restarted:.1f}s after the "
        f"API server came back; now led by {cluster.holder()}"
    )
    assert exited[1] == EXIT_LEADERSHIP_LOST
    assert exited[0] - renewed <= TIMING.renew_deadline + TIMING.retry_period, "stopped within the renew deadline"
    assert last_call <= exited[0], "no ModelArts call after it stopped"
    assert [code for _, code in leader.exits] == [EXIT_LEADERSHIP_LOST], "one exit, no crash loop"
    assert standby.exits == [], "a standby rides out an API server outage"
    assert leader.error is None and standby.error is None
    calls = cluster.calls()
    assert {n: posts(calls, n) for n in ("outage-pool", "steady-pool", "after-pool")} == {
        "outage-pool": 1,
        "steady-pool": 1,
        "after-pool": 1,
    }
    assert deletes(calls, pool) <= 2
    assert cluster.emulator.control.pools() == [], "no pool leaked"


def test_a_single_operator_without_election_rides_out_the_outage(cluster: Cluster) -> None:
    """One replica without leader election (``make demo``, a single-replica install) has no lease to lose: it
    stays up through the outage and picks up where it was once the API server is back."""
    alone = cluster.replica("operator-a", election=False)
    cluster.apply("lonely-pool")
    pool = stall_deletion(cluster, "lonely-pool", alone)
    stopped = time.time()
    cluster.controlplane.stop_apiserver()
    try:
        cluster.emulator.control.set_deletion(pool, "normal")
        wait_for(
            lambda: cluster.emulator.control.pools_named("lonely-pool") == [],
            timeout=30,
            what="the pool gone in the cloud",
        )
        wait_for(
            lambda: time.time() - stopped >= OUTAGE_SECONDS,
            timeout=OUTAGE_SECONDS + 5,
            what="the end of the outage",
            interval=0.5,
        )
    finally:
        cluster.controlplane.start_apiserver()
    restarted = time.time()
    cluster.wait_gone("lonely-pool", timeout=120)
    recovered = time.time()
    cluster.apply("later-pool")  # a new object: seen once kopf's watch is back (it reconnects with backoff)
    applied = time.time()
    cluster.wait_running("later-pool")
    noticed = min(wall(r["time"]) for r in cluster.calls(alone) if posts([r], "later-pool"))
    cluster.delete("later-pool")
    cluster.wait_gone("later-pool")
    print(
        f"\nAPI server down {restarted - stopped:.0f}s, single replica: the object was released "
        f"{recovered - restarted:.1f}s after the API server came back; a new object created "
        f"{applied - restarted:.1f}s after it was posted to ModelArts {noticed - applied:.1f}s later"
    )
    assert alone.exits == [] and alone.running(), "no lease, no reason to exit"
    calls = cluster.calls()
    assert posts(calls, "lonely-pool") == 1 and deletes(calls, pool) <= 2 and posts(calls, "later-pool") == 1
    assert cluster.emulator.control.pools() == [], "no pool leaked"
