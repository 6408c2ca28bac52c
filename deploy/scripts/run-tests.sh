#!/usr/bin/env bash
# `make test`: lint, then every test against the real stack. Engines that were not running
# before are stopped afterwards, pass or fail (the pytest session fixture does the same; this
# trap also covers a pytest that was killed).
set -uo pipefail
cd "$(dirname "$0")/../.."
tw=.venv/bin/tidewire

.venv/bin/ruff check . || exit 1
.venv/bin/ruff format --check . || exit 1
.venv/bin/mypy || exit 1
# The JavaScript SDK: its types (tsc over JSDoc) and its unit tests, before the stack starts.
npm run --silent --prefix sdk/js check || exit 1
npm test --silent --prefix sdk/js || exit 1
# The gateway emitter: its types, its declarations and its unit tests.
npm run --silent --prefix sdk/emitter check || exit 1
npm test --silent --prefix sdk/emitter || exit 1

was_running=no
$tw infra status --quiet >/dev/null 2>&1 && was_running=yes
cleanup() {
  if [ "$was_running" = no ]; then $tw down >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT INT TERM

.venv/bin/pytest "$@"
rc=$?
# pytest exits 5 when it collected nothing: that is a broken suite, never a pass.
[ $rc -eq 5 ] && { echo "no tests were collected" >&2; exit 1; }
exit $rc
