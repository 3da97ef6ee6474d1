#!/bin/sh
# PID 1 of the netem VM guest (scripts/netem_vm.sh installs it as /sbin/dred-rtc-vm-init and
# boots with init=/sbin/dred-rtc-vm-init): no systemd, no services, no network to the outside.
#
# It mounts the kernel filesystems, then the shares the host named on the kernel command line
# (dredrtc.job=TAG:PATH for the writable job folder; the job folder's `mounts` file lists the
# read-only shares, "TAG PATH" per line, each at the same path as on the host so the
# project's venv and libopus work unchanged), runs PATH/job.sh with its output on the serial
# console and in PATH/job.log, writes its exit code to PATH/exit-code and powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb

say() { echo "[vm-init] $*" > /dev/console; }
halt() { sync; echo o > /proc/sysrq-trigger; sleep 30; }

mount -t proc proc /proc 2>/dev/null       # the initramfs may have moved these here
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null   # the initramfs usually moved it here already
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
# what udev would make: bash's process substitution needs /dev/fd (scripts/netem_link.sh)
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
for n in 0:stdin 1:stdout 2:stderr; do [ -e "/dev/${n#*:}" ] || ln -s "/proc/self/fd/${n%%:*}" "/dev/${n#*:}"; done
hostname dred-rtc-vm
ip link set lo up

job=""
for word in $(cat /proc/cmdline); do
  case "$word" in dredrtc.job=*) job="${word#dredrtc.job=}" ;; esac
done
[ -n "$job" ] || { say "no dredrtc.job= on the kernel command line"; halt; }
tag="${job%%:*}"; dir="${job#*:}"

# The shares come over virtio-9p (qemu), or as hostfs (user-mode Linux: dredrtc.fs=hostfs).
fs=9p
grep -qw 'dredrtc.fs=hostfs' /proc/cmdline && fs=hostfs
share() {  # share TAG PATH [ro]
  mkdir -p "$2" || return 1
  if [ "$fs" = hostfs ]; then
    mount -t hostfs -o "$2${3:+,$3}" hostfs "$2"
  else
    # msize: 9p's default (8 KiB) makes importing the venv over the share slow
    mount -t 9p -o "trans=virtio,version=9p2000.L,msize=524288${3:+,$3,cache=loose}" "$1" "$2"
  fi
}
if [ "$fs" = 9p ]; then
  modprobe 9pnet_virtio && modprobe 9p || { say "no 9p modules in this kernel"; halt; }
fi
share "$tag" "$dir" || { say "cannot mount the job share $tag"; halt; }
if [ -f "$dir/mounts" ]; then
  while read -r name path; do
    [ -n "$name" ] || continue
    share "$name" "$path" ro || { say "cannot mount share $name at $path"; echo 125 > "$dir/exit-code"; halt; }
  done < "$dir/mounts"
fi

say "booted in $(cut -d' ' -f1 /proc/uptime) s; kernel $(uname -r); running $dir/job.sh"
echo "$(cut -d' ' -f1 /proc/uptime)" > "$dir/boot-seconds"
# tee keeps the job's output on the console (the host shows it) and in job.log
( cd "$dir" && bash "$dir/job.sh"; echo $? > "$dir/exit-code" ) 2>&1 | tee "$dir/job.log" > /dev/console
say "job finished (exit $(cat "$dir/exit-code" 2>/dev/null || echo '?')) at $(cut -d' ' -f1 /proc/uptime) s"
umount "$dir" 2>/dev/null
halt
