#!/bin/sh
# Inside the image build: install (or remove again) the machine configuration that
# scripts/docker_prepare.sh put in docker/host-config/ (see its README). Nothing there: no-op.
#   sh docker/host_config.sh install DIR     (DIR: where docker/host-config was copied)
#   sh docker/host_config.sh remove DIR
set -eu
action=$1; src=$2
list="$src/.installed"
case "$action" in
  install)
    : > "$list"
    # a file the image already has (e.g. apt's own 01autoremove) is kept aside and restored
    put() {
      if [ -e "$2" ]; then mkdir -p "$src/.saved$(dirname "$2")"; cp -p "$2" "$src/.saved$2"; fi
      mkdir -p "$(dirname "$2")"; cp "$1" "$2"; echo "$2" >> "$list"
    }
    for f in "$src"/apt.conf.d/*; do
      if [ -f "$f" ]; then put "$f" "/etc/apt/apt.conf.d/$(basename "$f")"; fi
    done
    if [ -f "$src/pip.conf" ]; then put "$src/pip.conf" /etc/pip.conf; fi
    for f in "$src"/xdg-pip/*; do
      if [ -f "$f" ]; then put "$f" "/etc/xdg/pip/$(basename "$f")"; fi
    done
    for f in "$src"/ca-certificates/*.crt; do
      if [ -f "$f" ]; then put "$f" "/usr/local/share/ca-certificates/$(basename "$f")"; fi
    done
    echo "[host-config] installed $(wc -l < "$list") file(s) of the build machine's configuration" >&2
    ;;
  remove)
    [ -f "$list" ] || exit 0
    while read -r f; do
      rm -f "$f"
      if [ -e "$src/.saved$f" ]; then cp -p "$src/.saved$f" "$f"; fi
    done < "$list"
    rmdir /etc/xdg/pip 2>/dev/null || true
    # the CA bundle was rebuilt with the machine's certificates: rebuild it without them
    if command -v update-ca-certificates >/dev/null; then update-ca-certificates --fresh >/dev/null 2>&1; fi
    echo "[host-config] removed $(wc -l < "$list") file(s) of the build machine's configuration" >&2
    rm -f "$list"
    ;;
  *) echo "usage: $0 install|remove DIR" >&2; exit 2 ;;
esac
