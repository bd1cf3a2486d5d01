#!/usr/bin/env bash
# Installs Debian's chromium for the web UI's browser test (conformance/ui_test.go,
# driven by chromedp). Idempotent: nothing happens when the browser is there.
#
#   scripts/install-chromium.sh
#
# The test looks for $SLUICE_CHROMIUM, then /usr/bin/chromium, then chromium or
# chromium-browser on PATH. Without root (or apt-get) this script says so and
# exits non-zero; `make test` then fails rather than skipping the UI test.
set -euo pipefail

if [ -n "${SLUICE_CHROMIUM:-}" ] && [ -x "$SLUICE_CHROMIUM" ]; then
	exit 0
fi
for b in /usr/bin/chromium chromium chromium-browser; do
	if command -v "$b" >/dev/null 2>&1; then
		exit 0
	fi
done

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-chromium: no chromium found and no apt-get to install it; install Chromium and set SLUICE_CHROMIUM" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	else
		echo "install-chromium: not root and no sudo; run: apt-get install -y chromium" >&2
		exit 1
	fi
fi
echo "install-chromium: installing Debian's chromium package"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine's package lists may be empty or stale: update once, then install;
# wait for another apt-get (a second make test, an image's own updates) rather than fail.
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
$sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "install-chromium: chromium still missing after apt-get install" >&2; exit 1; }
echo "install-chromium: $(chromium --version 2>/dev/null || echo chromium installed)"
