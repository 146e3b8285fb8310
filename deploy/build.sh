#!/usr/bin/env bash
# Builds the hush-relay release binary against glibc 2.26 (Amazon Linux 2; it runs on Amazon
# Linux 2023's glibc 2.34 too) and the RPM around it.
#
#   deploy/build.sh            # build both; prints the paths
#   HUSH_RPM_RELEASE=2 deploy/build.sh
#
# Needs: cargo-zigbuild (`pip install cargo-zigbuild`, which brings zig through the PyPI package
# `ziglang`) and rpmbuild (Debian/Ubuntu: `apt-get install rpm`; Amazon Linux: `rpm-build`).
# Outputs go to $CARGO_TARGET_DIR (default: target/) under deploy/, and their paths to stdout
# (the binary's, then the package's; everything else goes to stderr):
#   deploy/hush-relay                                  the binary
#   deploy/rpm/RPMS/x86_64/hush-relay-V-R.x86_64.rpm   the package
#
# Environment:
#   HUSH_RPM_RELEASE   RPM release number (default 1)
#   HUSH_RPM_CONFIG    use this file as the packaged /etc/hush-relay/relay.toml (default:
#                      deploy/relay.toml; deploy/check.sh uses it to test upgrades)
#   HUSH_SKIP_CARGO=1  reuse the binary from the last build (packaging only)
set -euo pipefail

DEPLOY="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$DEPLOY")"
cd "$ROOT"

TARGET=x86_64-unknown-linux-gnu
GLIBC=2.26
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$TARGET_DIR/deploy"
RELEASE="${HUSH_RPM_RELEASE:-1}"
CONFIG="${HUSH_RPM_CONFIG:-$DEPLOY/relay.toml}"
# The version of the relay crate, e.g. 0.1.0 (cargo pkgid prints ...#hush-relay@0.1.0).
VERSION="$(cargo pkgid -p hush-relay | sed -e 's/.*[#@]//')"

log() { printf '[build] %s\n' "$*" >&2; }

mkdir -p "$OUT"
if [[ "${HUSH_SKIP_CARGO:-0}" != 1 ]]; then
    log "cargo zigbuild --release -p hush-relay --target $TARGET.$GLIBC"
    start=$(date +%s)
    cargo zigbuild --locked --release -p hush-relay --target "$TARGET.$GLIBC" >&2
    log "zigbuild took $(($(date +%s) - start)) s"
    # Copy (not link) so a later host build in the same target dir cannot change it.
    cp "$TARGET_DIR/$TARGET/release/hush-relay" "$OUT/hush-relay"
fi
[[ -x "$OUT/hush-relay" ]] || { log "no binary at $OUT/hush-relay"; exit 1; }

log "rpmbuild hush-relay-$VERSION-$RELEASE"
start=$(date +%s)
SOURCES="$OUT/rpm/SOURCES"
rm -rf "$SOURCES" "$OUT/rpm/BUILD" "$OUT/rpm/BUILDROOT"
mkdir -p "$SOURCES"
cp "$OUT/hush-relay" \
    "$DEPLOY/systemd/hush-relay.service" \
    "$DEPLOY/systemd/hardening-systemd-252.conf" \
    "$DEPLOY/prometheus/prometheus-scrape.yml" \
    "$DEPLOY/README.md" \
    "$SOURCES/"
cp "$CONFIG" "$SOURCES/relay.toml"
# xz payload: rpm 4.11 (Amazon Linux 2) reads gzip and xz, not zstd. Pinned digests and
# compression so the package does not depend on the build host's rpm defaults.
rpmbuild -bb \
    --target x86_64-linux \
    --define "_topdir $OUT/rpm" \
    --define "_sourcedir $SOURCES" \
    --define "_binary_payload w6.xzdio" \
    --define "_binary_filedigest_algorithm 8" \
    --define "_source_filedigest_algorithm 8" \
    --define "relay_version $VERSION" \
    --define "relay_release $RELEASE" \
    --quiet \
    "$DEPLOY/rpm/hush-relay.spec" >&2
RPM="$OUT/rpm/RPMS/x86_64/hush-relay-$VERSION-$RELEASE.x86_64.rpm"
[[ -f "$RPM" ]] || { log "rpmbuild made no $RPM"; exit 1; }
log "rpmbuild took $(($(date +%s) - start)) s"
echo "$OUT/hush-relay"
echo "$RPM"
