#!/usr/bin/env bash
# `make image`: builds the operator image from the repo's Dockerfile, tagged modelarts-operator:<version>.
#
#   - A working Docker engine (`docker info` succeeds): plain `docker build`, nothing else.
#   - Otherwise podman (Debian's podman + runc; installed with apt when missing and we are root), with a private
#     image store under ${MODELARTS_OPERATOR_CACHE:-~/.cache/modelarts-operator}/podman (reused between runs).
#     The python:3.11-slim base is never pulled (no registry is assumed): a stand-in is built from Debian packages
#     by python-base.sh with mmdebstrap and cached as python-base-<suite>-<hash of the recipe and CAs>/base.tar.
#     PYTHON_IMAGE=<ref> uses that base instead, pulling it only if it is missing from the store.
#
# Options: --engine docker|podman (default: docker when its engine answers, else podman).
# Prints the image reference as the last line of stdout; progress goes to stderr.
# Exit codes: 0 built; 75 no way to build here (no Docker engine, podman missing and not installable): callers
# such as tests/e2e/test_image.py skip on 75 and fail on anything else (a broken Dockerfile is a failure).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"

engine=""
while (($#)); do
  case "$1" in
    --engine) engine="$2"; shift 2 ;;
    --engine=*) engine="${1#--engine=}"; shift ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

log() { echo "build.sh [$(date +%T)]: $*" >&2; }
unavailable() { log "cannot build the image here: $*"; exit 75; }

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/pyproject.toml" | head -n1)"
[[ -n "$version" ]] || { log "no version in pyproject.toml"; exit 1; }
name="modelarts-operator:$version"

if [[ -z "$engine" ]]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then engine=docker; else engine=podman; fi
fi

if [[ "$engine" == docker ]]; then
  log "docker build -t $name"
  docker build -t "$name" "$repo" >&2
  echo "$name"
  exit 0
fi
[[ "$engine" == podman ]] || { log "unknown engine $engine"; exit 2; }

# -- tools ------------------------------------------------------------------------------------------------------
need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
[[ -n "${PYTHON_IMAGE:-}" ]] || command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
if ((${#need[@]})); then
  [[ "$(id -u)" == 0 ]] || unavailable "no Docker engine, and ${need[*]} missing (installing them needs root)"
  command -v apt-get >/dev/null || unavailable "no Docker engine, and ${need[*]} missing (no apt-get to install)"
  log "installing ${need[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt_opts=(-o DPkg::Lock::Timeout=600 -q)
  apt-get "${apt_opts[@]}" update >&2 || unavailable "apt-get update failed"
  apt-get "${apt_opts[@]}" install -y "${need[@]}" >&2 \
    || unavailable "apt-get install ${need[*]} failed"
fi

mkdir -p "$podman_home"
# One build at a time per store: concurrent callers (two worktrees, CI retries) wait here.
exec 9>"$podman_home/.build.lock"
flock 9
podman_setup

# -- base -------------------------------------------------------------------------------------------------------
pull=never
if [[ -n "${PYTHON_IMAGE:-}" ]]; then
  base="$PYTHON_IMAGE"
  pull=missing
  log "base: $base (PYTHON_IMAGE; pulled only if missing)"
else
  suite="$(sed -n 's/^SUITE=\([a-z]*\).*/\1/p' "$here/python-base.sh")"
  # The key covers everything that goes into the tarball: the recipe and the CA certificates it copies in.
  key="$suite-$(cat "$here/python-base.sh" /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum | cut -c1-12)"
  base_dir="$cache/python-base-$key"
  base="localhost/modelarts-python-base:$key"
  if [[ ! -s "$base_dir/base.tar" ]]; then
    [[ "$(id -u)" == 0 ]] || unavailable "building the stand-in base with mmdebstrap needs root"
    log "building the stand-in base ($key) with mmdebstrap (about 2 minutes)"
    mkdir -p "$base_dir"
    rm -f "$base_dir/.partial.tar"
    bash "$here/python-base.sh" "$base_dir/.partial.tar" >&2
    mv -f "$base_dir/.partial.tar" "$base_dir/base.tar"
  else
    log "stand-in base $key cached"
  fi
  if ! podman_cmd image exists "$base"; then
    log "importing $base"
    podman_cmd import -q \
      --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' "$base_dir/base.tar" "$base" >/dev/null
  fi
fi

# -- image ------------------------------------------------------------------------------------------------------
# Two passes, because podman 4.3 (buildah 1.28) mishandles `RUN --mount=type=bind,from=builder` with --layers:
# the cached install step is reused after the builder stage changed (containers/buildah#4522), and a cached
# builder stage is mounted with the wrong content (#4375). So: build the builder stage alone (its COPY steps are
# cached by content, correctly), then the image with that exact builder as the `builder` build context and its
# ID as BUILDER_ID, which the Dockerfile declares so that the install step's cache follows it.
build=(podman_cmd build --layers --pull="$pull" --network host --build-arg PYTHON_IMAGE="$base")
builder="localhost/modelarts-operator-builder:$version"
iid="$(mktemp)"
trap 'rm -f "$iid"' EXIT
log "podman build --target builder -t $builder"
"${build[@]}" --target builder --iidfile "$iid" -t "$builder" "$repo" >&2
log "podman build -t $name (base $base, builder $(cut -c1-19 "$iid"))"
"${build[@]}" --build-context builder="container-image://$builder" --build-arg BUILDER_ID="$(cat "$iid")" \
  -t "$name" "$repo" >&2
# Drop what the tags no longer reach (earlier builds' images); the layers of the current ones stay cached.
podman_cmd image prune -f >/dev/null
podman_cmd image inspect "localhost/$name" --format 'build.sh: {{index .RepoTags 0}} size={{.Size}} user={{.Config.User}}' >&2 || true
echo "localhost/$name"
