#!/usr/bin/env bash
# podman bound to the image store `make image` builds into, e.g.
#   tools/image/podman.sh run --rm --read-only modelarts-operator:0.1.0 --help
#   tools/image/podman.sh images
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"
command -v podman >/dev/null || { echo "podman.sh: podman is not installed (run \`make image\` as root)" >&2; exit 75; }
podman_setup
podman_cmd "$@"
