#!/usr/bin/env bash
# Stock clients against redis-server and needletail, side by side.
#
# Installs what is missing (Debian packages with apt-get, redis-py and hiredis with pip into a venv), builds
# needletail-server, starts it and redis-server on free ports, runs every client script against both, diffs
# the outputs and prints a table: client | redis | needletail | same?. Exits non-zero when any row differs or
# fails. Not part of CI (it installs a lot); see README.md beside this file.
#
# Environment:
#   NEEDLETAIL_SERVER    use this needletail-server binary instead of building one
#   NEEDLETAIL_SCRATCH   scratch path for `swift build` (default: SwiftPM's .build)
#   NEEDLETAIL_BUILD     debug (default) or release
#   CLIENTS_VENV         the Python venv for redis-py (default: ~/.cache/needletail-clients/venv)
#   CLIENTS_RESULTS      where the outputs are kept (default: a new directory under /tmp)
#   CLIENTS_NO_INSTALL   set to 1 to install nothing (missing clients are reported as not installed)
# Arguments: names of rows to run (substring match, e.g. `run.sh redis-py perl`); none = all.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
only=("$@")

# ---------------------------------------------------------------------------------------------- installs
debian_packages=(redis-server redis-tools tmux python3 node-redis ruby-redis php-cli php-redis php-predis
                 golang-go golang-github-gomodule-redigo-dev libredis-perl libredis-fast-perl lua5.1 lua-redis
                 lua-socket)
venv=${CLIENTS_VENV:-$HOME/.cache/needletail-clients/venv}
if [[ ${CLIENTS_NO_INSTALL:-0} != 1 ]]; then
    missing=()
    for package in "${debian_packages[@]}"; do
        dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
    done
    # node-redis needs a node binary; Debian's nodejs provides one unless another node is already installed.
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    if ((${#missing[@]} > 0)); then
        echo "run.sh: installing ${missing[*]}" >&2
        sudo=()
        if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
        "${sudo[@]}" apt-get update >/dev/null
        # One by one, so that a package Debian does not have leaves the others installed (its rows then fail).
        for package in "${missing[@]}"; do
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$package" \
                >/dev/null 2>&1 || echo "run.sh: apt-get could not install $package" >&2
        done
    fi
    if [[ ! -x $venv/bin/python ]]; then
        python3 -m venv "$venv" 2>/dev/null || {
            # Debian's python3 keeps venv in a separate package.
            sudo=(); if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >/dev/null 2>&1
            python3 -m venv "$venv"
        }
    fi
    "$venv/bin/python" -c 'import redis, hiredis' 2>/dev/null \
        || "$venv/bin/python" -m pip install --quiet --upgrade redis hiredis >&2 \
        || echo "run.sh: pip could not install redis/hiredis" >&2
fi
python=$venv/bin/python
[[ -x $python ]] || python=python3

# ----------------------------------------------------------------------------------------------- servers
if [[ -n ${NEEDLETAIL_SERVER:-} ]]; then
    needletail=$NEEDLETAIL_SERVER
else
    scratch=(); [[ -n ${NEEDLETAIL_SCRATCH:-} ]] && scratch=(--scratch-path "$NEEDLETAIL_SCRATCH")
    config=${NEEDLETAIL_BUILD:-debug}
    (cd "$root" && swift build -c "$config" "${scratch[@]}" --product needletail-server >&2) || exit 1
    needletail="$(cd "$root" && swift build -c "$config" "${scratch[@]}" --show-bin-path)/needletail-server"
fi

results=${CLIENTS_RESULTS:-$(mktemp -d /tmp/needletail-clients.XXXXXX)}
mkdir -p "$results"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
redis_port=$(free_port)
needletail_port=$(free_port)
while [[ $needletail_port == "$redis_port" ]]; do needletail_port=$(free_port); done

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
redis-server --port "$redis_port" --save '' --appendonly no > "$results/redis-server.log" 2>&1 &
pids+=($!)
"$needletail" --port "$needletail_port" --save '' --appendonly no > "$results/needletail-server.log" 2>&1 &
pids+=($!)
for port in "$redis_port" "$needletail_port"; do
    for _ in $(seq 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$port" PING >/dev/null 2>&1 || { echo "run.sh: no server answers on port $port" >&2; exit 1; }
done
echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on port $redis_port," \
     "needletail ($needletail) on port $needletail_port; outputs in $results" >&2

# ------------------------------------------------------------------------------------------------ clients
# Each row: a label, a command line with @PORT@ for the server's port (run in this folder), and a check that
# the client is installed (a row whose check fails is reported as "not installed" and counts as failed).
go_env=(env GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOFLAGS= GOCACHE="$results/gocache")
redigo_binary=$results/redigo-client
rows=()
add() { rows+=("$1"$'\t'"$2"$'\t'"$3"); }
version() { "$@" 2>/dev/null | head -1; }
py_version=$("$python" -c 'import redis; print(redis.__version__)' 2>/dev/null)
hiredis_py_version=$("$python" -c 'import hiredis; print(hiredis.__version__)' 2>/dev/null)
for protocol in default protocol=2 protocol=3; do
    add "redis-py ${py_version:-?} $protocol, hiredis ${hiredis_py_version:-?}" "$python redis_py.py @PORT@ $protocol hiredis" \
        "$python -c 'import redis, hiredis'"
    add "redis-py ${py_version:-?} $protocol, Python parser" "$python redis_py.py @PORT@ $protocol python" \
        "$python -c 'import redis'"
done
for protocol in protocol=2 protocol=3; do
    add "redis-py ${py_version:-?} $protocol: pipeline, WATCH retries, transaction(), BLPOP worker" \
        "$python redis_py_transactions.py @PORT@ $protocol" "$python -c 'import redis'"
done
for protocol in protocol=2 protocol=3; do
    add "redis-py ${py_version:-?} $protocol: PubSub, run_in_thread, keyspace notifications, client-side cache (3)" \
        "$python redis_py_pubsub.py @PORT@ $protocol" "$python -c 'import redis'"
done
add "redis-py ${py_version:-?}: Lock (release is EVALSHA: needs scripting, issue 18)" \
    "$python redis_py_transactions.py @PORT@ protocol=2 lock" "$python -c 'import redis'"
cli_version=$(redis-cli --version 2>/dev/null | awk '{ print $2 }')
add "redis-cli $cli_version (commands, -3, --pipe, --scan, --bigkeys, --memkeys)" "./redis_cli.sh @PORT@" "command -v redis-cli"
add "redis-cli $cli_version interactive (hints, help)" "./redis_cli_interactive.sh @PORT@" "command -v redis-cli tmux"
add "redis-benchmark $cli_version" "./redis_benchmark.sh @PORT@" "command -v redis-benchmark"
node_version=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' /usr/share/nodejs/redis/package.json 2>/dev/null | head -1)
add "node-redis ${node_version:-?}" "env NODE_PATH=/usr/share/nodejs node node_redis.js @PORT@" \
    "env NODE_PATH=/usr/share/nodejs node -e 'require(\"redis\")'"
add "redis-rb $(version ruby -e 'require "redis"; puts Redis::VERSION')" "ruby redis_rb.rb @PORT@" "ruby -e 'require \"redis\"'"
add "phpredis $(version php -r 'echo phpversion("redis");')" "php phpredis.php @PORT@" \
    "php -r 'exit(extension_loaded(\"redis\") ? 0 : 1);'"
add "Predis $(version php -r 'require "/usr/share/php/Predis/autoload.php"; echo Predis\Client::VERSION;')" "php predis.php @PORT@" \
    "php -r 'require \"/usr/share/php/Predis/autoload.php\";'"
add "redigo $(dpkg-query -W -f '${Version}' golang-github-gomodule-redigo-dev 2>/dev/null | sed 's/^[0-9]*://;s/-[^-]*$//')" \
    "$redigo_binary @PORT@" "test -x $redigo_binary"
add "Perl Redis $(version perl -MRedis -e 'print $Redis::VERSION')" "perl perl_redis.pl @PORT@ Redis" "perl -MRedis -e 1"
add "Perl Redis::Fast $(version perl -MRedis::Fast -e 'print $Redis::Fast::VERSION')" "perl perl_redis.pl @PORT@ Redis::Fast" \
    "perl -MRedis::Fast -e 1"
add "redis-lua $(dpkg-query -W -f '${Version}' lua-redis 2>/dev/null | sed 's/[~+].*//')" "lua5.1 lua_redis.lua @PORT@" \
    "lua5.1 -e 'require \"redis\"'"

# redigo is compiled once, offline, against Debian's source package (GOPATH mode: no module download).
if command -v go >/dev/null 2>&1 && [[ -d /usr/share/gocode/src/github.com/gomodule/redigo ]]; then
    (cd "$here/redigo" && "${go_env[@]}" go build -o "$redigo_binary" main.go) > "$results/redigo-build.log" 2>&1
fi

wanted() {
    ((${#only[@]} == 0)) && return 0
    local pattern; for pattern in "${only[@]}"; do [[ $1 == *"$pattern"* ]] && return 0; done
    return 1
}

# status of one run: "ok" when the script exited 0 and printed its last line, else why not
run_one() {
    local command=$1 port=$2 out=$3 status
    (cd "$here" && timeout 300 bash -c "${command//@PORT@/$port}") > "$out" 2> "$out.stderr"
    status=$?
    if ((status == 0)); then echo ok; elif ((status == 124)); then echo "timed out"; else echo "exit $status"; fi
}

failures=0
table=()
for row in "${rows[@]}"; do
    IFS=$'\t' read -r label command check <<< "$row"
    wanted "$label" || continue
    name=$(echo "$label" | tr -c 'A-Za-z0-9=.\n' '_' | tr -s _)
    if ! bash -c "$check" >/dev/null 2>&1; then
        echo "--- $label: not installed ($check failed)" >&2
        table+=("$label"$'\t'"not installed"$'\t'"not installed"$'\t'"NO"); failures=$((failures + 1))
        continue
    fi
    echo "running: $label" >&2
    r=$(run_one "$command" "$redis_port" "$results/$name.redis")
    n=$(run_one "$command" "$needletail_port" "$results/$name.needletail")
    if [[ $r == ok && $n == ok ]] && cmp -s "$results/$name.redis" "$results/$name.needletail"; then
        same=yes
    else
        same=NO; failures=$((failures + 1))
        if cmp -s "$results/$name.redis" "$results/$name.needletail"; then
            echo "--- $label: output equal, but: redis $r, needletail $n" >&2
            tail -5 "$results/$name.redis.stderr" "$results/$name.needletail.stderr" >&2
        else
            echo "--- $label: differences (< redis-server, > needletail):" >&2
            diff "$results/$name.redis" "$results/$name.needletail" | head -40 >&2
        fi
    fi
    table+=("$label"$'\t'"$r"$'\t'"$n"$'\t'"$same")
done

# INFO's field names after all that traffic: not part of the verdict (versions and sections needletail does
# not have yet differ by design) but listed so that a client reading a field we lack is easy to spot.
# Per-command and per-error fields are folded into one name each (cmdstat_*, errorstat_*, ...).
info_fields() {
    redis-cli -p "$1" INFO everything | tr -d '\r' | grep -v '^#' | grep ':' | cut -d: -f1 \
        | sed -E 's/^(cmdstat_|errorstat_|latency_percentiles_usec_).*/\1*/' | sort -u
}
info_fields "$redis_port" > "$results/info-fields.redis"
info_fields "$needletail_port" > "$results/info-fields.needletail"

echo
printf '| %-70s | %-13s | %-13s | %-5s |\n' client redis needletail same?
printf '|-%s-|-%s-|-%s-|-%s-|\n' "$(printf '%.0s-' {1..70})" "$(printf '%.0s-' {1..13})" "$(printf '%.0s-' {1..13})" "-----"
for line in "${table[@]}"; do
    IFS=$'\t' read -r label r n same <<< "$line"
    printf '| %-70s | %-13s | %-13s | %-5s |\n' "$label" "$r" "$n" "$same"
done
echo
echo "INFO fields redis-server has and needletail lacks: $(comm -23 "$results/info-fields.redis" "$results/info-fields.needletail" | tr '\n' ' ')"
echo "INFO fields only needletail has: $(comm -13 "$results/info-fields.redis" "$results/info-fields.needletail" | tr '\n' ' ')"
echo "outputs: $results"
total=${#table[@]}
echo "clients: $((total - failures)) passed, $failures failed"
((failures == 0))
