#!/usr/bin/env bash
# A Debian 12 guest running Debian's own kernel, where `tc netem` is real (`make netem-vm`).
#
#   sudo scripts/netem_vm.sh build                  # the guest image (cached); prints its folder
#   sudo scripts/netem_vm.sh run OUT -- COMMAND...  # boot it, run COMMAND inside, power off
#   sudo scripts/netem_vm.sh check [OUT] [-- ARGS]  # build + run python -m dred_rtc.netem.vmcheck
#   sudo scripts/netem_vm.sh accel                  # how it would run here (kvm, uml, tcg) and why
#
# Why: kernels without sch_netem (these machines) cannot run the netem backend, the
# netem_link.sh helper or the compose sender's netem step; Debian's kernel has sch_netem as a
# module.
#
# The image: a bare Debian 12 root (scripts/bare_debian.sh) plus Debian's kernel (and its
# user-mode Linux build), iproute2, iptables, python3 and the runtime libraries the project's
# venv links to, and scripts/netem_vm_init.sh as PID 1; made into an ext4 disk with `mke2fs -d`
# (no loop mount). It is cached in $DRED_RTC_VM_CACHE (default /var/cache/dred-rtc/netem-vm/KEY/),
# KEY a hash of what goes into it, so a repeat run boots in seconds; the kernels and initrd are
# copied out of the root next to it. The project directory, the dred-rtc cache (libopus,
# speech) and the interpreter the venv was made from are shared read-only at the same paths as
# here (virtio-9p, or hostfs), so nothing of the project is copied into the image; OUT is
# shared writable (the job's reports). The disk is never written (qemu snapshot=on, a UML
# copy-on-write file). The guest has no network device at all.
#
# How it boots (choose_accel): qemu -enable-kvm where /dev/kvm runs a stock kernel; else, with
# a warning, the image's user-mode Linux (native speed, one CPU); qemu's software emulation
# only when forced (DRED_RTC_VM_ACCEL=tcg: far too slow for real-time calls). qemu is
# installed on first use. Everything the script makes (temporary root, mounts, the VM's
# processes) is removed on exit, also on failure and Ctrl-C.
set -euo pipefail

log() { echo "[netem-vm] $*" >&2; }
die() { echo "[netem-vm] ERROR: $*" >&2; exit 1; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
CACHE="${DRED_RTC_VM_CACHE:-/var/cache/dred-rtc/netem-vm}"
VENV="${DRED_RTC_VM_VENV:-$REPO/.venv}"
TIMEOUT="${DRED_RTC_VM_TIMEOUT:-900}"     # seconds the guest may run before it is killed
MEMORY="${DRED_RTC_VM_MEMORY:-2048}"      # MiB
# What the guest installs: the kernel (sch_netem, 9p), the netem/NFQUEUE tools, Debian's
# python3 (the venv's interpreter, or the libraries a pyenv interpreter links to), and the
# runtime libraries of the project's system packages (scripts/system_deps.sh) that the venv
# loads. Not the build tools, Chromium or PulseAudio: nothing is built or played in the guest.
# user-mode-linux: the same Debian 6.1 kernel built to run as a host process, for machines
# whose /dev/kvm cannot run a stock kernel (see kvm_unusable).
GUEST_PACKAGES=(linux-image-amd64 user-mode-linux kmod iproute2 iptables procps python3
                python3-venv libsndfile1 libportaudio2 libnetfilter-queue1)

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, /dev/kvm): sudo $0 $*"
APT_HOST=(apt-get -o DPkg::Lock::Timeout=600)

# ---- the image --------------------------------------------------------------------------------
image_key() {
  # The bare root's own cache key lives in its tarball name; a new mirror means a new tarball.
  { printf '%s\n' "${GUEST_PACKAGES[@]}"; cat "$HERE/netem_vm_init.sh" "$HERE/bare_debian.sh"
    echo "image-format 4"; } | sha256sum | cut -c1-12   # bump the format when _build_root changes
}

build() {
  local key dir work root status=0
  key="$(image_key)"
  dir="$CACHE/$key"
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.lock"
  flock 8                              # one build at a time; the second reuses the first's
  if [ -f "$dir/ready" ]; then
    flock -u 8; echo "$dir"; return 0
  fi
  command -v mke2fs >/dev/null || die "mke2fs missing (Debian e2fsprogs)"
  log "building the guest image $key (a few minutes; cached in $dir afterwards)"
  local start=$SECONDS
  work="$(mktemp -d /var/tmp/dred-rtc-vm.XXXXXX)"
  # A private mount namespace: the root (a tmpfs) and the chroot's mounts vanish with it, even
  # if we are killed; what outlives it is written to $dir.part.
  rm -rf "$dir" "$dir.part" && mkdir -p "$dir.part"
  unshare --mount --propagation private bash "$0" _build_root "$work" "$dir.part" >&2 || status=$?
  rm -rf --one-file-system "$work"
  if [ $status -ne 0 ]; then rm -rf "$dir.part"; die "building the guest image failed"; fi
  mv "$dir.part" "$dir"
  touch "$dir/ready"
  # older images (another key) are no use any more: about 1.5 GB each
  find "$CACHE" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
  flock -u 8
  log "guest image ready in $((SECONDS - start)) s: $dir (kernel $(cat "$dir/kernel-release"))"
  echo "$dir"
}

# The uncompressed kernel (ELF) inside a bzImage, booted through its PVH entry point. Why: on
# nested KVM without hardware virtualisation (these machines: kvm-pvm), a bzImage hangs in its
# own decompressor, while the ELF's PVH entry boots. Debian compresses its kernel with xz.
extract_vmlinux() {
  local offset
  offset="$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$1" | head -n1 | cut -d: -f1)"
  [ -n "$offset" ] || { log "no xz payload in $1"; return 1; }
  tail -c +"$((offset + 1))" "$1" | xz -dc > "$2" 2>/dev/null || true   # trailing data: ignored
  [ "$(head -c 4 "$2" | od -An -c | tr -d ' ')" = '177ELF' ] \
    || { log "the xz payload of $1 is not an ELF kernel"; return 1; }
}

# In its own mount namespace (see build): bare root, chroot mounts, packages, our init; then
# the kernel, initrd and ext4 disk into DEST.
_build_root() {
  local work="$1" dest="$2" root="$1/root"
  mount -t tmpfs -o size=6g,mode=0700 dred-rtc-vm "$work"
  bash "$HERE/bare_debian.sh" "$root" >&2
  mount -t proc proc "$root/proc"
  mount -t sysfs -o ro sysfs "$root/sys"
  mount --bind /dev "$root/dev"
  mount --bind /dev/pts "$root/dev/pts"
  local in_root=(chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
                 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
  log "installing ${GUEST_PACKAGES[*]} in the guest root"
  "${in_root[@]}" apt-get update -qq
  "${in_root[@]}" apt-get install -y -qq --no-install-recommends "${GUEST_PACKAGES[@]}" >/dev/null
  "${in_root[@]}" apt-get clean
  # iptables' legacy backend: the user-mode Linux kernel has nf_tables without its ip family
  # (CONFIG_NF_TABLES_IPV4 off), so iptables-nft cannot add the nfqueue backend's rule there
  "${in_root[@]}" update-alternatives --quiet --set iptables /usr/sbin/iptables-legacy
  rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
  install -m 0755 "$HERE/netem_vm_init.sh" "$root/sbin/dred-rtc-vm-init"
  # the root is meant for a VM only: no host resolver, no services
  rm -f "$root/etc/resolv.conf"
  umount "$root/dev/pts" "$root/dev" "$root/sys" "$root/proc"
  ls "$root"/boot/vmlinuz-* "$root"/boot/initrd.img-* >/dev/null \
    || { log "no kernel or initrd in the guest root"; return 1; }
  cp "$root"/boot/vmlinuz-* "$dest/vmlinuz"
  extract_vmlinux "$dest/vmlinuz" "$dest/vmlinux"
  # user-mode Linux keeps its modules apart; modprobe looks in /lib/modules/$(uname -r)
  local uml
  uml="$(ls "$root/usr/lib/uml/modules")"
  ln -s "/usr/lib/uml/modules/$uml" "$root/lib/modules/$uml"
  cp "$root/usr/bin/linux.uml" "$dest/linux.uml"
  echo "$uml" > "$dest/uml-release"
  cp "$root"/boot/initrd.img-* "$dest/initrd.img"
  ls "$root/lib/modules" > "$dest/kernel-release"
  # the root's size plus room for the job's writes (they go to the snapshot, not the image)
  local mb=$(( $(du -sm "$root" | cut -f1) * 13 / 10 + 256 ))
  mke2fs -q -t ext4 -L dred-rtc-vm -d "$root" "$dest/disk.img" "${mb}M"
}

# ---- running it -------------------------------------------------------------------------------
QEMU_PID="" VM_GROUP=0 COW_DIR=""
# Ends the VM: qemu's process, or user-mode Linux's whole process group (setsid: it runs each
# guest process as a host process), and removes the UML copy-on-write file.
stop_qemu() {
  local target="$QEMU_PID"
  [ "$VM_GROUP" = 1 ] && target="-$QEMU_PID"
  if [ -n "$QEMU_PID" ] && kill -0 -- "$target" 2>/dev/null; then
    kill -TERM -- "$target" 2>/dev/null
    for _ in 1 2 3 4 5; do kill -0 -- "$target" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "$target" 2>/dev/null || true
  fi
  QEMU_PID=""
  if [ -n "$COW_DIR" ]; then rm -rf "$COW_DIR"; COW_DIR=""; fi
}

need_qemu() {
  command -v qemu-system-x86_64 >/dev/null && return 0
  log "installing qemu-system-x86 on the host"
  "${APT_HOST[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${APT_HOST[@]}" install -y -qq --no-install-recommends \
    qemu-system-x86 >/dev/null
}

# How the guest runs here, a tab, and why: kvm (qemu -enable-kvm), else uml (Debian's
# user-mode Linux build of the same kernel); tcg (qemu's software emulation) only when forced.
# DRED_RTC_VM_ACCEL=kvm|uml|tcg forces one.
choose_accel() {
  local why
  case "${DRED_RTC_VM_ACCEL:-auto}" in
    kvm|uml|tcg) printf '%s\t%s\n' "$DRED_RTC_VM_ACCEL" "DRED_RTC_VM_ACCEL=$DRED_RTC_VM_ACCEL"; return ;;
  esac
  why="$(kvm_unusable)"
  if [ -z "$why" ]; then printf 'kvm\t/dev/kvm runs a stock kernel\n'; return; fi
  # software emulation is far too slow for real-time calls (docs/facts.md); UML runs the
  # guest's processes natively
  printf 'uml\tno KVM: %s\n' "$why"
}

# Why /dev/kvm cannot run Debian's kernel here (nothing when it can).
kvm_unusable() {
  if [ ! -c /dev/kvm ] || [ ! -w /dev/kvm ]; then echo "/dev/kvm is absent or not writable"; return; fi
  # kvm-pvm (nested KVM without hardware virtualisation) creates VMs, but an unmodified kernel
  # dies in it: emulation failures on cmpxchg16b and xrstor, and without those features it
  # had not reached init after 2 minutes (measured on these machines)
  if [ -d /sys/module/kvm_pvm ]; then
    echo "/dev/kvm is kvm-pvm (nested, no VT-x/AMD-V), which runs only PVM-enabled guest kernels"
  fi
}

# run OUT COMMAND...: boot the image, run COMMAND (a shell command line) in the guest with OUT
# writable at the same path; its exit code is this function's. Serial console: OUT/console.log.
run_guest() {
  local out="$1"; shift
  local image started=$SECONDS mode why
  image="$(build)"
  IFS=$'\t' read -r mode why < <(choose_accel)
  [ "$mode" = uml ] || need_qemu
  mkdir -p "$out"
  out="$(cd "$out" && pwd)"
  rm -f "$out/exit-code" "$out/boot-seconds" "$out/job.log" "$out/console.log"
  # The shares: the project (with its venv), the dred-rtc cache, the venv's interpreter.
  local python cache prefix shares=() n=0
  python="$VENV/bin/python"
  [ -x "$python" ] || die "no venv at $VENV: run make setup first"
  cache="$("$python" -c 'from dred_rtc.cache import cache_dir; print(cache_dir())')"
  prefix="$("$python" -c 'import sys; print(sys.base_prefix)')"
  : > "$out/mounts"
  for path in "$REPO" "$cache" "$prefix"; do
    case "$path" in /usr|/usr/*) continue ;; esac       # the guest has its own Debian python3
    n=$((n + 1))
    shares+=(-virtfs "local,path=$path,mount_tag=ro$n,security_model=none,readonly=on")
    echo "ro$n $path" >> "$out/mounts"
  done
  printf '%s\n' "set -e" "export DRED_RTC_CACHE='$cache' PYTHONDONTWRITEBYTECODE=1" \
    "export PATH='$VENV/bin':\$PATH" "cd '$REPO'" "$*" > "$out/job.sh"
  echo "$mode" > "$out/accel"
  local append="rw panic=-1 ${DRED_RTC_VM_QUIET-quiet} init=/sbin/dred-rtc-vm-init dredrtc.job=job:$out"
  case "$mode" in
    kvm|tcg)
      local accel=(-accel kvm -cpu host,-arch-capabilities)  # that MSR: see kvm_unusable
      if [ "$mode" = tcg ]; then
        log "WARNING: software emulation (TCG; $why): many times slower, the calls cannot"
        log "WARNING: keep up and timing figures carry emulation noise"
        accel=(-accel tcg,thread=multi -cpu max)
        TIMEOUT=$(( TIMEOUT * 3 ))
      fi
      log "booting $(cat "$image/kernel-release") under qemu ($mode); console: $out/console.log"
      qemu-system-x86_64 "${accel[@]}" -smp 2 -m "$MEMORY" -nodefaults -no-user-config \
        -display none -no-reboot -nic none \
        -kernel "$image/vmlinux" -initrd "$image/initrd.img" \
        -append "root=/dev/vda console=ttyS0 $append" \
        -drive "file=$image/disk.img,format=raw,if=virtio,snapshot=on" \
        -virtfs "local,path=$out,mount_tag=job,security_model=none" "${shares[@]}" \
        -serial "file:$out/console.log" </dev/null &
      ;;
    uml)
      log "WARNING: $why"
      log "WARNING: booting Debian's user-mode Linux $(cat "$image/uml-release") instead: the"
      log "WARNING: same kernel source and netem, run as host processes (one CPU, native speed)"
      COW_DIR="$(mktemp -d /var/tmp/dred-rtc-vm-cow.XXXXXX)"
      # its memory is a file in TMPDIR: a tmpfs keeps it off the disk; no network device at all
      TMPDIR="${DRED_RTC_VM_TMP:-/dev/shm}" setsid "$image/linux.uml" \
        "ubd0=$COW_DIR/disk.cow,$image/disk.img" root=/dev/ubda "mem=${MEMORY}M" \
        con=null con0=null,fd:1 dredrtc.fs=hostfs $append > "$out/console.log" 2>&1 </dev/null &
      VM_GROUP=1
      ;;
    *) die "unknown DRED_RTC_VM_ACCEL=$mode (kvm, uml or tcg)" ;;
  esac
  QEMU_PID=$!
  local deadline=$((SECONDS + TIMEOUT))
  while kill -0 "$QEMU_PID" 2>/dev/null; do
    if [ $SECONDS -gt $deadline ]; then
      log "the guest did not finish within $TIMEOUT s; killing it (console: $out/console.log)"
      stop_qemu; tail -n 30 "$out/console.log" >&2 || true; return 124
    fi
    sleep 0.5
  done
  wait "$QEMU_PID" || true
  QEMU_PID=""
  stop_qemu
  echo $((SECONDS - started)) > "$out/host-seconds"
  if [ ! -f "$out/exit-code" ]; then
    tail -n 40 "$out/console.log" >&2 || true
    die "the guest stopped without running the job (console: $out/console.log)"
  fi
  local code
  code="$(cat "$out/exit-code")"
  log "guest ($mode): booted in $(cat "$out/boot-seconds" 2>/dev/null || echo '?') s, job exit" \
      "$code, $((SECONDS - started)) s from start to power-off"
  return "$code"
}

trap 'stop_qemu' EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

case "${1:-check}" in
  build) build ;;
  accel) choose_accel | sed 's/\t/: /' ;;
  _build_root) shift; _build_root "$@" ;;
  run)
    [ $# -ge 4 ] && [ "$3" = "--" ] || die "usage: $0 run OUT -- COMMAND..."
    out="$2"; shift 3
    run_guest "$out" "$@"
    ;;
  check)
    shift || true
    out="${1:-$REPO/out/netem-vm}"; [ $# -gt 0 ] && shift
    [ "${1:-}" = "--" ] && shift
    mkdir -p "$out"; out="$(cd "$out" && pwd)"
    run_guest "$out" "python -m dred_rtc.netem.vmcheck --out '$out' $*"
    ;;
  *) die "usage: $0 build | accel | run OUT -- COMMAND... | check [OUT] [-- VMCHECK-ARGS]" ;;
esac
