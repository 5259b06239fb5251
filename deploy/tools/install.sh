#!/usr/bin/env bash
# `make tools`: the command-line tools that tests/deploy runs on the deployment files, and the
# browser console/tests drives.
#
#   docker-compose (Debian package docker-compose, 1.29)  validates docker-compose.yml, no engine
#   promtool       (Debian package prometheus)             checks and unit-tests the alert rules
#   prometheus     (Debian package prometheus)             the live scrape test
#   kubectl >= 1.27 (kustomize built in)                   renders deploy/k8s overlays
#   rabbitmq_prometheus (a plugin of a local RabbitMQ)     the broker's series in the live test
#   chromium       (Debian package chromium)               the console's browser tests (Playwright
#                                                          drives it; no browser is downloaded)
#
# hadolint, kubernetes-validate and check-jsonschema are Python packages in requirements.lock,
# installed into .venv by `make install`.
#
# Idempotent: a tool already on PATH is left alone. As root, missing Debian packages are
# installed with apt-get; otherwise the script names them and exits 1.
set -euo pipefail

missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    missing+=(prometheus)
fi
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

if ((${#missing[@]})); then
    if [[ "$(id -u)" == 0 ]]; then
        echo "make tools: installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
        apt-get update -qq
        # No recommends: docker-compose would pull in a Docker engine, prometheus its exporters,
        # chromium its desktop extras.
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "make tools: missing Debian packages: ${missing[*]}" >&2
        echo "  install them as root: apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
fi

if ! command -v kubectl >/dev/null 2>&1; then
    echo "make tools: kubectl (1.27 or newer, for its built-in kustomize) is not on PATH." >&2
    echo "  Debian's kubernetes-client is 1.20 (no kustomize v5); install kubectl from the" >&2
    echo "  Kubernetes project's packages, then run make tools again." >&2
    exit 1
fi

# The live Prometheus test scrapes the broker's own exporter, as deploy/prometheus does in
# compose (whose RabbitMQ image has the plugin on). A broker run elsewhere (Docker) is left alone.
if command -v rabbitmq-plugins >/dev/null 2>&1 \
    && ! rabbitmq-plugins list -e -m 2>/dev/null | grep -qx rabbitmq_prometheus; then
    if [[ "$(id -u)" == 0 ]]; then
        echo "make tools: enabling the rabbitmq_prometheus plugin of the local RabbitMQ"
        rabbitmq-plugins enable rabbitmq_prometheus >/dev/null
    else
        echo "make tools: the local RabbitMQ lacks its Prometheus exporter;" \
            "as root: rabbitmq-plugins enable rabbitmq_prometheus" >&2
        exit 1
    fi
fi

echo "make tools: docker-compose $(docker-compose version --short)," \
    "$(promtool --version 2>&1 | head -n 1)," \
    "$(chromium --version 2>/dev/null | head -n 1)," \
    "kubectl $(kubectl version --client 2>/dev/null | sed -n 's/^Client Version: //p')"
