"""The public names of the custom resource (fixed by the product design; users' manifests rely on them)."""

from __future__ import annotations

GROUP = "modelarts.operator.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ModelArtsPool"
PLURAL = "modelartspools"
SINGULAR = "modelartspool"
SHORT_NAMES = ("mapool",)
CATEGORIES = ("modelarts",)

PREFIX = GROUP
FINALIZER = f"{PREFIX}/pool-deletion"
