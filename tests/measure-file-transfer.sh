#!/usr/bin/env bash
# Sends one file of SIZE_MIB (default 200) from Alice to Bob through a local relay with the
# release binaries, checks it arrives byte-identical, and prints wall time and peak memory
# (VmHWM / max RSS) of the relay and of both clients. Figures go to docs/benchmarks.md.
#
#   cargo build --release --bin hush --bin hush-relay
#   tests/measure-file-transfer.sh [SIZE_MIB]
set -euo pipefail
SIZE_MIB=${1:-200}
BIN=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release}
WORK=$(mktemp -d)
trap 'kill "$RELAY_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
export HUSH_PASSPHRASE=measure HUSH_KDF=insecure-fast

"$BIN/hush-relay" serve --data-dir "$WORK/relay" --listen 127.0.0.1:0 >"$WORK/relay.out" 2>"$WORK/relay.log" &
RELAY_PID=$!
for _ in $(seq 100); do grep -q "relay address" "$WORK/relay.out" 2>/dev/null && break; sleep 0.1; done
RELAY=$(sed -n 's/^relay address: //p' "$WORK/relay.out")

hush() { "$BIN/hush" --home "$WORK/$1" "${@:2}"; }
hush alice init --relay "$RELAY" --name Alice >/dev/null
hush bob init --relay "$RELAY" --name Bob >/dev/null
hush alice add "$(hush bob invite)" --as bob >/dev/null
hush bob add "$(hush alice invite)" --as alice >/dev/null

head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$WORK/big.bin"
rss() { awk '/Maximum resident/ {print $6}' "$1"; }

start=$(date +%s.%N)
/usr/bin/time -v "$BIN/hush" --home "$WORK/alice" send-file bob "$WORK/big.bin" >/dev/null 2>"$WORK/send.time"
mid=$(date +%s.%N)
hush bob sync >/dev/null 2>&1
ID=$(hush bob files --json | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -1)
mid2=$(date +%s.%N)
/usr/bin/time -v "$BIN/hush" --home "$WORK/bob" save "$ID" "$WORK/copy.bin" >/dev/null 2>"$WORK/save.time"
end=$(date +%s.%N)

cmp "$WORK/big.bin" "$WORK/copy.bin" && echo "byte-identical: yes"
relay_hwm=$(awk '/VmHWM/ {print $2}' "/proc/$RELAY_PID/status")
left=$(find "$WORK/relay/blobs" -type f 2>/dev/null | wc -l)
echo "file: ${SIZE_MIB} MiB"
printf 'send-file: %.1f s, client peak RSS %d MiB\n' "$(echo "$mid - $start" | bc)" "$(( $(rss "$WORK/send.time") / 1024 ))"
printf 'save:      %.1f s, client peak RSS %d MiB\n' "$(echo "$end - $mid2" | bc)" "$(( $(rss "$WORK/save.time") / 1024 ))"
echo "relay peak RSS (VmHWM): $((relay_hwm / 1024)) MiB"
echo "blobs left on the relay's disk: $left"
