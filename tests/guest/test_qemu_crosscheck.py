"""Run the same workload under qemu-system-riscv64 -M virt and under corral: every
result line ("W: ...") must match."""
import sys
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
initrd = guest.autorun_initrd(a["CORRAL_INITRD"], guest.WORKLOAD, d)
q = guest.run(["qemu-system-riscv64", "-M", "virt", "-nographic", "-bios", a["CORRAL_FW_DYNAMIC"],
               "-kernel", a["CORRAL_KERNEL"], "-initrd", initrd, "-append", "console=ttyS0 quiet",
               "-m", "512M"], timeout=300)
c = guest.run([corral, "run", "--kernel", a["CORRAL_KERNEL"], "--initrd", initrd,
               "--mem", "512M", "--append", "console=ttyS0 quiet"], timeout=300)
guest.check(q.rc == 0 and "autorun-exit=0" in q.text, "the workload runs under QEMU", q)
guest.check(c.rc == 0 and "autorun-exit=0" in c.text, "the workload runs under corral", c)
qw, cw = q.values("W:"), c.values("W:")
guest.check(len(qw) >= 8, "QEMU printed the results (%d lines)" % len(qw), q)
for i, (x, y) in enumerate(zip(qw, cw)):
    guest.check(x == y, "same result: %s%s" % (x, "" if x == y else " | corral: " + y), c)
guest.check(len(qw) == len(cw), "same number of results (%d vs %d)" % (len(qw), len(cw)), c)
print("wall time: QEMU %.1f s, corral %.1f s" % (q.elapsed, c.elapsed))
guest.finish()
