#!/usr/bin/env bash
# Installs what Needletail needs from Debian's packages when something is missing; a second run installs
# nothing. With no argument: what the build needs (Lua 5.1 with its cjson and bitop modules, for scripting,
# OpenSSL for TLS, and pkg-config to find them). With --test: also what the tests need (hiredis headers for the integration
# tests, redis-server and redis-cli as the reference oracle, redis-sentinel to fail over
# our replicas, the openssl tool to make the TLS tests' certificates). Uses sudo when not run as root.
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
{ command -v pkg-config >/dev/null 2>&1 && pkg-config --exists lua5.1; } || missing+=(liblua5.1-0-dev)
[[ -e /usr/include/lua5.1/lua-cjson.h ]] || missing+=(lua-cjson-dev)
[[ -e /usr/include/lua5.1/lua-bitop.h ]] || missing+=(lua-bitop-dev)
{ command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openssl; } || missing+=(libssl-dev)
if [[ ${1:-} == --test ]]; then
    { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists hiredis; } || missing+=(libhiredis-dev)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
    command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
fi

if ((${#missing[@]} > 0)); then
    echo "deps.sh: missing ${missing[*]}; installing them" >&2
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi
