#!/usr/bin/env bash
# Makes a throwaway CA and a server and a client certificate signed by it, for the TLS tests and bench/tls.sh
# (as Redis's utils/gen-test-certs.sh):  scripts/gen-test-certs.sh DIR  ->  DIR/{ca,server,client}.{crt,key}
set -euo pipefail
cd "$1"
openssl genrsa -out ca.key 2048 2>/dev/null
openssl req -x509 -new -nodes -sha256 -key ca.key -days 30 -subj '/O=Needletail Test/CN=Test CA' -out ca.crt
for n in server client; do
    openssl genrsa -out $n.key 2048 2>/dev/null
    openssl req -new -sha256 -subj "/O=Needletail Test/CN=$n" -key $n.key |
        openssl x509 -req -sha256 -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -out $n.crt 2>/dev/null
done
