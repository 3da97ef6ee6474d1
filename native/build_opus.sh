#!/usr/bin/env bash
# Build libopus with DRED, deep PLC and OSCE, plus opus_demo and the lossgen shared
# object, into dred-rtc's cache. Idempotent: a finished build is detected and reused.
#
# Where the release archive comes from, in order:
#   1. $DRED_RTC_OPUS_ARCHIVE (a path to opus-1.6.1 or opus-1.5.2 release archive)
#   2. the cache ($CACHE/src)
#   3. the official release download (short timeout; DRED_RTC_OPUS_DOWNLOAD=0 skips it, e.g.
#      where only the package indexes are reachable: scripts/fresh_check.sh sets it)
#   4. the distribution's source package (apt-get source opus) through a private apt
#      configuration that adds a suite carrying opus >= 1.5 from the mirror this
#      system already uses. The system's own apt sources are never edited.
# Every archive is checked against the pinned sha256 below before it is unpacked.
set -euo pipefail

CACHE="${DRED_RTC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dred-rtc}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JOBS="$(nproc 2>/dev/null || echo 2)"

# version  archive-name  sha256 (preferred first)
ARCHIVES=(
  "1.6.1 opus-1.6.1.tar.xz 001ac615b9f8f8994b229ad2b1a5969ed12ab48b0d154d0af1016a5899cd6ba1"
  "1.5.2 opus-1.5.2.tar.gz 65c1d2f78b9f2fb20082c38cbe47c951ad5839345876e46941612ee87f9a7ce1"
)
# Debian suites whose source package carries each version.
declare -A SUITE=( [1.6.1]=sid [1.5.2]=trixie )

log() { echo "[native] $*" >&2; }
die() { echo "[native] ERROR: $*" >&2; exit 1; }

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# 1.5.2 builds and has DRED, but it is not what dred-rtc is made for: its DRED bitstream
# (version 10) does not interoperate with 1.6's (12), it emits no DRED below encoder
# complexity 7, and 1.6-only functions of the binding are missing. Say so where nobody
# can miss it, before the build and again as the last lines of the step.
warn_old_version() {
  local best name
  read -r best name _ <<<"${ARCHIVES[0]}"
  [ "$VERSION" = "$best" ] && return 0
  {
    echo "[native] WARNING: ================================================================"
    echo "[native] WARNING: only libopus $VERSION could be obtained, not $best."
    echo "[native] WARNING: DRED works, but only with peers on libopus $VERSION (DRED bitstream"
    echo "[native] WARNING: versions differ), and features needing $best are unavailable."
    echo "[native] WARNING: For $best: download $name from the Opus release page, then"
    echo "[native] WARNING:   rm -rf $CACHE/opus && DRED_RTC_OPUS_ARCHIVE=/path/to/$name make setup"
    echo "[native] WARNING: ================================================================"
  } >&2
}

# Already built? The stamp names the version whose build finished.
if [ -f "$CACHE/opus/STAMP" ]; then
  built="$(cat "$CACHE/opus/STAMP")"
  if [ -f "$CACHE/opus/lib/libopus.so" ] && [ -x "$CACHE/opus/bin/opus_demo" ] \
     && [ -f "$CACHE/opus/lib/liblossgen.so" ]; then
    log "libopus $built with DRED already built in $CACHE/opus"
    VERSION="$built"; warn_old_version
    exit 0
  fi
fi

mkdir -p "$CACHE/src"

# Returns (echo) "VERSION PATH" of a verified archive, or nothing.
find_archive() {
  local entry ver name sum
  if [ -n "${DRED_RTC_OPUS_ARCHIVE:-}" ]; then
    [ -f "$DRED_RTC_OPUS_ARCHIVE" ] || die "DRED_RTC_OPUS_ARCHIVE=$DRED_RTC_OPUS_ARCHIVE does not exist"
    for entry in "${ARCHIVES[@]}"; do
      read -r ver name sum <<<"$entry"
      if sha_ok "$DRED_RTC_OPUS_ARCHIVE" "$sum"; then echo "$ver $DRED_RTC_OPUS_ARCHIVE"; return; fi
    done
    die "DRED_RTC_OPUS_ARCHIVE=$DRED_RTC_OPUS_ARCHIVE matches no pinned sha256 (accepted: ${ARCHIVES[*]})"
  fi
  for entry in "${ARCHIVES[@]}"; do
    read -r ver name sum <<<"$entry"
    if sha_ok "$CACHE/src/$name" "$sum"; then echo "$ver $CACHE/src/$name"; return; fi
  done
  if [ "${DRED_RTC_OPUS_DOWNLOAD:-1}" != 0 ] && command -v curl >/dev/null; then
    for entry in "${ARCHIVES[@]}"; do
      read -r ver name sum <<<"$entry"
      log "trying the official release download of $name"
      if curl -fsSL --connect-timeout 5 --max-time 60 -o "$CACHE/src/$name.part" \
           "https://downloads.xiph.org/releases/opus/$name" 2>/dev/null \
         && sha_ok "$CACHE/src/$name.part" "$sum"; then
        mv "$CACHE/src/$name.part" "$CACHE/src/$name"; echo "$ver $CACHE/src/$name"; return
      fi
      rm -f "$CACHE/src/$name.part"
    done
  fi
  if command -v apt-get >/dev/null; then
    for entry in "${ARCHIVES[@]}"; do
      read -r ver name sum <<<"$entry"
      if fetch_from_apt "$ver" "$name" "$sum"; then echo "$ver $CACHE/src/$name"; return; fi
    done
  fi
}

# The mirror this system's apt already uses for Debian (first non-security URI).
system_mirror() {
  { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
    grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{for(i=2;i<=NF;i++) if ($i ~ /^(https?|file):/) {print $i; break}}'
  } | grep -v -- '-security' | grep -i debian | head -n1
}

fetch_from_apt() {
  local ver="$1" name="$2" sum="$3" mirror apt_dir keyring opts orig
  mirror="$(system_mirror)"
  [ -n "$mirror" ] || { log "no Debian mirror found in this system's apt sources"; return 1; }
  apt_dir="$CACHE/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/work"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  echo "deb-src [signed-by=$keyring] $mirror ${SUITE[$ver]} main" > "$apt_dir/sources.list"
  opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::State::Lists=$apt_dir/lists" -o "APT::Sandbox::User=root")
  log "fetching the opus $ver source package from suite ${SUITE[$ver]} (private apt config in $apt_dir)"
  apt-get "${opts[@]}" -qq update >&2 || return 1
  (cd "$apt_dir/work" && apt-get "${opts[@]}" -qq source --download-only opus >&2) || return 1
  orig="$(ls "$apt_dir"/work/opus_"$ver".orig.tar.* 2>/dev/null | head -n1)"
  [ -n "$orig" ] && sha_ok "$orig" "$sum" || { log "apt gave no verified opus $ver archive"; return 1; }
  cp "$orig" "$CACHE/src/$name"
  rm -rf "$apt_dir/work"
}

read -r VERSION ARCHIVE <<<"$(find_archive || true)"
if [ -z "${ARCHIVE:-}" ]; then
  die "no verified libopus release archive (1.6.1 or 1.5.2) could be obtained.
  Do one of:
    - download opus-1.6.1.tar.xz (or opus-1.5.2.tar.gz) from the Opus release page and run
        DRED_RTC_OPUS_ARCHIVE=/path/to/it make setup
    - or place it in $CACHE/src/
    - or enable a Debian source suite that carries opus >= 1.5 and check that apt-get works."
fi
warn_old_version
log "building libopus $VERSION from $ARCHIVE"

BUILD="$CACHE/build"
PREFIX="$CACHE/opus"
rm -rf "$BUILD" "$PREFIX"
mkdir -p "$BUILD" "$PREFIX/bin" "$PREFIX/lib"
tar -xf "$ARCHIVE" -C "$BUILD"
SRC="$BUILD/opus-$VERSION"
(
  cd "$SRC"
  ./configure --enable-dred --enable-osce --disable-doc --disable-static \
    --prefix="$PREFIX" -q >"$BUILD/configure.log" 2>&1 \
    || { tail -n 30 "$BUILD/configure.log" >&2; exit 1; }
  make -j"$JOBS" -s >"$BUILD/make.log" 2>&1 || { tail -n 30 "$BUILD/make.log" >&2; exit 1; }
  make install -s >>"$BUILD/make.log" 2>&1
  # opus_demo is a libtool program; install it so it runs against the installed library.
  ./libtool --mode=install cp opus_demo "$PREFIX/bin/opus_demo" >>"$BUILD/make.log" 2>&1
  gcc -O2 -shared -fPIC -DHAVE_CONFIG_H -I. -Icelt -Iinclude -Idnn \
    dnn/lossgen.c dnn/lossgen_data.c "$HERE/lossgen_shim.c" -o "$PREFIX/lib/liblossgen.so" -lm
)
rm -rf "$BUILD"
echo "$VERSION" > "$PREFIX/STAMP"
log "libopus $VERSION with DRED built into $PREFIX"
warn_old_version
