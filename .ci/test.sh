#!/usr/bin/env bash
# `make test`'s last step: bring up the services the tests need, run pytest with the
# environment they print, and on any exit (failure and Ctrl-C included) stop the
# PostgreSQL server this run started. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
env_file=$(mktemp)
cleanup() {
    bash .ci/postgres.sh --cleanup
    rm -f "$env_file"
}
trap cleanup EXIT
bash .ci/services.sh > "$env_file" || exit 1
set -a
# shellcheck disable=SC1090
. "$env_file"
set +a
"${PYTHON:-.venv/bin/python}" -m pytest -q "$@"
