"""Pre-delete guard of the modelarts-operator chart: refuse `helm uninstall` while ModelArtsPools remain.

Run as ``python -c "<this file>" [NAMESPACE ...]`` in the operator image (namespaces: the chart's
watchNamespaces; none means the whole cluster). Exit 0 when no ModelArtsPool carries the operator's finalizer,
exit 1 (with the list) otherwise: uninstalling the operator first would leave those objects, and their cloud
pools, stuck with nobody to finish the deletion. Uses the pod's ServiceAccount, else the current kubeconfig.
Needs only the standard library and kopf (both in the operator image).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from typing import Any
from urllib.parse import quote

import kopf

GROUP, VERSION, PLURAL = "modelarts.operator.dev", "v1alpha1", "modelartspools"
FINALIZER = "modelarts.operator.dev/pool-deletion"
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
FIX = (
    "Delete them first while the operator still runs (kubectl delete mapool NAME -n NAMESPACE deletes the "
    "ModelArts pool too), or keep their cloud pools with `kubectl patch mapool NAME -n NAMESPACE --type merge "
    '-p \'{"spec":{"deletionPolicy":"Retain"}}\'` before deleting them; then run helm uninstall again.'
)


def connection() -> kopf.ConnectionInfo:
    """In a pod: KUBERNETES_SERVICE_HOST/PORT and the ServiceAccount's token and CA, as client-go reads them."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    token = os.path.join(SERVICE_ACCOUNT, "token")
    if host and port and os.path.exists(token):
        with open(token, encoding="utf-8") as file:
            bearer = file.read().strip()
        ca = os.path.join(SERVICE_ACCOUNT, "ca.crt")
        host = f"[{host}]" if ":" in host else host  # an IPv6 address
        return kopf.ConnectionInfo(
            server=f"https://{host}:{port}", token=bearer, ca_path=ca if os.path.exists(ca) else None
        )
    info = kopf.login_with_kubeconfig(settings=kopf.OperatorSettings())
    if info is None:
        raise SystemExit("uninstall guard: no ServiceAccount token and no kubeconfig to reach the API server")
    return info


def get(info: kopf.ConnectionInfo, path: str) -> Any:
    # The server is an https:// URL from the ServiceAccount or the kubeconfig, never user input.
    request = urllib.request.Request(info.server.rstrip("/") + path, headers=info.as_http_headers())  # noqa: S310
    with urllib.request.urlopen(request, context=info.as_ssl_context(), timeout=30) as response:  # noqa: S310
        return json.load(response)


def remaining(info: kopf.ConnectionInfo, namespaces: list[str]) -> list[str]:
    """``namespace/name`` of every ModelArtsPool that still needs the operator to be deleted."""
    base = f"/apis/{GROUP}/{VERSION}"
    paths = [f"{base}/namespaces/{quote(ns, safe='')}/{PLURAL}" for ns in namespaces] or [f"{base}/{PLURAL}"]
    items = [item for path in paths for item in get(info, path)["items"]]
    return sorted(
        f"{item['metadata']['namespace']}/{item['metadata']['name']}"
        for item in items
        if FINALIZER in (item["metadata"].get("finalizers") or [])
    )


def main(argv: list[str]) -> int:
    left = remaining(connection(), argv)
    if not left:
        print("uninstall guard: no ModelArtsPool left; uninstalling is safe")
        return 0
    print(f"uninstall guard: refusing to uninstall the operator, {len(left)} ModelArtsPool(s) remain:")
    for name in left:
        print(f"  {name}")
    print(FIX)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
