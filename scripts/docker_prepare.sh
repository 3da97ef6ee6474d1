#!/usr/bin/env bash
# Prepare this machine for `docker build` / `docker compose up --build` of dred-rtc:
#   1. a base image `debian:bookworm-slim`: kept if present, else pulled, else -- where no image
#      registry is reachable -- made locally from a bare Debian 12 root (scripts/bare_debian.sh)
#      with `docker import`; the host configuration bare_debian.sh copies in is taken out again,
#      so the base is as bare as the registry's and the Dockerfile's own path is what is used;
#   2. docker/host-config/ filled with this machine's apt, pip and CA configuration (the package
#      indexes may be reachable only through it); the Dockerfile installs it for the build and
#      removes it afterwards. It is git-ignored: never committed.
#
#   sudo scripts/docker_prepare.sh            (then: docker build --network host -t dred-rtc .)
#   sudo scripts/docker_prepare.sh --no-host-config   (only the base image; empties the folder)
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=debian:bookworm-slim
log() { echo "[docker-prepare] $*" >&2; }
die() { echo "[docker-prepare] ERROR: $*" >&2; exit 1; }

host_config=1
[ "${1:-}" = "--no-host-config" ] && host_config=0

command -v docker >/dev/null || die "docker not found (Debian docker.io)"
docker info >/dev/null 2>&1 || die "no Docker engine answers (start dockerd)"

# ---- 1. the base image -------------------------------------------------------------------
if docker image inspect "$BASE" >/dev/null 2>&1; then
  log "$BASE present"
elif timeout 60 docker pull -q "$BASE" >/dev/null 2>&1; then
  log "$BASE pulled"
else
  log "$BASE cannot be pulled: making it from a bare Debian 12 root (scripts/bare_debian.sh)"
  [ "$(id -u)" -eq 0 ] || die "making the base image needs root (debootstrap, chroot)"
  work="$(mktemp -d /tmp/dred-rtc-base.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
  bash scripts/bare_debian.sh "$work/root"
  root="$work/root"
  # Take out what bare_debian.sh copied from this host (a registry image has none of it):
  # apt.conf.d files no package owns, pip configuration, local CA certificates, resolv.conf.
  for f in "$root"/etc/apt/apt.conf.d/*; do
    [ -f "$f" ] || continue
    chroot "$root" dpkg -S "/etc/apt/apt.conf.d/$(basename "$f")" >/dev/null 2>&1 || rm -f "$f"
  done
  rm -rf "$root/etc/pip.conf" "$root/etc/xdg/pip" "$root"/usr/local/share/ca-certificates/*
  if [ -x "$root/usr/sbin/update-ca-certificates" ]; then
    chroot "$root" /usr/sbin/update-ca-certificates --fresh >/dev/null
  fi
  : > "$root/etc/resolv.conf"   # docker provides its own
  tar --numeric-owner -C "$root" -c . | docker import - "$BASE" >/dev/null
  log "$BASE imported ($(docker image inspect -f '{{.Size}}' "$BASE" | awk '{printf "%.0f MB", $1/1e6}'))"
fi

# ---- 2. this machine's apt/pip/CA configuration for the build --------------------------
dest=docker/host-config
find "$dest" -mindepth 1 ! -name README.md ! -name .gitignore -exec rm -rf {} +
if [ "$host_config" -eq 1 ]; then
  mkdir -p "$dest/apt.conf.d" "$dest/xdg-pip" "$dest/ca-certificates"
  for f in /etc/apt/apt.conf.d/*; do [ -f "$f" ] && cp "$f" "$dest/apt.conf.d/"; done
  if [ -f /etc/pip.conf ]; then cp /etc/pip.conf "$dest/"; fi
  for f in /etc/xdg/pip/*; do [ -f "$f" ] && cp "$f" "$dest/xdg-pip/"; done
  for f in /usr/local/share/ca-certificates/*.crt; do [ -f "$f" ] && cp "$f" "$dest/ca-certificates/"; done
  log "copied this machine's configuration into $dest ($(find "$dest" -type f ! -name README.md ! -name .gitignore | wc -l) files; git-ignored)"
else
  log "$dest emptied (the build uses Debian's and PyPI's defaults)"
fi
