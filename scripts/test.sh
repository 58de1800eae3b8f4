#!/usr/bin/env bash
# Builds Needletail and runs every test target (unit tests and the hiredis integration suite).
#
# Installs the build and test dependencies first when one is missing (scripts/deps.sh --test: Lua 5.1 with
# Debian's cjson and bitop modules, hiredis headers, redis-server/redis-cli as the reference oracle,
# pkg-config); a second run installs nothing.
#
# Environment:
#   NEEDLETAIL_SCRATCH   build directory for `swift build/test --scratch-path` (default: SwiftPM's .build)
#   NEEDLETAIL_TEST_JOBS test classes run at a time with no arguments (default: the number of cores)
# With no arguments every test class runs, several at a time (scripts/parallel-tests.py); arguments go to
# `swift test` instead (e.g. `scripts/test.sh --filter RequestParserTests`).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh --test

scratch=()
if [[ -n ${NEEDLETAIL_SCRATCH:-} ]]; then scratch=(--scratch-path "$NEEDLETAIL_SCRATCH"); fi

swift build "${scratch[@]}"
if [[ $# -eq 0 ]]; then
    # The whole suite: every test class in its own process, as many at a time as there are cores
    # (scripts/parallel-tests.py says why); NEEDLETAIL_TEST_JOBS=1 runs them one after another.
    swift build "${scratch[@]}" --build-tests
    bundle="$(swift build "${scratch[@]}" --show-bin-path)/NeedletailPackageTests.xctest"
    exec python3 scripts/parallel-tests.py "$bundle" "${NEEDLETAIL_TEST_JOBS:-$(nproc)}"
fi
# Every test is XCTest; without this flag an empty Swift Testing pass would print the last line ("0 tests").
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
swift test "${scratch[@]}" --disable-swift-testing "$@" 2>&1 | tee "$log" || status=$?
# One plain closing line for the whole run, from XCTest's per-bundle summaries.
python3 - "$log" <<'PY'
import re, sys
lines = open(sys.argv[1], errors="replace").read().splitlines()
executed = skipped = 0
for i, line in enumerate(lines):
    if re.match(r"Test Suite '(All tests|Selected tests)' (passed|failed)", line) and i + 1 < len(lines):
        # "Executed 15 tests, with 0 failures", or "Executed 15 tests, with 1 test skipped and 0 failures".
        m = re.search(r"Executed (\d+) tests?, with (?:(\d+) tests? skipped and )?(\d+) failures?", lines[i + 1])
        if m:
            executed += int(m.group(1))
            skipped += int(m.group(2) or 0)
# XCTest's "failures" count failed assertions (one test can have many): count the tests that failed.
failed = sum(1 for line in lines if re.match(r"Test Case '.*' failed \(", line))
print(f"tests: {executed - failed - skipped} passed, {failed} failed, {skipped} skipped")
PY
exit "$status"
