#!/usr/bin/env bash
# Builds promtool and the Prometheus server from the Go module proxy and caches them under
# ${MODELARTS_OPERATOR_CACHE:-~/.cache/modelarts-operator}/<tool>-<version>/<tool>.
# Idempotent: a tool whose binary is already cached is not rebuilt, so the warm path takes a second.
#
# github.com/prometheus/prometheus has no replace directives, so `go install pkg@version` builds it from the
# proxy alone (verified against the checksum database), like helm in tools/controlplane/build.sh.
# Tags:
# - remove_all_sd: leaves out every service-discovery plugin but file and http (cloud SDKs, Kubernetes...):
#   the tests scrape a static target, and the build is several times smaller and faster.
# - no builtinassets: the React UI is not compiled in (the tests use the HTTP API only; the UI would answer 404s).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache="${MODELARTS_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelarts-operator}"
mkdir -p "$cache"

command -v go >/dev/null || { echo "prometheus/build.sh: 'go' (>= 1.26) is required on PATH" >&2; exit 1; }

# Two concurrent `make` runs must not race on the same output; the lock is released when the script exits.
exec 9>"$cache/.prometheus-build.lock"
flock 9

export CGO_ENABLED=0
version="$PROMETHEUS_MODULE_VERSION"
# v0.316.0 -> 3.16.0: what `prometheus --version` should say.
minor_patch="${version#v0.3}"
release="3.$((10#${minor_patch%%.*})).${minor_patch#*.}"
ldflags="-s -w -X github.com/prometheus/common/version.Version=${release} \
 -X github.com/prometheus/common/version.Branch=HEAD -X github.com/prometheus/common/version.BuildUser=modelarts-operator"

missing=()
for tool in promtool prometheus; do
  if [[ -x "$cache/$tool-$version/$tool" ]]; then
    echo "prometheus/build.sh: $tool $version cached" >&2
  else
    missing+=("$tool")
  fi
done

if ((${#missing[@]})); then
  echo "prometheus/build.sh: building ${missing[*]} $version (a cold build takes minutes)" >&2
  gobin="$cache/.prometheus-gobin-$version"
  rm -rf "$gobin"
  pkgs=()
  for tool in "${missing[@]}"; do pkgs+=("github.com/prometheus/prometheus/cmd/$tool@$version"); done
  # One `go install` for both: they share the module graph and most compiled packages.
  GOFLAGS="-buildvcs=false" GOBIN="$gobin" go install -trimpath -tags remove_all_sd -ldflags "$ldflags" "${pkgs[@]}"
  # Moved into place only on success, so an interrupted build never looks finished.
  for tool in "${missing[@]}"; do
    mkdir -p "$cache/$tool-$version"
    mv -f "$gobin/$tool" "$cache/$tool-$version/$tool"
  done
  rm -rf "$gobin"
fi

for tool in promtool prometheus; do
  echo "$cache/$tool-$version/$tool"
done
