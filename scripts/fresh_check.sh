#!/usr/bin/env bash
# Does a fresh Debian 12 machine set itself up? (`make fresh-check`; run as root; CI runs it.)
#
# Makes a bare Debian 12 root (scripts/bare_debian.sh: debootstrap minbase plus this machine's
# apt/pip/CA configuration, nothing else), copies in a clean clone of HEAD (committed work
# only, never the working tree), and inside a chroot with /proc, /sys, /dev and /dev/pts does
# what the README tells a newcomer:
#   apt-get install make git   ->   make setup   ->   dred-rtc doctor --json   ->   a 5 s demo
# Each step's time is printed, and again as a table at the end. Any failure exits non-zero.
# The root has its own empty /root/.cache, so setup is proven from an empty dred-rtc cache.
#
# Everything it creates (mounts, processes left inside the root, the root itself) is removed
# on exit, also on failure and Ctrl-C. DRED_RTC_FRESH_KEEP=1 keeps the root for inspection
# (on disk, unmounted). Only the package indexes are contacted, through the machine's own apt
# and pip configuration: the libopus release download is skipped (DRED_RTC_OPUS_DOWNLOAD=0)
# and the demo runs on loopback.
set -euo pipefail

log() { echo "[fresh-check] $*" >&2; }
die() { echo "[fresh-check] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, mount, chroot): sudo make fresh-check"
# Run in a mount namespace of our own with private propagation: the chroot's mounts are
# invisible to the rest of the machine, cannot propagate into the host's /dev, and vanish
# with the namespace even if this script is killed before its cleanup runs.
if [ -z "${DRED_RTC_FRESH_NS:-}" ]; then
  exec unshare --mount --propagation private env DRED_RTC_FRESH_NS=1 bash "$0" "$@"
fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(git -C "$HERE/.." rev-parse --show-toplevel)"
COMMIT="$(git -C "$REPO" rev-parse HEAD)"
if [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no)" ]; then
  log "note: uncommitted changes in $REPO are NOT checked; this checks HEAD ${COMMIT:0:12}"
fi

# Job control: each step runs as a background job in a process group of its own, so an
# interrupted step can be ended as a whole, and nothing else.
set -m
STEP_PID=""

WORK="$(mktemp -d "${DRED_RTC_FRESH_TMP:-/var/tmp}/dred-rtc-fresh.XXXXXX")"
ROOT="$WORK/root"
KEEP="${DRED_RTC_FRESH_KEEP:-0}"

# ---- cleanup: always, whatever happened -------------------------------------------------
mounted_under() {
  # Mount points at or below $1, deepest first (unmount order). The mountinfo field is
  # octal-escaped; our paths hold no spaces, so comparing it as it is suffices.
  awk -v top="$1" '$5 == top || index($5, top "/") == 1 { print $5 }' /proc/self/mountinfo \
    | sort -r
}
cleanup() {
  local status=$? pid mnt
  trap - EXIT INT TERM
  set +e
  # A step still running (we were interrupted): its process group is the step (set -m).
  if [ -n "${STEP_PID:-}" ]; then
    kill -TERM -- "-$STEP_PID" 2>/dev/null
    for _ in 1 2 3 4 5; do kill -0 -- "-$STEP_PID" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$STEP_PID" 2>/dev/null
  fi
  # Processes still running inside the root (a daemon a step started) are ours: end them by
  # pid, or the mounts stay busy.
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ] && kill -TERM "$pid" 2>/dev/null
  done
  sleep 1
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ] && kill -KILL "$pid" 2>/dev/null
  done
  # The root's mounts first (proc, sys, dev, ...), then the tmpfs holding it, if any.
  for mnt in $(mounted_under "$WORK"); do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" || log "could not unmount $mnt"
  done
  if [ -n "$(mounted_under "$WORK")" ]; then
    # Never delete through a mount: that would reach into the host's /dev or /proc.
    log "mounts remain under $WORK; NOT removing it (unmount, then rm -rf it)"
  elif [ "$KEEP" = 1 ]; then
    log "kept $ROOT (DRED_RTC_FRESH_KEEP=1); remove it with: rm -rf $WORK"
  else
    [ -n "$(ls -A "$WORK")" ] && log "removing $WORK"
    rm -rf --one-file-system "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'log "interrupted"; [ -z "${STEPS+x}" ] || summary; exit 130' INT
trap 'log "terminated"; [ -z "${STEPS+x}" ] || summary; exit 143' TERM

# The root grows to about 3.5 GB (Chromium, Firefox ESR, the venv). In a tmpfs of this
# namespace it costs memory for the few minutes of the check, but its I/O does not compete
# with everyone's disk and it is gone the moment the namespace ends (deleting 3 GB of small
# files from a busy disk took minutes). Kept roots and DRED_RTC_FRESH_TMPFS=0 use the disk.
if [ "$KEEP" != 1 ] && [ "${DRED_RTC_FRESH_TMPFS:-1}" = 1 ]; then
  mount -t tmpfs -o "size=${DRED_RTC_FRESH_TMPFS_SIZE:-8g},mode=0700" dred-rtc-fresh "$WORK"
fi

# ---- timing ---------------------------------------------------------------------------------
STEPS=()
TOTAL_START=$SECONDS
summary() {
  local line
  log "---- step times (s) ----"
  for line in "${STEPS[@]}"; do log "$line"; done
  log "total: $((SECONDS - TOTAL_START)) s"
}
# step NAME COMMAND...: runs it, records its time, stops the check on failure.
step() {
  local name="$1" start=$SECONDS status=0
  shift
  log ">>> $name"
  # In the background, then `wait`: a signal to this script is handled at once (bash defers
  # traps until a foreground child exits), and the cleanup can end the step's process group.
  "$@" </dev/null &
  STEP_PID=$!
  wait "$STEP_PID" || status=$?
  STEP_PID=""
  STEPS+=("$(printf '%-28s %5d%s' "$name" $((SECONDS - start)) \
             "$([ $status -eq 0 ] || echo "   FAILED (exit $status)")")")
  log "<<< $name: $((SECONDS - start)) s"
  if [ $status -ne 0 ]; then summary; die "step '$name' failed (exit $status)"; fi
}

# ---- inside the root ------------------------------------------------------------------------
# A clean environment, as a new login would have: nothing of this shell's (no pyenv, no pip
# find-links, no host cache paths) leaks in. CI is passed on so the setup behaves as in CI.
in_root() {
  chroot "$ROOT" /usr/bin/env -i HOME=/root USER=root LOGNAME=root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive DRED_RTC_OPUS_DOWNLOAD=0 ${CI:+CI="$CI"} \
    /bin/bash -c "$1"
}

mount_root() {
  mount -t proc proc "$ROOT/proc"
  mount -t sysfs -o ro sysfs "$ROOT/sys"
  mount --bind /dev "$ROOT/dev"
  mount --bind /dev/pts "$ROOT/dev/pts"
  if [ -d /dev/shm ]; then mount -t tmpfs -o mode=1777 shm "$ROOT/dev/shm"; fi
}

clone_head() {
  # A clone, not a copy: only what is committed reaches the fresh machine.
  git clone -q --no-hardlinks --no-checkout "$REPO" "$ROOT/root/dred-rtc"
  git -C "$ROOT/root/dred-rtc" checkout -q --detach "$COMMIT"
  # Setup must work from an empty cache: nothing of a previous build may be there.
  [ ! -e "$ROOT/root/.cache" ] || { log "the bare root already has /root/.cache"; return 1; }
  log "clean clone of ${COMMIT:0:12} in /root/dred-rtc"
}

bootstrap_tools() {
  # Exactly what the README tells a newcomer to install before `make setup`.
  in_root 'apt-get update -qq && apt-get install -y -qq --no-install-recommends make git >/dev/null'
}

check_doctor() {
  in_root 'cd /root/dred-rtc && .venv/bin/dred-rtc doctor --json > /tmp/doctor.json' || return 1
  cat "$ROOT/tmp/doctor.json" >&2
  in_root '/root/dred-rtc/.venv/bin/python -c "import sys; print(\"venv python\", sys.version.split()[0], \"from\", sys.base_prefix)"' >&2
  in_root 'python3 -c "
import json, sys
d = json.load(open(\"/tmp/doctor.json\"))
bad = [key for key in (\"dred\", \"deep_plc\") if d.get(key) is not True]
sys.exit(\"doctor: not true: \" + \", \".join(bad) if bad else 0)"'
}

# What pip compiled during setup: its wheel cache holds every wheel it built from source.
# Expected: the project itself (editable), and sdist-only NetfilterQueue and pesq. Never the
# build tools (the pocketsphinx download must not compile Cython or CMake: half an hour).
check_built_wheels() {
  local built
  built="$(find "$ROOT/root/.cache/pip/wheels" -name '*.whl' -printf '%f\n' 2>/dev/null | sort)"
  log "wheels pip built from source: $(echo "$built" | cut -d- -f1 | tr '\n' ' ')"
  if echo "$built" | grep -iE '^(cython|cmake|ninja|pocketsphinx|scikit_build)' >&2; then
    log "a build tool or pocketsphinx was compiled from source"; return 1
  fi
}

log "work directory $WORK"
step "bare Debian 12 root"        bash "$HERE/bare_debian.sh" "$ROOT"
step "mount proc/sys/dev"         mount_root
step "clone HEAD"                 clone_head
step "apt-get install make git"   bootstrap_tools
# make setup's own steps, one by one for their times, in the order `setup` runs them ...
step "make system-deps"           in_root 'cd /root/dred-rtc && make system-deps'
step "make native"                in_root 'cd /root/dred-rtc && make native'
step "make venv"                  in_root 'cd /root/dred-rtc && make venv'
step "make speech (+corpus)"      in_root 'cd /root/dred-rtc && make speech'
# ... and `make setup` itself, which must now find everything done.
step "make setup (again)"         in_root 'cd /root/dred-rtc && make setup'
step "nothing needless compiled"  check_built_wheels
step "dred-rtc doctor --json"     check_doctor
step "dred-rtc demo (5 s)"        in_root 'cd /root/dred-rtc && .venv/bin/dred-rtc demo --no-play --seconds 5 --out-dir /tmp/demo'
summary
log "PASSED: a bare Debian 12 root sets itself up from a clean clone of ${COMMIT:0:12}"
