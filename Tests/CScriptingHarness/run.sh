#!/bin/sh
# Builds the harness with our cmsgpack and struct libraries and compares them
# with redis-server 7.0 (started on a free port and stopped again by compare.py).
#
#   ./run.sh                   hand-written corpus + 3000 random snippets (seed 1)
#   ./run.sh --random 10000 --seed 7 ...   extra arguments go to compare.py
#   CC=clang ./run.sh          build with another compiler
#   SANITIZE=1 ./run.sh        build with -fsanitize=address,undefined
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../../Sources/CScripting"
build="$here/.build"  # ignored by the repository's .gitignore
mkdir -p "$build"
cc=${CC:-gcc}
flags="-std=c99 -D_POSIX_C_SOURCE=200809L -O2 -g -Wall -Wextra -Werror"
if [ "${SANITIZE:-0}" = 1 ]; then
    flags="$flags -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
fi
# shellcheck disable=SC2086
$cc $flags -I/usr/include/lua5.1 -I"$src/include" \
    "$here/harness.c" "$src/lua_cmsgpack.c" "$src/lua_struct.c" \
    -llua5.1 -lm -o "$build/harness"
if [ $# -eq 0 ]; then
    set -- --random 3000 --seed 1
fi
exec python3 "$here/compare.py" --harness "$build/harness" "$here/corpus.txt" "$@"
