#!/usr/bin/env bash
# Install the Debian/Ubuntu packages dred-rtc needs, only those missing.
set -euo pipefail
# A bare Debian 12 (debootstrap minbase) has none of these, not even python3: this list is
# checked by `make fresh-check`. What a newcomer installs before it is only make and git.
PACKAGES=(
  python3 python3-venv python3-dev                 # Debian's Python 3.11 and its venv (ensurepip)
  build-essential curl xz-utils ca-certificates   # building libopus (autotools: no cmake/ninja)
  libsndfile1 libportaudio2 pulseaudio             # WAV I/O, sounddevice, virtual audio devices
  pulseaudio-utils libasound2-plugins              # pactl (test fixture), ALSA->PulseAudio for PortAudio
  asterisk-core-sounds-en-g722                     # real human speech for tests (CC-BY-SA-3.0)
  asterisk-core-sounds-fr-g722 asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722  # eval corpus
  iproute2 iptables libnetfilter-queue-dev         # netem-demo: namespaces, NFQUEUE impairer (pip builds NetfilterQueue)
  chromium                                         # headless browser for tests/browser (Playwright)
  firefox-esr                                      # headless browser for tests/browser (Marionette)
  coturn                                           # STUN/TURN server of the NAT test bed (tests/nat)
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "[deps] system packages present" >&2; exit 0; }
if ! command -v apt-get >/dev/null; then
  echo "[deps] ERROR: missing packages ${missing[*]} and no apt-get; install them by hand" >&2; exit 1
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "[deps] installing ${missing[*]}" >&2
# Wait for the dpkg lock instead of failing when another apt run holds it (shared machines, CI).
APT=(apt-get -o DPkg::Lock::Timeout=600)
$SUDO "${APT[@]}" update -qq
DEBIAN_FRONTEND=noninteractive $SUDO "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
