"""The public names of the custom resources (fixed by the product design; users' manifests rely on them)."""

from __future__ import annotations

GROUP = "modelarts.operator.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORIES = ("modelarts",)

# ModelArtsPool: one ModelArts resource pool, in a tenant's namespace.
KIND = "ModelArtsPool"
PLURAL = "modelartspools"
SINGULAR = "modelartspool"
SHORT_NAMES = ("mapool",)

# ModelArtsProject: the platform's binding of one ModelArts project (and its credentials) to namespaces.
PROJECT_KIND = "ModelArtsProject"
PROJECT_PLURAL = "modelartsprojects"
PROJECT_SINGULAR = "modelartsproject"
PROJECT_SHORT_NAMES = ("maproject",)

PREFIX = GROUP
FINALIZER = f"{PREFIX}/pool-deletion"
# A tenant's own credentials Secret must carry this label (value "true") to be used: a tenant who may create
# pools but not read Secrets cannot point the operator at a Secret nobody meant for it.
LABEL_CREDENTIALS = f"{PREFIX}/credentials"
