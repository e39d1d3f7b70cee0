"""How the operator finds the API server and authenticates (kube.connection_info / KubeApi.from_environment).

Against a real HTTPS server on loopback with certificates from the devcluster harness (openssl): in a pod the
service account at KUBERNETES_SERVICE_HOST/PORT with a token that is re-read when the kubelet rotates it;
elsewhere a kubeconfig with client certificates, as files or inline ``*-data``.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from aiohttp import web

import devcluster
from modelarts_operator.controller import kube
from modelarts_operator.controller.kube import KubeApi

SECRET_PATH = "/api/v1/namespaces/ns/secrets/creds"


@dataclass
class ApiServer:
    url: str
    port: int
    certs: Path
    seen: list[tuple[str | None, str | None]] = field(default_factory=list)  # (Authorization, client cert CN)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("certs")
    devcluster.generate_credentials(path)  # CA, a 127.0.0.1 serving cert, an admin client cert
    return path


@pytest.fixture
async def api_server(certs: Path) -> AsyncIterator[ApiServer]:
    """Answers the one Secret read with a record of who asked; a client certificate is optional (as in k8s)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certs / "ca.crt"))
    context.load_cert_chain(certs / "apiserver.crt", certs / "apiserver.key")
    context.verify_mode = ssl.CERT_OPTIONAL
    server = ApiServer(url="", port=0, certs=certs)

    async def secret(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        subject = dict(item[0] for item in peer["subject"]) if peer else {}
        server.seen.append((request.headers.get("Authorization"), subject.get("commonName")))
        return web.json_response({"data": {"key": base64.b64encode(b"value").decode()}})

    app = web.Application()
    app.router.add_get(SECRET_PATH, secret)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    server.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"https://127.0.0.1:{server.port}"
    yield server
    await runner.cleanup()


@pytest.fixture
def no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Neither a pod nor a kubeconfig: a service-account dir that does not exist and an empty HOME."""
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    account = tmp_path / "serviceaccount"
    monkeypatch.setattr(kube, "SERVICE_ACCOUNT_DIR", account)
    return account


def in_pod(monkeypatch: pytest.MonkeyPatch, account: Path, server: ApiServer, token: str) -> None:
    account.mkdir(exist_ok=True)
    (account / "token").write_text(token + "\n")
    (account / "ca.crt").write_bytes((server.certs / "ca.crt").read_bytes())
    (account / "namespace").write_text("modelarts-system")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))


def write_kubeconfig(path: Path, server: ApiServer, *, inline: bool) -> None:
    certs = server.certs
    if inline:

        def data(name: str) -> str:
            return base64.b64encode((certs / name).read_bytes()).decode()

        cluster = {"server": server.url, "certificate-authority-data": data("ca.crt")}
        user = {"client-certificate-data": data("admin.crt"), "client-key-data": data("admin.key")}
    else:
        cluster = {"server": server.url, "certificate-authority": str(certs / "ca.crt")}
        user = {"client-certificate": str(certs / "admin.crt"), "client-key": str(certs / "admin.key")}
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dev",
        "clusters": [{"name": "dev", "cluster": cluster}], "users": [{"name": "admin", "user": user}],
        "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "admin", "namespace": "team-a"}}],
    }))  # fmt: skip


async def test_in_pod_uses_the_service_host_and_re_reads_a_rotated_token(
    monkeypatch: pytest.MonkeyPatch, no_environment: Path, api_server: ApiServer, tmp_path: Path
) -> None:
    in_pod(monkeypatch, no_environment, api_server, "first-token")
    # A kubeconfig is there too (a developer's laptop running the image): the pod's identity wins, as in client-go.
    write_kubeconfig(tmp_path / "kubeconfig", api_server, inline=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))

    info = kube.login()
    assert info.server == api_server.url and info.token == "first-token"
    assert info.default_namespace == "modelarts-system" and info.ca_path == str(no_environment / "ca.crt")

    api = KubeApi.from_environment()
    try:
        assert (await api.read_secret("ns", "creds")).data == {"key": b"value"}
        (no_environment / "token").write_text("rotated-token")  # what the kubelet does before the old one expires
        await api.read_secret("ns", "creds")
    finally:
        await api.aclose()
    assert api_server.seen == [("Bearer first-token", None), ("Bearer rotated-token", None)]
    assert kube.login().token == "rotated-token", "kopf's re-login after a 401 reads the new token too"


def test_in_pod_with_an_ipv6_service_host(monkeypatch: pytest.MonkeyPatch, no_environment: Path) -> None:
    no_environment.mkdir()
    (no_environment / "token").write_text("t")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    info = kube.connection_info()
    assert info.server == "https://[fd00::1]:443" and info.ca_path is None and info.default_namespace is None


@pytest.mark.parametrize("inline", [False, True], ids=["cert-files", "inline-data"])
async def test_kubeconfig_with_a_client_certificate(
    monkeypatch: pytest.MonkeyPatch, no_environment: Path, api_server: ApiServer, tmp_path: Path, inline: bool
) -> None:
    # The service-host variables alone (a pod without an automounted token) do not make it a pod.
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "1")
    write_kubeconfig(tmp_path / "kubeconfig", api_server, inline=inline)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))

    info = kube.login()
    assert info.server == api_server.url and info.default_namespace == "team-a" and info.token is None

    api = KubeApi.from_environment()
    try:
        assert (await api.read_secret("ns", "creds")).data == {"key": b"value"}
    finally:
        await api.aclose()
    assert api_server.seen == [(None, devcluster.ADMIN_USER)]


async def test_kubeconfig_token_and_an_untrusted_server(
    monkeypatch: pytest.MonkeyPatch, no_environment: Path, api_server: ApiServer, tmp_path: Path
) -> None:
    config: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config", "current-context": "dev",
        "clusters": [{"name": "dev", "cluster": {"server": api_server.url}}],
        "users": [{"name": "u", "user": {"token": "static-token"}}],
        "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "u"}}],
    }  # fmt: skip
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    api = KubeApi.from_environment()
    try:
        # No CA in the kubeconfig: the system trust store does not know the devcluster CA, so TLS must fail.
        with pytest.raises(kube.KubeError, match="ConnectError"):
            await api.read_secret("ns", "creds")
    finally:
        await api.aclose()
    assert api_server.seen == []

    config["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(config))
    api = KubeApi.from_environment()
    try:
        await api.read_secret("ns", "creds")
    finally:
        await api.aclose()
    assert api_server.seen == [("Bearer static-token", None)]


def test_neither_pod_nor_kubeconfig_is_a_login_error(no_environment: Path) -> None:
    with pytest.raises(kopf.LoginError, match="no kubeconfig"):
        kube.connection_info()
