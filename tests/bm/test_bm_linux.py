"""Two Debian-kernel guests (busybox initramfs, 1 vCPU each, dedicated harts) run in
parallel on corral-bm: each boots in VS-mode with the shared ns16550a model as its console,
its interrupt delivered by the shared PLIC model through hvip.VSEIP, computes an answer
from a number on its own command line, and powers off."""
import hashlib
import os
import subprocess
import sys
import time

import bm

SRC = os.environ.get("CORRAL_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools"))
sys.path.insert(0, os.path.join(SRC, "tests", "guest"))
import cpio  # noqa: E402
import guest  # noqa: E402

image = os.path.join(sys.argv[1], "corral-bm")
a = guest.assets()
d = bm.workdir()

AUTORUN = r"""#!/bin/sh
echo "RESULT start"
sleep 5   # room for the other guest to start too, however the host schedules them
n=$(sed -n 's/.*bm\.n=\([0-9]*\).*/\1/p' /proc/cmdline)
echo "RESULT n=$n squares=$(seq 1 $n | awk '{s+=$1*$1} END {print s}')"
echo "RESULT sha=$(seq 1 $n | sha256sum | cut -c1-16)"
echo "RESULT cpus=$(grep -c ^processor /proc/cpuinfo)"
grep ttyS0 /proc/interrupts | awk '{print "RESULT uart-irq", ($2 > 0), $3, $4, $5}'
"""
w = cpio.Writer()
w.add_file("autorun", AUTORUN.encode(), 0o755)
initrd = os.path.join(d, "initrd.cpio")
with open(initrd, "wb") as f:
    f.write(open(a["CORRAL_INITRD"], "rb").read() + w.finish())

ns = {"vm0": 3000, "vm1": 4500}
cmd = ["nice", os.path.join(SRC, "tools", "bm-run"), "--image", image, "--mem", "1G",
       "--smp", "2", "--timeout", "400"]
for vm in sorted(ns):
    cmd += ["--vm", "kernel=%s,initrd=%s,mem=160M,append=console=ttyS0 quiet bm.n=%d"
            % (a["CORRAL_KERNEL"], initrd, ns[vm])]
t0 = time.monotonic()
r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   timeout=500)
out = r.stdout.decode(errors="replace").replace("\r", "")
print("both guests done in %.1f s" % (time.monotonic() - t0))
bm.check(r.returncode == 0, "bm-run exits 0: both guests powered off with 0 (rc=%d)" % r.returncode, out)
harts = [l.split("harts ")[1] for l in out.splitlines() if "1 vCPU, 160 MiB" in l]
bm.check(len(harts) == 2 and harts[0] != harts[1], "one dedicated hart each (%s)" % harts, out)
for vm, n in sorted(ns.items()):
    mine = [l[len(vm) + 2:] for l in out.splitlines() if l.startswith(vm + "| ")]
    squares = n * (n + 1) * (2 * n + 1) // 6
    sha = hashlib.sha256("".join("%d\n" % i for i in range(1, n + 1)).encode()).hexdigest()[:16]
    bm.check("RESULT n=%d squares=%d" % (n, squares) in mine, vm + ": computes its own answer", out)
    bm.check("RESULT sha=%s" % sha in mine, vm + ": sha256 in user space", out)
    bm.check("RESULT cpus=1" in mine, vm + ": sees one hart", out)
    bm.check("RESULT uart-irq 1 SiFive PLIC 10" in mine,
             vm + ": its UART interrupts arrive through the virtual PLIC", out)
    bm.check("autorun-exit=0" in mine, vm + ": the script ran to the end", out)
    bm.check("corral-bm: vm %s: powered off (code 0)" % vm in out, vm + ": powered off", out)
# in parallel: each guest's user space started before either guest powered off
first_off = out.find(": powered off")
bm.check(0 <= out.find("vm0| RESULT start") < first_off and
         0 <= out.find("vm1| RESULT start") < first_off,
         "both guests were running at once", out)
bm.finish()
