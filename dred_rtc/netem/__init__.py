"""Network impairment on a real link: namespaces + veth, tc netem, an NFQUEUE userspace
impairer, UDP link probes, and the `dred-rtc netem-demo` command (see demo.py)."""
