#!/usr/bin/env bash
# The README's test command: installs what the tests need beyond Rust (only what is missing,
# so re-runs are fast), then runs the whole workspace's tests.
#
# Beyond cargo, the FFI tests (client-core/ffi/tests/foreign.rs) compile and run C, C++,
# Python and Kotlin programs against the library: they need cc, g++, python3, a JDK (java),
# JNA (Debian's libjna-java) and kotlinc (the npm package kotlin-compiler, which bundles
# kotlinx-coroutines; Debian's kotlin is too old). Installing needs root (apt-get, npm -g).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ -f /usr/share/java/jna.jar ] || missing+=(libjna-java)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "tests/run.sh: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

kotlin_home="${KOTLIN_HOME:-$(npm root -g)/kotlin-compiler}"
if [ ! -x "$kotlin_home/bin/kotlinc" ]; then
    echo "tests/run.sh: installing kotlin-compiler (npm)"
    npm install -g --no-fund --no-audit kotlin-compiler
fi
export KOTLIN_HOME="$kotlin_home"

cargo test --workspace "$@"
