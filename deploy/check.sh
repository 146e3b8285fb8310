#!/usr/bin/env bash
# Builds the glibc-2.26 relay and its RPM (deploy/build.sh) and checks what Amazon Linux 2 and
# 2023 need of them. Run by .ci/run; needs cargo-zigbuild, rpm/rpmbuild, systemd-analyze and
# readelf (.ci/run installs them; see deploy/README.md, "Build the package").
#
#   deploy/check.sh                  # build, then check
#   HUSH_SKIP_CARGO=1 deploy/check.sh  # reuse the last binary, rebuild the RPMs, check
#
# Each check prints `ok - ...` or `FAIL - ...`; the script exits 1 if any failed. The checkers
# that could silently pass (directive list, systemd-analyze's stderr, the GLIBC parser) are
# first shown to fail on a bad input.
set -euo pipefail

DEPLOY="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$DEPLOY")"
cd "$ROOT"
ALLOW_219="${HUSH_SYSTEMD_219_DIRECTIVES:-$ROOT/../shared/deploy/systemd-219-directives.txt}"
MAX_GLIBC=2.26
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

failures=0
ok() { printf 'ok - %s\n' "$*"; }
fail() { printf 'FAIL - %s\n' "$*"; failures=$((failures + 1)); }
check() { # check DESCRIPTION COMMAND...: ok when COMMAND succeeds
    local what="$1"
    shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}
section() { printf '\n# %s\n' "$*"; }

for tool in cargo-zigbuild rpm rpmbuild systemd-analyze readelf; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool (see deploy/README.md)" >&2; exit 2; }
done
[[ -r "$ALLOW_219" ]] || { echo "missing $ALLOW_219" >&2; exit 2; }

section "build"
t0=$(date +%s)
mapfile -t built < <("$DEPLOY/build.sh")
t1=$(date +%s)
BIN="${built[0]}"
RPM1="${built[1]}"
# A second release whose packaged config differs, to check that an upgrade keeps local edits.
{ cat "$DEPLOY/relay.toml"; echo "# (changed default in release 2)"; } >"$WORK/relay-r2.toml"
mapfile -t built2 < <(HUSH_SKIP_CARGO=1 HUSH_RPM_RELEASE=2 HUSH_RPM_CONFIG="$WORK/relay-r2.toml" \
    "$DEPLOY/build.sh")
RPM2="${built2[1]}"
t2=$(date +%s)
echo "build: binary + RPM $((t1 - t0)) s; the release-2 RPM $((t2 - t1)) s"

section "glibc: no symbol newer than GLIBC_$MAX_GLIBC"
# Highest GLIBC_x.y among the versions an ELF file needs (its .gnu.version_r entries).
max_glibc() {
    readelf --version-info --wide "$1" |
        awk '/^Version needs section/ { on = 1; next } /^Version (symbols|definition) section/ { on = 0 }
             on && match($0, /Name: GLIBC_[0-9.]+/) { print substr($0, RSTART + 12, RLENGTH - 12) }' |
        sort -uV | tail -n 1
}
version_le() { [[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" == "$1" ]]; }
# Self-test: the parser must see this machine's newer glibc in a binary built against it.
newest_host=""
for probe in /bin/ls /bin/bash /usr/bin/rpm; do
    v="$(max_glibc "$probe" || true)"
    if [[ -n "$v" ]] && ! version_le "$v" "$MAX_GLIBC"; then newest_host="$probe needs GLIBC_$v"; break; fi
done
if [[ -n "$newest_host" ]]; then
    ok "the GLIBC check detects newer symbols ($newest_host)"
else
    echo "note: no host binary needing > GLIBC_$MAX_GLIBC found (host glibc $(ldd --version | head -n1)); parser self-test skipped"
fi
relay_glibc="$(max_glibc "$BIN")"
echo "max GLIBC symbol version required by $BIN: GLIBC_$relay_glibc"
check "hush-relay needs at most GLIBC_$MAX_GLIBC (has GLIBC_$relay_glibc)" \
    bash -c "[[ -n '$relay_glibc' ]] && [[ \"\$(printf '%s\n%s\n' '$relay_glibc' '$MAX_GLIBC' | sort -V | head -n 1)\" == '$relay_glibc' ]]"
rpm_glibc="$(rpm -qp --requires "$RPM1" | sed -n 's/.*(GLIBC_\([0-9.]*\)).*/\1/p' | sort -uV | tail -n 1)"
check "the RPM's generated Requires name at most GLIBC_$MAX_GLIBC (has GLIBC_$rpm_glibc)" version_le "$rpm_glibc" "$MAX_GLIBC"
check "the binary runs here (--version)" "$BIN" --version
check "the packaged relay.toml passes check-config" "$BIN" check-config --config "$DEPLOY/relay.toml"

section "rpm: format that rpm 4.11 (Amazon Linux 2) installs"
compressor="$(rpm -qp --qf '%{PAYLOADCOMPRESSOR}' "$RPM1")"
check "payload is xz or gzip, not zstd (is $compressor)" bash -c "[[ '$compressor' == xz || '$compressor' == gzip ]]"
# rpmlib() features rpm 4.11 provides that a package like this can need.
rpmlib_411='CompressedFileNames FileDigests PayloadFilesHavePrefix PayloadIsXz PayloadIsBzip2 PayloadIsLzma VersionedDependencies ExplicitPackageProvide ScriptletInterpreterArgs PartialHardlinkSets HeaderLoadSortsTags'
rpmlib_needed="$(rpm -qp --requires "$RPM1" | sed -n 's/^rpmlib(\([A-Za-z]*\)).*/\1/p' | tr '\n' ' ')"
rpmlib_new=""
for feature in $rpmlib_needed; do
    [[ " $rpmlib_411 " == *" $feature "* ]] || rpmlib_new+="$feature "
done
check "rpmlib features are all in rpm 4.11 (needs: ${rpmlib_needed% }${rpmlib_new:+; too new: $rpmlib_new})" test -z "$rpmlib_new"

section "rpm: file list, owners, modes, config flags"
rpm -qp --qf '[%{FILEFLAGS:fflags}\t%{FILEMODES:perms}\t%{FILEUSERNAME}:%{FILEGROUPNAME}\t%{FILENAMES}\n]' "$RPM1" |
    sort -t $'\t' -k 4 >"$WORK/files.txt"
cat "$WORK/files.txt"
cat >"$WORK/files.expected" <<'EOF'
	drwxr-x---	root:hush-relay	/etc/hush-relay
cn	-rw-r-----	root:hush-relay	/etc/hush-relay/relay.toml
	-rwxr-xr-x	root:root	/usr/bin/hush-relay
	-rw-r--r--	root:root	/usr/lib/systemd/system/hush-relay.service
	drwxr-xr-x	root:root	/usr/share/doc/hush-relay
d	-rw-r--r--	root:root	/usr/share/doc/hush-relay/README.md
	drwxr-xr-x	root:root	/usr/share/hush-relay
	-rw-r--r--	root:root	/usr/share/hush-relay/prometheus-scrape.yml
	drwxr-xr-x	root:root	/usr/share/hush-relay/systemd
	-rw-r--r--	root:root	/usr/share/hush-relay/systemd/hardening-systemd-252.conf
	drwxr-x---	hush-relay:hush-relay	/var/lib/hush-relay
EOF
check "file list is exactly the expected one (relay.toml %config(noreplace) = 'cn')" \
    diff -u "$WORK/files.expected" "$WORK/files.txt"
for requirement in 'shadow-utils' 'systemd'; do
    check "Requires: $requirement" bash -c "rpm -qp --requires '$RPM1' | grep -qx '$requirement'"
done

section "rpm: scriptlets (rpm -qp --scripts), run with stubbed getent/useradd/systemctl"
rpm -qp --scripts "$RPM1"
mkdir -p "$WORK/stubs"
for tool in getent groupadd useradd systemctl; do
    cat >"$WORK/stubs/$tool" <<'EOF'
#!/bin/sh
echo "$(basename "$0") $*" >>"$STUB_LOG"
case "$(basename "$0")" in
    getent) [ "$STUB_USER_EXISTS" = 1 ] && exit 0 || exit 2 ;;
    useradd) exit "${STUB_USERADD_RC:-0}" ;;
esac
exit 0
EOF
    chmod +x "$WORK/stubs/$tool"
done
# run_scriptlet TAG ARG USER_EXISTS USERADD_RC: runs it as rpm does (`/bin/sh FILE ARG`); prints
# the stub calls, one per line, then `exit N`.
run_scriptlet() {
    rpm -qp --qf "%{$1}" "$RPM1" >"$WORK/$1.sh"
    : >"$WORK/stub.log"
    local status=0
    STUB_LOG="$WORK/stub.log" STUB_USER_EXISTS="$3" STUB_USERADD_RC="$4" \
        PATH="$WORK/stubs:$PATH" /bin/sh "$WORK/$1.sh" "$2" || status=$?
    cat "$WORK/stub.log"
    echo "exit $status"
}
expect_scriptlet() { # expect_scriptlet DESCRIPTION TAG ARG USER_EXISTS USERADD_RC EXPECTED
    local got
    got="$(run_scriptlet "$2" "$3" "$4" "$5")"
    if [[ "$got" == "$6" ]]; then ok "$1"; else fail "$1"; printf 'expected:\n%s\ngot:\n%s\n' "$6" "$got"; fi
}
for tag in PREIN POSTIN PREUN POSTUN; do
    check "$tag is /bin/sh and parses (sh -n)" bash -c \
        "[[ \"\$(rpm -qp --qf '%{${tag}PROG}' '$RPM1')\" == /bin/sh ]] && rpm -qp --qf '%{$tag}' '$RPM1' | sh -n"
done
expect_scriptlet "install: %pre creates the hush-relay group and system user" PREIN 1 0 0 "getent group hush-relay
groupadd --system hush-relay
getent passwd hush-relay
useradd --system --gid hush-relay --home-dir /var/lib/hush-relay --no-create-home --shell /sbin/nologin --comment Hush relay hush-relay
exit 0"
expect_scriptlet "upgrade: %pre keeps the existing user" PREIN 2 1 0 "getent group hush-relay
getent passwd hush-relay
exit 0"
expect_scriptlet "install: %pre fails (and rpm aborts) when useradd fails" PREIN 1 0 9 "getent group hush-relay
groupadd --system hush-relay
getent passwd hush-relay
useradd --system --gid hush-relay --home-dir /var/lib/hush-relay --no-create-home --shell /sbin/nologin --comment Hush relay hush-relay
exit 1"
expect_scriptlet "install: %post reloads systemd, does not start or enable" POSTIN 1 1 0 "systemctl daemon-reload
exit 0"
expect_scriptlet "erase: %preun disables and stops the service" PREUN 0 1 0 "systemctl --no-reload disable hush-relay.service
systemctl stop hush-relay.service
exit 0"
expect_scriptlet "upgrade: %preun leaves the service alone" PREUN 1 1 0 "exit 0"
expect_scriptlet "upgrade: %postun restarts a running relay" POSTUN 1 1 0 "systemctl daemon-reload
systemctl try-restart hush-relay.service
exit 0"
expect_scriptlet "erase: %postun only reloads" POSTUN 0 1 0 "systemctl daemon-reload
exit 0"

section "rpm: install, upgrade and erase in a scratch root (rpm --root, scripts off)"
R="$WORK/root"
# (Debian's rpm warns that it should not install packages: filtered out.)
rpmr() { rpm --root "$R" --dbpath /var/lib/rpm "$@" 2> >(grep -v -e 'use Alien' -e 'know what you are doing' >&2); }
mkdir -p "$R/etc"
echo 'hush-relay:x:990:990:Hush relay:/var/lib/hush-relay:/sbin/nologin' >"$R/etc/passwd"
echo 'hush-relay:x:990:' >"$R/etc/group"
rpmr --initdb
check "install release 1" rpmr -i --nodeps --noscripts "$RPM1"
check "rpm -V: installed files match the package" rpmr -V --nodeps hush-relay
check "the data dir belongs to the hush-relay user (uid 990 in the scratch root), mode 0750" \
    test "$(stat -c '%u:%g %a' "$R/var/lib/hush-relay")" = "990:990 750"
# Keep the installed release-1 files for the unit checks below.
mkdir -p "$WORK/payload"
cp -a "$R/usr" "$WORK/payload/"
echo "relay data" >"$R/var/lib/hush-relay/tls-key.der"
echo "# operator's edit" >>"$R/etc/hush-relay/relay.toml"
cp "$R/etc/hush-relay/relay.toml" "$WORK/edited.toml"
check "upgrade to release 2" rpmr -U --nodeps --noscripts "$RPM2"
check "upgrade: data dir content kept" grep -qx "relay data" "$R/var/lib/hush-relay/tls-key.der"
check "upgrade: edited relay.toml kept (noreplace)" cmp -s "$WORK/edited.toml" "$R/etc/hush-relay/relay.toml"
check "upgrade: the new default lands as relay.toml.rpmnew" cmp -s "$WORK/relay-r2.toml" "$R/etc/hush-relay/relay.toml.rpmnew"
check "upgrade: release 2 installed" bash -c "[[ \"\$(rpm --root '$R' --dbpath /var/lib/rpm -q hush-relay)\" == hush-relay-*-2.x86_64 ]]"
check "erase" rpmr -e --nodeps --noscripts hush-relay
check "erase: binary removed" test ! -e "$R/usr/bin/hush-relay"
check "erase: data dir content kept" grep -qx "relay data" "$R/var/lib/hush-relay/tls-key.der"

section "systemd unit (as installed from the RPM)"
UNIT="$WORK/payload/usr/lib/systemd/system/hush-relay.service"
DROPIN="$WORK/payload/usr/share/hush-relay/systemd/hardening-systemd-252.conf"
unit_value() { sed -n "s/^$1=//p" "$UNIT"; }
check "Type=notify" test "$(unit_value Type)" = notify
check "Restart=on-failure" test "$(unit_value Restart)" = on-failure
check "User=hush-relay, Group=hush-relay" test "$(unit_value User):$(unit_value Group)" = hush-relay:hush-relay
exec_start="$(unit_value ExecStart)"
check "ExecStart runs the packaged binary with the packaged config ($exec_start)" \
    test "$exec_start" = "/usr/bin/hush-relay serve --config /etc/hush-relay/relay.toml"

# The directive check against systemd 219, shown failing first.
printf '[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\nDynamicUser=yes\nStateDirectory=x\n' >"$WORK/bad.service"
if "$DEPLOY/check-directives.sh" "$ALLOW_219" "$WORK/bad.service" >"$WORK/bad.out" 2>&1; then
    fail "the directive check rejects DynamicUser= and StateDirectory= (it passed them)"
else
    check "the directive check rejects DynamicUser= and StateDirectory=" \
        bash -c "grep -q DynamicUser '$WORK/bad.out' && grep -q StateDirectory '$WORK/bad.out'"
fi
check "every directive of the unit is known to systemd 219" \
    "$DEPLOY/check-directives.sh" "$ALLOW_219" "$UNIT"

# systemd-analyze verify exits 0 even for unknown keys: what matters is its stderr. It also
# needs ExecStart's binary to exist, so verify a copy that points at the extracted binary.
VERIFY="$WORK/verify"
mkdir -p "$VERIFY"
verify_stderr() { # verify_stderr UNIT-FILE: prints what systemd-analyze verify says
    # stderr into the pipe, stdout dropped: the order of the redirections is intended.
    # shellcheck disable=SC2069
    systemd-analyze verify "$1" 2>&1 >/dev/null || echo "(exit status $?)"
}
sed "s#/usr/bin/hush-relay#$WORK/payload/usr/bin/hush-relay#" "$UNIT" >"$VERIFY/hush-relay.service"
cp "$VERIFY/hush-relay.service" "$VERIFY/typo.service"
sed -i 's/^NoNewPrivileges=/NoNewPrivilege=/' "$VERIFY/typo.service"
typo="$(verify_stderr "$VERIFY/typo.service")"
check "systemd-analyze verify reports a misspelt directive on stderr ($typo)" \
    bash -c "[[ '$typo' == *NoNewPrivilege* ]]"
rm "$VERIFY/typo.service"
out="$(verify_stderr "$VERIFY/hush-relay.service")"
check "systemd-analyze verify ($(systemd-analyze --version | head -n1)): no warning for the unit${out:+: $out}" test -z "$out"
mkdir -p "$VERIFY/hush-relay.service.d"
cp "$DROPIN" "$VERIFY/hush-relay.service.d/hardening.conf"
out="$(verify_stderr "$VERIFY/hush-relay.service")"
check "systemd-analyze verify: no warning for the unit with the systemd-252 drop-in${out:+: $out}" test -z "$out"
if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
    rm -r "$VERIFY/hush-relay.service.d"
    base="$(cd "$VERIFY" && systemd-analyze security --offline=true hush-relay.service 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: //p')"
    mkdir -p "$VERIFY/hush-relay.service.d"
    cp "$DROPIN" "$VERIFY/hush-relay.service.d/hardening.conf"
    hardened="$(cd "$VERIFY" && systemd-analyze security --offline=true hush-relay.service 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: //p')"
    echo "systemd-analyze security (lower is better): unit alone $base; with the drop-in $hardened"
fi

section "summary"
if [[ "$failures" -gt 0 ]]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all deploy checks passed: $BIN (GLIBC_$relay_glibc), ${built[1]}"
