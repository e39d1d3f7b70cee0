# syntax=docker/dockerfile:1.7
# The modelarts-pool-operator image.
#
#   docker build -t modelarts-operator:0.1.0 .
#
# Two stages: the builder collects every wheel (the locked dependencies, verified against the hashes in
# requirements.lock, plus the operator's own pure-Python wheel); the final stage installs only those wheels,
# offline, and carries no compiler, no build tool and no source tree. Regenerate the lock with `make lock`.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first, so editing the operator's source does not invalidate this layer.
# --only-binary: every locked dependency ships wheels for CPython 3.11 on amd64 and arm64, so nothing is compiled
# (and a dependency that stops shipping wheels fails the build instead of silently needing a compiler).
COPY requirements.lock ./
RUN pip download --require-hashes --no-deps --only-binary=:all: --dest /wheels -r requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY operator ./operator
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="modelarts-pool-operator" \
      org.opencontainers.image.description="Kubernetes operator for Huawei Cloud ModelArts resource pools" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# podman 4.3/buildah 1.28 reuse a cached `RUN --mount=...,from=builder` step even after the builder stage changed
# (containers/buildah#4522), which would leave stale code in the image: tools/image/build.sh passes the builder
# stage's image ID here, so this step re-runs exactly when its wheels change. Docker's BuildKit needs nothing.
ARG BUILDER_ID=
# Install offline from the builder's wheels through a bind mount, so the wheel files never become a layer.
# The lock is enforced again here: --require-hashes refuses any wheel whose hash is not in requirements.lock.
# pip compiles the .pyc files at install time, which matters because the root filesystem is read-only at run time.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,source=requirements.lock,target=/tmp/requirements.lock \
    pip install --no-index --find-links=/wheels --require-hashes --no-deps -r /tmp/requirements.lock \
    && pip install --no-index --no-deps /wheels/modelarts_pool_operator-*.whl \
    && modelarts-operator --help > /dev/null
# 65532 is the conventional "nonroot" uid/gid (distroless); the chart runs the pod with the same ids.
USER 65532:65532
WORKDIR /tmp
# 8080: /metrics (Prometheus); 8081: /healthz (liveness and readiness).
EXPOSE 8080 8081
ENTRYPOINT ["modelarts-operator", "run"]
