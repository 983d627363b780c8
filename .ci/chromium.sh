#!/usr/bin/env bash
# Install Debian's Chromium for the registry's browser test (Playwright drives it through
# executable_path; never `playwright install`). Run as root on Debian.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    echo "chromium.sh: $(/usr/bin/chromium --version)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update >&2
apt-get install -y --no-install-recommends chromium fonts-noto-cjk >&2
echo "chromium.sh: $(/usr/bin/chromium --version)" >&2
