#!/usr/bin/env bash
# A local stand-in for the python:3.11-slim base image, built from Debian packages (no container registry
# needed): Debian bookworm's python3.11 with a venv at /opt/venv, the machine's extra CA certificates (the
# package proxy's, without which pip cannot verify PyPI), merged /usr, no man pages, docs or locales.
# Usage: python-base.sh OUTPUT.tar   (root; build.sh calls it and caches the tarball under a hash of this file)
# Background and measurements: docs/install.md, "Container image".
set -euo pipefail
out="$1"
SUITE=bookworm  # build.sh reads this line: the suite is part of the cache key

# merged-usr hook: without it minbase installs `usrmerge`, which pulls in perl (about 50 MB).
mmdebstrap --quiet --format=tar --variant=minbase \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --include=python3,python3-venv,ca-certificates,netbase,tzdata \
  --customize-hook='cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/" 2>/dev/null || true; chroot "$1" update-ca-certificates >/dev/null' \
  --customize-hook='chroot "$1" python3 -m venv /opt/venv' \
  "$SUITE" "$out"
