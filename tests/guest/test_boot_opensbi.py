"""Boot the stock Debian kernel + busybox initramfs under Debian OpenSBI (fw_dynamic) in M-mode;
init runs the shared workload and powers off."""
import sys
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
initrd = guest.autorun_initrd(a["CORRAL_INITRD"], guest.WORKLOAD, d)
r = guest.run([corral, "run", "--bios", a["CORRAL_FW_DYNAMIC"], "--kernel", a["CORRAL_KERNEL"], "--initrd", initrd,
               "--mem", "512M", "--append", "console=ttyS0 quiet"], timeout=300)
guest.check(r.rc == 0, "corral exits 0 after the guest powers off (rc=%d)" % r.rc, r)
guest.check("autorun-exit=0" in r.text, "the workload script ran to the end", r)
guest.check("W: arith 42 1099511627776 -3 -1 -9223372036854775808 -1" in r.text,
            "shell arithmetic", r)
guest.check("W: awk 3.141593 2147483647 0.500000000" in r.text, "awk floating point", r)
guest.check("W: awk-sum 2666866670000" in r.text, "awk loop", r)
guest.check("W: tmpfs 4 " in r.text and " tmpfs" in r.text, "files in tmpfs", r)
isa = r.values("ISA:")
guest.check(bool(isa) and "rv64imafdc" in isa[0], "/proc/cpuinfo shows the ISA (%s)" % isa, r)
guest.check("CPUS: 1" in r.text, "one hart online", r)
t0, t1 = r.time_of("^SLEEP-START"), r.time_of("^SLEEP-END")
wall = (t1 - t0) if t0 is not None and t1 is not None else -1
guest.check(0.9 <= wall <= 2.0, "sleep 1 takes about a second of wall time (%.2f s)" % wall, r)
g = r.values("SLEEP-GUEST:")
gv = float(g[0].split()[1]) if g else -1
guest.check(0.95 <= gv <= 1.6, "sleep 1 takes about a second of guest time (%.2f s)" % gv, r)
guest.finish()
