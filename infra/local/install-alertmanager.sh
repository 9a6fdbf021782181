#!/usr/bin/env bash
# Installs Prometheus Alertmanager (Debian's prometheus-alertmanager, whose binary is
# `prometheus-alertmanager`) for the end-to-end test of the alert routes, unless one is on the
# PATH already. Needs root (or sudo).
set -euo pipefail
if command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
# Only the binary is needed: the package's service is not started by the test.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
# Debian starts the service it installs; the test runs its own on a free port.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || true; fi
command -v prometheus-alertmanager >/dev/null
