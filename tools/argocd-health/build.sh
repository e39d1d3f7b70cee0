#!/usr/bin/env bash
# Builds tools/argocd-health (Argo CD's own health engine around our argocd-cm patch) from the Go module proxy and
# caches it under
#   ${MODELARTS_OPERATOR_CACHE:-~/.cache/modelarts-operator}/argocd-health-<argo-cd version>-<source hash>/argocd-health
# The hash covers go.mod, go.sum, main.go and this script (its build flags), so any change to the pin, the program or
# the way it is built builds a new binary and an old one is never reused. Idempotent: a cached binary is not rebuilt. Prints the binary's path on stdout.
#   build.sh            build (if needed) and print the path
#   build.sh --path     print the path only (tests use it to find the binary; exit 1 when it is not built)
#   build.sh --regen V  rewrite go.mod/go.sum for Argo CD version V (e.g. v3.6.1), then build
# Argo CD 3.6 declares `go 1.27.0`; GOTOOLCHAIN=auto lets the installed go (>= 1.21) fetch the toolchain that
# go.mod names from the module proxy, into the module cache, verified by the checksum database.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MODELARTS_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelarts-operator}"
export GOTOOLCHAIN=auto CGO_ENABLED=0
# readonly: the committed go.mod/go.sum are the pin; a build never edits them.
export GOFLAGS="-mod=readonly -buildvcs=false"

argocd_version() {
  sed -n 's|^\tgithub.com/argoproj/argo-cd/v3 \(v[^ ]*\).*|\1|p' "$here/go.mod"
}

binary_path() {
  local version hash
  version="$(argocd_version)"
  [[ -n "$version" ]] || { echo "build.sh: no github.com/argoproj/argo-cd/v3 requirement in go.mod" >&2; exit 1; }
  hash="$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" "$here/build.sh" | sha256sum | cut -c1-12)"
  echo "$cache/argocd-health-$version-$hash/argocd-health"
}

# regen VERSION: a wrapper module requiring argo-cd and its gitops-engine at VERSION, with argo-cd's own replace
# block (the k8s.io staging pins) minus its local ./gitops-engine replace; then `go mod tidy` fills in the rest.
regen() {
  local version="$1" mod header toolchain
  mod="$(cd / && go mod download -json "github.com/argoproj/argo-cd/v3@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "$mod" ]] || { echo "build.sh: cannot download github.com/argoproj/argo-cd/v3@$version" >&2; exit 1; }
  header="$(sed -n '/^module /q;p' "$here/go.mod")"
  # The toolchain line is our pin (a patched Go of the line argo-cd declares), kept across regenerations.
  toolchain="$(sed -n 's/^toolchain //p' "$here/go.mod")"
  {
    printf '%s\nmodule modelarts-operator/tools/argocd-health\n\ngo %s\n\n' "$header" "$(sed -n 's/^go //p' "$mod")"
    [[ -z "$toolchain" ]] || printf 'toolchain %s\n\n' "$toolchain"
    printf 'require (\n\tgithub.com/argoproj/argo-cd/gitops-engine/v3 %s\n\tgithub.com/argoproj/argo-cd/v3 %s\n)\n\n' \
      "$version" "$version"
    sed -n '/^replace (/,/^)/p' "$mod"
  } > "$here/go.mod.new"
  mv "$here/go.mod.new" "$here/go.mod"
  rm -f "$here/go.sum"
  (cd "$here" && GOFLAGS=-mod=mod go mod tidy)
}

case "${1:-}" in
  --path)
    bin="$(binary_path)"
    echo "$bin"
    [[ -x "$bin" ]]
    exit
    ;;
  --regen)
    [[ -n "${2:-}" ]] || { echo "usage: build.sh --regen vX.Y.Z" >&2; exit 2; }
    command -v go >/dev/null || { echo "build.sh: 'go' (>= 1.21) is required on PATH" >&2; exit 1; }
    regen "$2"
    ;;
  "") ;;
  *) echo "usage: build.sh [--path | --regen vX.Y.Z]" >&2; exit 2 ;;
esac

bin="$(binary_path)"
if [[ -x "$bin" ]]; then
  echo "build.sh: argocd-health $(argocd_version) cached" >&2
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "build.sh: 'go' (>= 1.21) is required on PATH" >&2; exit 1; }

mkdir -p "$cache"
# Two concurrent `make` runs must not race on the same output; the lock is released when the script exits.
exec 9>"$cache/.argocd-health.lock"
flock 9
if [[ ! -x "$bin" ]]; then
  echo "build.sh: building argocd-health $(argocd_version) (a cold build downloads Argo CD's modules and a Go" \
    "toolchain and takes minutes)" >&2
  dir="$(dirname "$bin")"
  mkdir -p "$dir"
  # Built under a temporary name and moved into place only on success, so an interrupted build never looks done.
  (cd "$here" && go build -trimpath -ldflags "-s -w" -o "$dir/.argocd-health.partial" .)
  mv -f "$dir/.argocd-health.partial" "$bin"
fi
echo "$bin"
