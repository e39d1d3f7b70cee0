"""The control-plane harness's pure parts: versions, credentials, kubeconfig, tmpfs sweeping (no binaries needed)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import devcluster


def test_versions_file_is_shared_with_build_sh() -> None:
    versions = devcluster.read_versions()
    assert set(versions) == {"KUBERNETES_VERSION", "ETCD_VERSION", "HELM_VERSION"}
    assert all(v.startswith("v") for v in versions.values())
    # build.sh sources the same file: bash must see the same values.
    script = f"source {devcluster.VERSIONS_FILE} && echo $KUBERNETES_VERSION $ETCD_VERSION $HELM_VERSION"
    shown = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert shown == [versions["KUBERNETES_VERSION"], versions["ETCD_VERSION"], versions["HELM_VERSION"]]


def test_cache_root_matches_build_sh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MODELARTS_OPERATOR_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert devcluster.cache_root() == tmp_path / "modelarts-operator"
    monkeypatch.setenv("MODELARTS_OPERATOR_CACHE", str(tmp_path / "elsewhere"))
    assert devcluster.cache_root() == tmp_path / "elsewhere"


def test_missing_binaries_name_the_make_target(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELARTS_OPERATOR_CACHE", str(tmp_path))
    with pytest.raises(devcluster.DevClusterError, match="make controlplane"):
        devcluster.Binaries.locate()


def test_credentials_chain_to_the_ca_with_the_right_identities(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    devcluster.generate_credentials(certs)

    def openssl(*args: str) -> str:
        return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout

    assert "OK" in openssl("verify", "-CAfile", str(certs / "ca.crt"), str(certs / "apiserver.crt"))
    assert "OK" in openssl("verify", "-CAfile", str(certs / "ca.crt"), str(certs / "admin.crt"))
    serving = openssl("x509", "-in", str(certs / "apiserver.crt"), "-noout", "-ext", "subjectAltName")
    assert "IP Address:127.0.0.1" in serving and "DNS:localhost" in serving
    admin = openssl("x509", "-in", str(certs / "admin.crt"), "-noout", "-subject")
    assert "O = system:masters" in admin
    assert (certs / "admin.key").stat().st_mode & 0o077 == 0, "private keys must not be group/world-readable"


def test_kubeconfig_points_at_the_generated_files(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    devcluster.write_kubeconfig(path, "https://127.0.0.1:6443", tmp_path / "certs")
    config = yaml.safe_load(path.read_text())
    assert config["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:6443",
        "certificate-authority": str(tmp_path / "certs" / "ca.crt"),
    }
    assert config["users"][0]["user"]["client-key"] == str(tmp_path / "certs" / "admin.key")
    assert path.stat().st_mode & 0o777 == 0o600


def test_sweep_removes_only_stale_unused_etcd_dirs(tmp_path: Path) -> None:
    stale = tmp_path / "devcluster-etcd-stale"
    in_use = tmp_path / "devcluster-etcd-inuse"
    fresh = tmp_path / "devcluster-etcd-fresh"
    other = tmp_path / "not-ours"
    for d in (stale, in_use, fresh, other):
        d.mkdir()
    old = time.time() - 3600
    for d in (stale, in_use, other):
        os.utime(d, (old, old))
    # A process naming the dir on its command line stands in for the etcd using it.
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(in_use)])
    try:
        # Until the child has exec'd, /proc shows the parent's command line: wait for the real one.
        cmdline = Path(f"/proc/{holder.pid}/cmdline")
        deadline = time.monotonic() + 10
        while str(in_use).encode() not in cmdline.read_bytes():
            assert time.monotonic() < deadline, "the holder process never started"
            time.sleep(0.01)
        devcluster._sweep_orphaned_data_dirs(tmp_path, min_age=300)
    finally:
        holder.kill()
        holder.wait()
    assert not stale.exists()
    assert in_use.exists() and fresh.exists() and other.exists()
