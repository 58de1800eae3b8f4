#!/usr/bin/env bash
# The client libraries' own test suites against needletail and redis-server, side by side: redis-py's tests/
# (sync and asyncio, RESP2 and RESP3), fakeredis's real-server tests (`-m real`), walrus's tests and kombu's
# Redis integration tests (Celery's transport). Prints the tests whose outcome (pass, fail, skip) differs
# between the two servers. Not part of CI: it downloads the projects' source distributions from PyPI and runs
# for about 20 minutes.
#
#   IntegrationTests/clients/suites.sh [path/to/needletail-server]     (default: the debug build in .build)
#
# Settings: SUITES_DIR (where the sources, venv and results go; default ~/.cache/needletail-suites),
# REDIS_PY_VERSION (default 8.2.0), FAKEREDIS_VERSION (default 2.41.0), WALRUS_VERSION (0.9.8),
# KOMBU_VERSION (5.7.0), SUITES (the ones to run, default "redis-py fakeredis walrus kombu").
#
# A test skipped on redis-server 7.0 and run on needletail is one gated on 7.2 (needletail's INFO says 7.2.4);
# one failing on both needs a newer Redis or a cluster. redis-py's tests pick the port from --redis-url;
# fakeredis's always use port 6390, so that port must be free (each server takes it in turn).
set -euo pipefail
cd "$(dirname "$0")/../.."
needletail=$(realpath "${1:-.build/debug/needletail-server}")
dir=${SUITES_DIR:-$HOME/.cache/needletail-suites}
redis_py=${REDIS_PY_VERSION:-8.2.0}
fakeredis=${FAKEREDIS_VERSION:-2.41.0}
walrus=${WALRUS_VERSION:-0.9.8}
kombu=${KOMBU_VERSION:-5.7.0}
suites=" ${SUITES:-redis-py fakeredis walrus kombu} "
wants() { [[ $suites == *" $1 "* ]]; }
mkdir -p "$dir"
cd "$dir"

if [[ ! -d venv ]]; then python3 -m venv venv; fi
for project in "redis $redis_py" "fakeredis $fakeredis" "walrus $walrus" "kombu $kombu"; do
    set -- $project
    if [[ ! -d $1-$2 ]]; then
        venv/bin/pip download -q --no-deps --no-binary :all: "$1==$2" && tar xzf "$1-$2.tar.gz"
    fi
done
venv/bin/pip install -q -e "redis-$redis_py" pytest pytest-asyncio pytest-timeout mock packaging ujson numpy \
    hypothesis pytest-mock valkey case -e "fakeredis-$fakeredis[lua,json,bf,cf,probabilistic]" \
    -e "walrus-$walrus" -e "kombu-$kombu[redis]"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pid=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null || true' EXIT
start() {  # start NAME BINARY PORT
    mkdir -p "data-$1"
    "$2" --port "$3" --save '' --appendonly no --enable-debug-command yes --dir "data-$1" >"server-$1.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do redis-cli -p "$3" ping >/dev/null 2>&1 && return; sleep 0.1; done
    echo "$1 did not start" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

redis_py_files=(tests/test_commands.py tests/test_hash.py tests/test_pipeline.py tests/test_pubsub.py
    tests/test_lock.py tests/test_scripting.py tests/test_function.py tests/test_connection.py tests/test_encoding.py
    tests/test_monitor.py tests/test_keyspace_notifications.py tests/test_data_structure.py tests/test_helpers.py
    tests/test_connection_pool.py tests/test_client.py tests/test_asyncio/test_commands.py
    tests/test_asyncio/test_hash.py tests/test_asyncio/test_pipeline.py tests/test_asyncio/test_pubsub.py
    tests/test_asyncio/test_lock.py tests/test_asyncio/test_scripting.py tests/test_asyncio/test_function.py
    tests/test_asyncio/test_connection.py tests/test_asyncio/test_encoding.py tests/test_asyncio/test_monitor.py)
for name in redis needletail; do
    binary=redis-server; [[ $name == needletail ]] && binary=$needletail
    port=$(free_port)
    start "$name" "$binary" "$port"
    for protocol in 2 3; do
        wants redis-py || continue
        (cd "redis-$redis_py" && timeout 1800 ../venv/bin/python -m pytest -q -p no:cacheprovider --timeout 30 \
            --redis-url "redis://127.0.0.1:$port" --protocol "$protocol" --junitxml "$dir/redis-py-$protocol-$name.xml" \
            "${redis_py_files[@]}" >"$dir/redis-py-$protocol-$name.log" 2>&1) || true
        echo "redis-py RESP$protocol, $name: $(tail -1 "redis-py-$protocol-$name.log")"
    done
    wants walrus && (cd "walrus-$walrus" && WALRUS_REDIS_PORT=$port timeout 900 ../venv/bin/python -m pytest -q -p no:cacheprovider \
        -o python_files=__init__.py --junitxml "$dir/walrus-$name.xml" walrus/tests/__init__.py >"$dir/walrus-$name.log" 2>&1) || true
    wants walrus && echo "walrus, $name: $(tail -1 "walrus-$name.log")"
    wants kombu && (cd "kombu-$kombu" && REDIS_6379_TCP=$port timeout 900 ../venv/bin/python -m pytest -q -p no:cacheprovider -o addopts= \
        --timeout 60 --junitxml "$dir/kombu-$name.xml" t/integration/test_redis.py >"$dir/kombu-$name.log" 2>&1) || true
    wants kombu && echo "kombu, $name: $(tail -1 "kombu-$name.log")"
    stop
    wants fakeredis || continue
    start "$name" "$binary" 6390
    (cd "fakeredis-$fakeredis" && timeout 1800 ../venv/bin/python -m pytest -q -p no:cacheprovider --timeout 30 -m real \
        --junitxml "$dir/fakeredis-$name.xml" test --ignore=test/test_hypothesis --ignore=test/test_stack \
        --ignore=test/test_dragonfly --ignore=test/test_valkey --ignore=test/test_kividb --ignore=test/test_tcp_server \
        >"$dir/fakeredis-$name.log" 2>&1) || true
    echo "fakeredis, $name: $(tail -1 "fakeredis-$name.log")"
    stop
done

# The tests whose outcome differs.
python3 - "$dir" $suites <<'PY'
import os, sys, xml.etree.ElementTree as ET
def outcomes(path):
    result = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        state, message = "pass", ""
        for child in case:
            if child.tag in ("failure", "error"):
                state, message = "fail", (child.get("message") or "")
            elif child.tag == "skipped":
                state, message = "skip", (child.get("message") or "")
        result[case.get("classname") + "::" + case.get("name")] = (state, " ".join(message.split())[:160])
    return result
runs = {"redis-py": ["redis-py-2", "redis-py-3"], "fakeredis": ["fakeredis"], "walrus": ["walrus"], "kombu": ["kombu"]}
for run in (r for suite in sys.argv[2:] for r in runs.get(suite, [])):
    if not os.path.exists(f"{sys.argv[1]}/{run}-needletail.xml"):
        print(f"\n== {run}: no results")
        continue
    redis, ours = outcomes(f"{sys.argv[1]}/{run}-redis.xml"), outcomes(f"{sys.argv[1]}/{run}-needletail.xml")
    differing = sorted(k for k in set(redis) | set(ours) if redis.get(k, ("-",))[0] != ours.get(k, ("-",))[0])
    print(f"\n== {run}: {len(differing)} tests differ (redis-server / needletail)")
    for k in differing:
        r, n = redis.get(k, ("-", "")), ours.get(k, ("-", ""))
        print(f"{k}\n    redis-server: {r[0]} {r[1]}\n    needletail:   {n[0]} {n[1]}")
PY
