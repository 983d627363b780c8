#!/usr/bin/env bash
# Install the independent verifier used by tests/interop: Go and golang.org/x/mod
# (sumdb/note, sumdb/tlog) from Debian's packages. Run as root on Debian.
set -euo pipefail
if command -v go >/dev/null 2>&1 && [ -d /usr/share/gocode/src/golang.org/x/mod/sumdb ]; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update >&2
apt-get install -y golang-go golang-golang-x-mod-dev >&2
