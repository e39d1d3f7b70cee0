"""Pre-delete guard of the modelarts-operator chart: refuse `helm uninstall` while ModelArtsPools remain.

Run as ``python -c "<this file>" [NAMESPACE ...]`` in the operator image (namespaces: the chart's
watchNamespaces; none means the whole cluster). Exit 0 when no ModelArtsPool carries the operator's finalizer,
exit 1 (with the list) otherwise: uninstalling the operator first would leave those objects, and their cloud
pools, stuck with nobody to finish the deletion. Uses the pod's ServiceAccount, else the current kubeconfig.
"""

from __future__ import annotations

import sys
from typing import Any

from kubernetes import client, config

GROUP, VERSION, PLURAL = "modelarts.operator.dev", "v1alpha1", "modelartspools"
FINALIZER = "modelarts.operator.dev/pool-deletion"
FIX = (
    "Delete them first while the operator still runs (kubectl delete mapool NAME -n NAMESPACE deletes the "
    "ModelArts pool too), or keep their cloud pools with `kubectl patch mapool NAME -n NAMESPACE --type merge "
    "-p '{\"spec\":{\"deletionPolicy\":\"Retain\"}}'` before deleting them; then run helm uninstall again."
)


def remaining(namespaces: list[str]) -> list[str]:
    """``namespace/name`` of every ModelArtsPool that still needs the operator to be deleted."""
    api = client.CustomObjectsApi()
    pages: list[Any] = (  # the client declares its return type as plain object
        [api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL) for namespace in namespaces]
        if namespaces
        else [api.list_cluster_custom_object(GROUP, VERSION, PLURAL)]
    )
    items = [item for page in pages for item in page["items"]]
    return sorted(
        f"{item['metadata']['namespace']}/{item['metadata']['name']}"
        for item in items
        if FINALIZER in (item["metadata"].get("finalizers") or [])
    )


def main(argv: list[str]) -> int:
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    left = remaining(argv)
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
