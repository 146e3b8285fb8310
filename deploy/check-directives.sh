#!/usr/bin/env bash
# Checks that every directive in systemd unit files (or drop-ins) is one that a given systemd
# accepts, from an allow-list such as ../shared/deploy/systemd-219-directives.txt (one line per
# section: `[Service] Key1 Key2 ...`; `#` lines are comments).
#
#   deploy/check-directives.sh ALLOW-LIST UNIT-FILE...
#
# Exits 0 when all are known; otherwise prints `FILE:LINE: [Section] Key=...` for each unknown
# directive, section or malformed line and exits 1. `systemd-analyze verify` cannot do this for
# an older systemd: it knows the directives of the systemd installed here, and even for those it
# does not know it only warns and exits 0.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 ALLOW-LIST UNIT-FILE..." >&2
    exit 2
fi
allow="$1"
shift
[[ -r "$allow" ]] || { echo "$0: cannot read $allow" >&2; exit 2; }

awk '
    # The allow-list: "[Section] Key Key ...".
    FNR == NR {
        if ($0 ~ /^[[:space:]]*(#|$)/) next
        if ($1 !~ /^\[[A-Za-z]+\]$/) { printf "%s:%d: bad allow-list line\n", FILENAME, FNR; bad = 1; next }
        section = $1
        sections[section] = 1
        for (i = 2; i <= NF; i++) allowed[section, $i] = 1
        listed += NF - 1
        next
    }
    FNR == 1 { current = ""; continued = 0 }
    {
        line = $0
        sub(/^[[:space:]]+/, "", line)
        sub(/[[:space:]]+$/, "", line)
        # A line ending in a backslash continues its value on the next line.
        if (continued) { continued = (line ~ /\\$/); next }
        if (line == "" || line ~ /^[#;]/) next
        if (line ~ /^\[.*\]$/) {
            current = line
            if (!(current in sections)) {
                printf "%s:%d: unknown section %s\n", FILENAME, FNR, current
                bad = 1
            }
            next
        }
        eq = index(line, "=")
        if (eq == 0 || current == "") {
            printf "%s:%d: not a Key=value line in a section: %s\n", FILENAME, FNR, line
            bad = 1
            next
        }
        key = substr(line, 1, eq - 1)
        sub(/[[:space:]]+$/, "", key)
        continued = (line ~ /\\$/)
        checked++
        if (!((current, key) in allowed)) {
            printf "%s:%d: %s %s= is not a directive this systemd accepts\n", FILENAME, FNR, current, key
            bad = 1
        }
    }
    END {
        if (listed == 0) { print "empty allow-list"; exit 1 }
        if (checked == 0) { print "no directives found"; exit 1 }
        exit bad
    }
' "$allow" "$@"
