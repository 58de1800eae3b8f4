#!/usr/bin/env bash
# redis-cli in interactive mode, driven through tmux as a person would type: the command hints that
# redis-cli builds from the server's COMMAND DOCS (e.g. `SET k` -> `value [NX|XX] [GET] ...`), `help`,
# and a few commands with their output. usage: redis_cli_interactive.sh PORT
# `help @group` is shown for @string, @hash, @list, @set and @sorted-set, whose commands needletail has all: the other groups
# list every command of the group, so they differ until needletail has all of them (@generic lacks WAIT,
# DUMP/RESTORE, ...; @connection lacks CLIENT TRACKING, ...).
# Prints the line being typed (with its hint) after each step, then the whole transcript; the port in
# the prompt is replaced by PORT so that the output of the two servers can be diffed.
set -uo pipefail
port=$1
session="needletail-clients-$port-$$"
tmux new-session -d -s "$session" -x 200 -y 50 "redis-cli -p $port"
trap 'tmux kill-session -t "$session" 2>/dev/null' EXIT

# Waits until the screen stops changing (redis-cli answers over the network; the hint is drawn after
# each keystroke), at most ~3 s.
settle() {
    local before="" now i
    for i in $(seq 30); do
        sleep 0.1
        now=$(tmux capture-pane -t "$session" -p)
        [[ "$now" == "$before" && -n "$now" ]] && return
        before=$now
    done
}
current_line() { tmux capture-pane -t "$session" -p | grep -v '^$' | tail -1 | sed "s/:$port>/:PORT>/"; }
type_keys() { tmux send-keys -t "$session" -l "$1"; settle; }

settle
for partial in "SET k" "SET k v " "ZADD z " "ZADD z NX " "ZRANGE z 0 -1 " "GETEX k " "EXPIRE k 10 " "CLIENT " \
               "CLIENT SETNAME " "CONFIG GET " "INCRBYFLOAT k " "MSET " "HELLO " "set k" "zrangestore " \
               "HSET h " "HINCRBY h f " "HSCAN h 0 " "SADD s " "SINTERCARD " "LPOP l " "BLPOP l " "LPOS l x " \
               "SORT k " "SORT k BY w_* " "SORT_RO k " "MEMORY USAGE k " "MEMORY "; do
    type_keys "$partial"
    printf 'typed %-18s -> %s\n' "'$partial'" "$(current_line)"
    tmux send-keys -t "$session" C-u; settle
done

for command in "FLUSHALL" "SET k v" "GET k" "INCR k" "ZADD z 1 a 2.5 b" "ZRANGE z 0 -1 WITHSCORES" "TTL k" \
               "HSET h f v g w" "HGETALL h" "SADD s 3 1 2" "SMEMBERS s" "RPUSH l a b c" "LPOP l 2" "BLPOP l 0.1" \
               "SORT s DESC" "help SET" "help ZADD" "help ZRANGE" "help PING" "help HELLO" "help CLIENT SETNAME" \
               "help HSET" "help SORT" "help LPOP" "help MEMORY USAGE" "help @string" "help @hash" "help @list" "help @set" \
               "help @sorted-set"; do
    type_keys "$command"
    tmux send-keys -t "$session" Enter; settle
done
echo "== transcript"
tmux capture-pane -t "$session" -p -S -2000 2>/dev/null | sed "s/:$port>/:PORT>/g" | grep -v '^$'
