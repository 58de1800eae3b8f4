#!/usr/bin/env bash
# Builds Needletail and runs every test target (unit tests and the hiredis integration suite).
#
# Installs the test dependencies first when one is missing (hiredis headers for the integration tests,
# redis-server/redis-cli as the reference oracle, pkg-config to find hiredis); a second run installs nothing.
#
# Environment:
#   NEEDLETAIL_SCRATCH   build directory for `swift build/test --scratch-path` (default: SwiftPM's .build)
# Extra arguments go to `swift test` (e.g. `scripts/test.sh --filter RequestParserTests`).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
{ command -v pkg-config >/dev/null 2>&1 && pkg-config --exists hiredis; } || missing+=(libhiredis-dev)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)

if ((${#missing[@]} > 0)); then
    echo "test.sh: missing ${missing[*]}; installing the test dependencies" >&2
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y libhiredis-dev redis-server redis-tools pkg-config
fi

scratch=()
if [[ -n ${NEEDLETAIL_SCRATCH:-} ]]; then scratch=(--scratch-path "$NEEDLETAIL_SCRATCH"); fi

swift build "${scratch[@]}"
swift test "${scratch[@]}" "$@"
