#!/usr/bin/env bash
# Make a bare Debian 12 (bookworm, debootstrap minbase) root in DIR: what "a fresh machine"
# means for scripts/fresh_check.sh, and the base of a local `debian:bookworm-slim` image
# (`tar -C DIR -c . | docker import - debian:bookworm-slim`) where no image registry is reachable.
#
#   sudo scripts/bare_debian.sh DIR
#
# DIR must not exist or be empty. The root gets this machine's own apt configuration and
# sources, pip configuration and local CA certificates, because on many machines (this one
# included) the package indexes are only reachable through them; nothing else of the host.
#
# debootstrap takes minutes, so the pristine root (before the host's configuration is copied
# in) is kept as a tarball in $DRED_RTC_BARE_CACHE (default /var/cache/dred-rtc/bare-debian),
# keyed by suite, variant and mirror: later runs unpack it in seconds. Delete the tarball to
# rebuild from the mirror.
set -euo pipefail

SUITE=bookworm
VARIANT=minbase
CACHE="${DRED_RTC_BARE_CACHE:-/var/cache/dred-rtc/bare-debian}"

log() { echo "[bare-debian] $*" >&2; }
die() { echo "[bare-debian] ERROR: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 DIR"
DIR="$1"
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap and chroot need it): sudo $0 $DIR"
if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
  die "$DIR exists and is not empty; give a new or empty directory"
fi
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

# The Debian mirror this machine's apt already uses for $SUITE (not the security archive):
# deb822 stanzas in sources.list.d/*.sources, and one-line entries in sources.list and
# sources.list.d/*.list. Prints one URI.
system_mirror() {
  {
    # deb822: a stanza is a block of "Key: value" lines; blank lines separate stanzas.
    # Disabled stanzas ("Enabled: no") and deb-src-only ones are skipped.
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk -v suite="$SUITE" '
        function flush() {
          if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "") {
            n = split(suites, s, " ")
            for (i = 1; i <= n; i++) if (s[i] == suite) { split(uris, u, " "); print u[1]; break }
          }
          types = ""; uris = ""; suites = ""; enabled = ""
        }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        tolower($1) == "types:"   { $1 = ""; types = $0 }
        tolower($1) == "uris:"    { $1 = ""; uris = $0 }
        tolower($1) == "suites:"  { $1 = ""; suites = $0 }
        tolower($1) == "enabled:" { enabled = tolower($2) }
        END { flush() }' "$f"
    done
    # One-line format: deb [options] URI SUITE COMPONENTS...
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2 }'
    done
  } | sed -E 's/^ +//; s:/*$::' | grep -vi -- '-security' | head -n1
}

MIRROR="$(system_mirror || true)"
[ -n "$MIRROR" ] || die "no apt source for Debian $SUITE found in /etc/apt/sources.list{,.d}"

# debootstrap (and the Debian keyring it verifies with) from the host's own apt.
# The lock timeout matters: other users of this machine may be running apt right now.
APT_HOST=(apt-get -o DPkg::Lock::Timeout=600)
if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap on the host"
  "${APT_HOST[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${APT_HOST[@]}" install -y -qq --no-install-recommends \
    debootstrap debian-archive-keyring >/dev/null
fi

# An https mirror needs ca-certificates inside the root for apt to reach it at all.
INCLUDE=""
case "$MIRROR" in https:*) INCLUDE="--include=ca-certificates" ;; esac

mkdir -p "$CACHE"
KEY="$(printf '%s\n' "$SUITE" "$VARIANT" "$MIRROR" "$INCLUDE" | sha256sum | cut -c1-12)"
TARBALL="$CACHE/$SUITE-$VARIANT-$KEY.tar"

# One debootstrap at a time per cache (two fresh checks, or a fresh check and a docker
# image build, may run together); the second waits and then reuses the first's tarball.
exec 9>"$CACHE/.lock"
flock 9
if [ -f "$TARBALL" ]; then
  log "unpacking the cached pristine $SUITE $VARIANT root ($TARBALL)"
  tar --numeric-owner -xpf "$TARBALL" -C "$DIR"
else
  log "debootstrap --variant=$VARIANT $SUITE from this machine's mirror (a few minutes)"
  # shellcheck disable=SC2086  # INCLUDE is empty or a single word
  if ! debootstrap --variant="$VARIANT" $INCLUDE "$SUITE" "$DIR" "$MIRROR" \
       >"$CACHE/debootstrap.log" 2>&1; then
    tail -n 20 "$CACHE/debootstrap.log" >&2
    die "debootstrap failed (log: $CACHE/debootstrap.log); $DIR is left partial"
  fi
  # Cache the root before anything of the host goes in, so the tarball stays pristine.
  tar --numeric-owner -cpf "$TARBALL.part" -C "$DIR" .
  mv "$TARBALL.part" "$TARBALL"
fi
flock -u 9

# ---- the machine's own apt configuration and sources -----------------------------------
# apt.conf.d carries settings apt needs to accept this mirror's indexes (e.g. an expired
# Valid-Until); the sources make `apt-get update` inside reach the same index as the host.
copy_if() { [ -e "$1" ] && cp -a "$1" "$2"; return 0; }
mkdir -p "$DIR/etc/apt/apt.conf.d" "$DIR/etc/apt/sources.list.d" "$DIR/etc/apt/preferences.d"
for f in /etc/apt/apt.conf.d/*; do copy_if "$f" "$DIR/etc/apt/apt.conf.d/"; done
copy_if /etc/apt/apt.conf "$DIR/etc/apt/"
for f in /etc/apt/preferences.d/*; do copy_if "$f" "$DIR/etc/apt/preferences.d/"; done
# debootstrap wrote its own one-line sources.list for the same mirror; the host's sources
# replace it (else apt warns about every index being configured twice).
rm -f "$DIR/etc/apt/sources.list"
copy_if /etc/apt/sources.list "$DIR/etc/apt/"
for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  cp -a "$f" "$DIR/etc/apt/sources.list.d/"
  # A keyring named by Signed-By/signed-by that the bare root lacks comes from the host.
  grep -ohiE 'signed-by[:=] *[^] ]+' "$f" | sed -E 's/^[^:=]*[:=] *//' | while read -r key; do
    if [ -f "$key" ] && [ ! -e "$DIR$key" ]; then
      mkdir -p "$DIR$(dirname "$key")"; cp -a "$key" "$DIR$key"
    fi
  done
done
[ -e /etc/resolv.conf ] && cp -L /etc/resolv.conf "$DIR/etc/resolv.conf"

# ---- pip configuration and local CA certificates ---------------------------------------
copy_if /etc/pip.conf "$DIR/etc/"
if [ -d /etc/xdg/pip ]; then mkdir -p "$DIR/etc/xdg"; cp -a /etc/xdg/pip "$DIR/etc/xdg/"; fi
if [ -d /usr/local/share/ca-certificates ]; then
  mkdir -p "$DIR/usr/local/share/ca-certificates"
  cp -a /usr/local/share/ca-certificates/. "$DIR/usr/local/share/ca-certificates/"
fi
# Installing ca-certificates later picks these up by itself; if it is already in the root
# (https mirror), bundle them now.
if [ -x "$DIR/usr/sbin/update-ca-certificates" ]; then
  chroot "$DIR" /usr/sbin/update-ca-certificates >/dev/null
fi

log "bare Debian $SUITE ($VARIANT) root ready in $DIR"
