#!/usr/bin/env bash
# Side-by-side benchmark of needletail against Debian's redis-server (issue 6).
#
#   bench/run.sh            full run (~10-15 minutes), writes bench/RESULTS.md
#   bench/run.sh --quick    2-minute smoke run, writes /tmp/needletail-bench-quick.md
#   bench/run.sh --head     measure the last commit (a clean export), not the edits in the worktree
#
# Other options go to bench/bench.py (see `bench/run.sh --help`): --rounds N, --only SECTIONS, --out FILE,
# --keep (keep the temporary directory with server logs and callgrind dumps).
# Needs redis-server, redis-tools (redis-benchmark, redis-cli) and python3 (standard library only);
# valgrind for the instructions-per-operation section, taskset (util-linux) for pinning. Nothing here runs in CI.
set -euo pipefail

cd "$(dirname "$0")/.."
scratch=${NEEDLETAIL_SCRATCH:-.build-bench}

for tool in redis-server redis-benchmark redis-cli python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "bench: $tool not found (apt-get install redis-server redis-tools python3)" >&2
        exit 1
    fi
done

# --head measures the last commit exactly: a `git archive` export of HEAD is built on its own, so edits in
# progress in a shared worktree are left out. Without it, the working tree is built as it is.
package=.
args=()
for a in "$@"; do
    if [[ $a == --head ]]; then package="$scratch/head-src"; else args+=("$a"); fi
done
commit=$(git log -1 --format='%h "%<(60,trunc)%s' 2>/dev/null | sed 's/ *$/"/' || echo unknown)
if [[ $package == . ]]; then
    changed=$(git status --short --untracked-files=no 2>/dev/null | wc -l)
    source="working tree at $commit ($changed files with uncommitted changes)"
else
    source="commit $commit (clean export of HEAD)"
fi
binary="$package/$scratch/release/needletail-server"
[[ $package == . ]] && binary="$scratch/release/needletail-server"

if [[ " ${args[*]} " != *" --help "* && " ${args[*]} " != *" --no-build "* ]]; then
    if [[ $package != . ]]; then
        rm -rf "$package" && mkdir -p "$package"
        git archive HEAD | tar -x -C "$package"
    fi
    echo "bench: building needletail-server (release) from the $source" >&2
    swift build -c release --package-path "$package" --scratch-path "$package/$scratch" \
        --product needletail-server >&2
fi

exec python3 bench/bench.py --needletail "$binary" --source "$source" "${args[@]}"
