#!/usr/bin/env bash
# Bring up what the integration tests need: PostgreSQL (registry and ledger stores), Go's
# sumdb packages (independent proof verifier), Chromium (dashboard browser test) and a
# headless Java runtime (PySpark, for the Spark engine's tests), all from Debian's packages. Prints `export NAME=value` lines on stdout for the caller to source;
# progress goes to stderr. Outside CI (or without root) a missing service only makes its
# tests skip; with CI=true anything missing is an error, so CI cannot silently skip them.
set -uo pipefail
cd "$(dirname "$0")/.."
strict=false
[ "${CI:-}" = "true" ] && strict=true
missing() {
    echo "services.sh: $1" >&2
    if $strict; then exit 1; fi
}

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    missing "not root on Debian: PostgreSQL, Go interop and browser tests will skip"
    exit 0
fi

want=()
command -v go >/dev/null 2>&1 && [ -d /usr/share/gocode/src/golang.org/x/mod/sumdb ] ||
    want+=(golang-go golang-golang-x-mod-dev)
[ -x /usr/bin/chromium ] || want+=(chromium)
[ -d /usr/share/fonts/opentype/noto ] || want+=(fonts-noto-cjk)  # Chinese dashboard pages
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
# PySpark 4 starts a JVM and needs Java 17 or later (Debian 12's default is 17).
{ [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; } || command -v java >/dev/null 2>&1 ||
    want+=(default-jre-headless)
if [ ${#want[@]} -gt 0 ]; then
    echo "services.sh: installing ${want[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends "${want[@]}"; } >&2 ||
        missing "apt-get install ${want[*]} failed"
fi
command -v java >/dev/null 2>&1 || [ -n "${JAVA_HOME:-}" ] ||
    missing "no Java runtime: the PySpark tests will fail"
bash .ci/postgres.sh || missing "PostgreSQL did not start"
