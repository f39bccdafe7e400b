#!/usr/bin/env bash
# Install what the browser test suite (tests/browser/) needs beyond the virtualenv:
# Debian's Chromium at /usr/bin/chromium. Playwright's own browser download does not work
# on a closed network, so the suite launches this binary through `executable_path`.
#
# Usage (as root on a Debian/Ubuntu machine):  scripts/install_browser.sh
# Set CHROMIUM=/path/to/chromium to point the suite at another binary instead.
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    echo "install_browser: $CHROMIUM is present ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown')); nothing to do."
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install_browser: $CHROMIUM is missing and this script is not running as root." >&2
    echo "  Install it with:  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium" >&2
    echo "  (or run: sudo scripts/install_browser.sh), or set WORKBENCH_SKIP_BROWSER=1 to deselect the browser tests." >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: $CHROMIUM is missing and apt-get is not available (not a Debian-like system)." >&2
    echo "  Install Chromium with your system's package manager and set CHROMIUM=/path/to/chromium." >&2
    exit 1
fi

echo "install_browser: installing Debian's chromium package ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium

if [ ! -x "$CHROMIUM" ]; then
    echo "install_browser: apt-get finished but $CHROMIUM is still missing." >&2
    exit 1
fi
echo "install_browser: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")."
