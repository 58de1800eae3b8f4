#!/usr/bin/env bash
# Runs the whole test suite (unit and integration tests) under AddressSanitizer or ThreadSanitizer, and
# fails if any sanitizer report was written, by the test process or by any needletail-server it started.
#
#   scripts/sanitize.sh [address|thread] [extra swift test arguments, e.g. --filter ThreadPoolTests]
#
# The integration tests start needletail-server as a child process and delete its log when a test passes,
# so a report there could go unnoticed. Every sanitized process therefore writes its reports to files
# (log_path) in a fresh directory, checked after the run: test.<pid> for the test process, server.<pid>
# for the servers, which the harness runs through a small wrapper ($NEEDLETAIL_SERVER) that sets their
# options. The directory is kept only when it holds a report.
#
# AddressSanitizer: leak checking runs in the servers (at their clean SIGTERM exit), with the suppressions
# in scripts/sanitizers/lsan.supp; it is off in the XCTest process, because swift-corelibs-xctest keeps
# every test case object in a reference cycle, which LeakSanitizer reports as hundreds of leaks that are
# XCTest's, not ours (the library code those tests run is the server's, checked there).
# ThreadSanitizer: both processes, with scripts/sanitizers/tsan.supp.
#
# Environment:
#   NEEDLETAIL_SCRATCH   build directory (default .build-asan / .build-tsan)
#   ASAN_OPTIONS / TSAN_OPTIONS   appended to this script's options (later options win)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

kind=${1:-address}
(($# > 0)) && shift
case $kind in
    address) short=asan; var=ASAN_OPTIONS ;;
    thread) short=tsan; var=TSAN_OPTIONS ;;
    *) echo "usage: scripts/sanitize.sh [address|thread] [swift test arguments]" >&2; exit 2 ;;
esac

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
{ command -v pkg-config >/dev/null 2>&1 && pkg-config --exists hiredis; } || missing+=(libhiredis-dev)
if ((${#missing[@]} > 0)); then
    echo "sanitize.sh: missing ${missing[*]}; run scripts/test.sh once, it installs the test dependencies" >&2
    exit 1
fi

scratch=${NEEDLETAIL_SCRATCH:-.build-$short}
reports=$(mktemp -d "/tmp/needletail-$short.XXXXXX")
user_options=${!var:-}

# halt_on_error: stop at the first report (a server that stops makes its test fail too); exitcode 66 says
# "sanitizer" rather than a test failure.
common="halt_on_error=1:exitcode=66"
if [[ $kind == address ]]; then
    test_options="log_path=$reports/test:$common:detect_leaks=0"
    server_options="log_path=$reports/server:$common:detect_leaks=1"
    server_env="export LSAN_OPTIONS='suppressions=$root/scripts/sanitizers/lsan.supp:print_suppressions=0'"
else
    test_options="log_path=$reports/test:$common:suppressions=$root/scripts/sanitizers/tsan.supp"
    server_options="log_path=$reports/server:$common:suppressions=$root/scripts/sanitizers/tsan.supp"
    server_env=""
fi
[[ -n $user_options ]] && test_options+=":$user_options" && server_options+=":$user_options"

start=$SECONDS
swift build --build-tests --sanitize="$kind" --scratch-path "$scratch"
bin=$(swift build --sanitize="$kind" --scratch-path "$scratch" --show-bin-path)

cat >"$reports/needletail-server" <<EOF
#!/bin/sh
export $var='$server_options'
$server_env
exec '$bin/needletail-server' "\$@"
EOF
chmod +x "$reports/needletail-server"

status=0
env "$var=$test_options" NEEDLETAIL_SERVER="$reports/needletail-server" \
    swift test --sanitize="$kind" --scratch-path "$scratch" "$@" || status=$?

found=$(find "$reports" -type f -name 'test.*' -o -type f -name 'server.*' | sort)
if [[ -n $found ]]; then
    for f in $found; do
        echo "=== $f"
        cat "$f"
    done
    echo "sanitize.sh: $(echo "$found" | wc -l) sanitizer report file(s) in $reports" >&2
    status=1
else
    rm -rf "$reports"
fi
echo "sanitize.sh: $kind run finished in $((SECONDS - start)) s, exit status $status" >&2
exit $status
