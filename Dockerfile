# syntax=docker/dockerfile:1
# One image definition for every service of the platform. Pick the service with a build arg:
#
#   docker build --build-arg SERVICE=catalog -t mci/catalog .
#
# SERVICE: auth | catalog | pricing | offers | orders | bigbuy (the BigBuy connector) | console
#          | emulator (the Allegro emulator) | bigbuy-emulator.
# An image holds only the third-party packages its own workspace members need (filtered from the
# hash-pinned requirements.lock), plus those members: `shared` + `services/$SERVICE`, or
# `connectors/bigbuy`, or `sandbox/allegro`, `sandbox/bigbuy`, `console` alone. No dev tools, no
# other service's code.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ARG SERVICE
ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never

RUN python -m pip install "uv==${UV_VERSION}"

# 1. Third-party dependencies first (cached until requirements.lock changes). --require-hashes:
#    every wheel is checked against the lock's hashes.
COPY requirements.lock /build/requirements.lock
COPY deploy/docker/mci_image.py /build/mci_image.py
RUN test -n "${SERVICE}" \
        || { echo "build with --build-arg SERVICE=auth|catalog|...; see deploy/docker/mci_image.py" >&2; exit 1; } \
    && python /build/mci_image.py requirements "${SERVICE}" /build/requirements.lock \
        > /build/requirements.txt \
    && uv venv --python /usr/local/bin/python3.11 /opt/venv \
    && uv pip sync --python /opt/venv/bin/python --require-hashes /build/requirements.txt

# 2. The service's own workspace members, installed editable at /app/<path> with --no-deps, the
#    same way requirements.lock installs them (`-e ./path`), so migrations/ and data files that
#    live beside the package are where the code expects them. --no-sources: the members'
#    `mci-shared = { workspace = true }` needs the workspace root, which the image leaves out;
#    the dependency itself is installed explicitly, from ./shared.
COPY shared/ /src/shared/
COPY services/ /src/services/
COPY sandbox/ /src/sandbox/
COPY connectors/ /src/connectors/
COPY console/ /src/console/
# $args is split on purpose: one `-e <path>` per workspace member (paths have no spaces).
# hadolint ignore=SC2086
RUN set -eu; \
    args=""; \
    for path in $(python /build/mci_image.py paths "${SERVICE}"); do \
        mkdir -p "/app/$(dirname "$path")"; \
        cp -a "/src/$path" "/app/$path"; \
        args="$args -e /app/$path"; \
    done; \
    uv pip install --python /opt/venv/bin/python --no-deps --no-sources $args; \
    python -m compileall -q /app

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
LABEL org.opencontainers.image.title="mci-${SERVICE}" \
      org.opencontainers.image.description="Allegro multi-channel integration platform: ${SERVICE}"

ENV MCI_SERVICE=${SERVICE} \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 mci \
    && useradd --system --uid 10001 --gid mci --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin mci

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
COPY --chmod=0755 deploy/docker/entrypoint.sh /usr/local/bin/mci-entrypoint
COPY --chmod=0644 deploy/docker/healthcheck.py /usr/local/lib/mci/healthcheck.py
# The Kubernetes migrations Job: `python /usr/local/lib/mci/migrate.py` migrates and exits.
COPY --chmod=0644 deploy/docker/migrate.py /usr/local/lib/mci/migrate.py

WORKDIR /app
USER 10001:10001

# Liveness only (process up, HTTP answering): /health/live on the service's HTTP port.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/usr/local/lib/mci/healthcheck.py"]

# No arguments: `python -m $SERVICE --role all` (emulators, console: --host 0.0.0.0 --port P).
# Options (`--role api`) are passed to the service; any other command runs as given.
ENTRYPOINT ["/usr/local/bin/mci-entrypoint"]
