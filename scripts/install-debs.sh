#!/usr/bin/env bash
# Install the Debian packages pacer's build and tests need.
#
#   pacemaker-cli-utils  crm_simulate (Pacemaker 2.1.5): the live oracle for the
#                        conformance suite and the scheduler benchmark
#   python3-venv         `python3 -m venv` (Debian ships venv/ensurepip separately)
#   make                 the Makefile (present once you can run `make deps`, but
#                        kept here so the script alone also sets up a machine)
#   etcd-server          etcd, pacer's store; tests start their own members
#                        (the packaged service is never relied upon)
#   resource-agents, pacemaker-resource-agents
#                        real OCF agents (ocf:heartbeat:*, ocf:pacemaker:*)
#   fence-agents         real fence agents speaking the stdin protocol
#   iproute2             network namespaces for multi-host tests
#   libxml2-utils        xmllint: exported CIBs checked against Pacemaker's schema
#   keepalived           the failover anchor run in the lab (bench/failover.py and
#                        its one-trial test); never started as a service here
#
# Fast and silent when everything is already installed (checked with dpkg -s),
# so `make test` can call it on every run. Needs root (or sudo) only when
# something is missing. Usage: scripts/install-debs.sh [EXTRA_PACKAGE...]
set -euo pipefail

PACKAGES=(pacemaker-cli-utils python3-venv make etcd-server resource-agents
          pacemaker-resource-agents fence-agents iproute2 libxml2-utils keepalived "$@")

if ! command -v dpkg >/dev/null 2>&1; then
    echo "install-debs: no dpkg here (not Debian?); install these yourself: ${PACKAGES[*]}" >&2
    exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install-debs: missing ${missing[*]}; run as root to install them" >&2
        exit 1
    fi
fi

echo "install-debs: installing ${missing[*]}"
"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
