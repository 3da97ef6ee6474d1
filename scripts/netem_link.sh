#!/usr/bin/env bash
# Impair one network interface with Linux's netem, and remove it again.
#
#   sudo scripts/netem_link.sh apply eth0 --loss 20% --delay 40ms --jitter 10ms [--burst 2.5] [--rate 256kbit]
#   sudo scripts/netem_link.sh show eth0
#   sudo scripts/netem_link.sh teardown eth0
#
# netem acts on what the interface SENDS (egress). For a call between two real machines, run
# `apply` on the sender's interface (or on both machines for both directions).
#   --loss P%      random loss; with --burst B: Gilbert-Elliott loss, P% on average in bursts
#                  of B packets on average (netem `loss gemodel p r 100% 0%`, r = 1/B,
#                  p = P*r/(1-P), the same two-state model as dred-rtc's gilbert:p,r)
#   --delay D      one-way delay added to every packet (e.g. 40ms)
#   --jitter J     standard deviation of that delay (Normal distribution; needs --delay)
#   --rate R       link rate (e.g. 256kbit)
# `apply` replaces whatever root qdisc the interface had; `teardown` restores the default.
# Teardown also runs when `apply ... --for SECONDS` is given, after SECONDS or on Ctrl-C.
# The kernel needs sch_netem (CONFIG_NET_SCH_NETEM); without it tc answers
# "Specified qdisc kind is unknown" -- use `dred-rtc netem-demo` (NFQUEUE fallback) instead.
set -euo pipefail

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
die() { echo "netem_link: $*" >&2; exit 1; }

[ $# -ge 2 ] || usage
action=$1; dev=$2; shift 2
command -v tc >/dev/null || die "tc not found (Debian package iproute2)"
ip link show dev "$dev" >/dev/null 2>&1 || die "no interface $dev (see: ip link)"

loss="" burst="" delay="" jitter="" rate="" duration=""
while [ $# -gt 0 ]; do
  case "$1" in
    --loss) loss=${2%\%}; shift 2 ;;
    --burst) burst=$2; shift 2 ;;
    --delay) delay=$2; shift 2 ;;
    --jitter) jitter=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --for) duration=$2; shift 2 ;;
    *) usage ;;
  esac
done

netem_args() {
  local args=(limit 1000)
  # tc refuses a delay distribution with zero latency: 1us stands for "no fixed delay"
  if [ -n "$jitter" ] && [ -z "$delay" ]; then delay=1us; fi
  if [ -n "$delay" ]; then
    args+=(delay "$delay")
    [ -n "$jitter" ] && args+=("$jitter" distribution normal)
  fi
  if [ -n "$loss" ]; then
    if [ -n "$burst" ]; then
      # Gilbert-Elliott: r = 1/burst, p = loss*r/(1-loss); every packet in the bad state is lost
      read -r p r < <(awk -v l="$loss" -v b="$burst" 'BEGIN { l /= 100; r = 1 / b;
        printf "%.4f %.4f\n", 100 * l * r / (1 - l), 100 * r }')
      args+=(loss gemodel "${p}%" "${r}%" 100% 0%)
    else
      args+=(loss random "${loss}%")
    fi
  fi
  [ -n "$rate" ] && args+=(rate "$rate")
  echo "${args[@]}"
}

teardown() {
  # Only our netem qdisc is removed; "no qdisc" is fine (already clean).
  if tc qdisc show dev "$dev" | grep -q "qdisc netem"; then
    tc qdisc del dev "$dev" root && echo "netem_link: removed netem from $dev" >&2
  fi
}

case "$action" in
  apply)
    args=$(netem_args)
    echo "+ tc qdisc replace dev $dev root netem $args" >&2
    # shellcheck disable=SC2086  # word splitting of $args is intended
    tc qdisc replace dev "$dev" root netem $args
    tc qdisc show dev "$dev"
    if [ -n "$duration" ]; then
      trap teardown EXIT INT TERM
      echo "netem_link: impairing $dev for $duration s (Ctrl-C to stop early)" >&2
      sleep "$duration"
    fi
    ;;
  show) tc -s qdisc show dev "$dev" ;;
  teardown) teardown ;;
  print) netem_args ;;   # the netem arguments only, for checking
  *) usage ;;
esac
