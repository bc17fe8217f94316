#!/usr/bin/env bash
# Install headless Chromium and its driver from the distribution's packages (Debian:
# chromium, chromium-driver) for the console's browser tests. Idempotent: does nothing
# when /usr/bin/chromium is there. Never downloads a browser from anywhere else.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "note: chromium is not installed and this is not root: the console's browser tests will be skipped" >&2
    echo "      (as root: apt-get install -y chromium chromium-driver)" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "note: no apt-get here: install Chromium from your distribution for the browser tests" >&2
    exit 0
fi
echo "installing chromium from the distribution's packages (console browser tests)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q chromium chromium-driver
