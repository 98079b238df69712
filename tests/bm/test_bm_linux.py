"""Two Debian-kernel guests (busybox initramfs, 1 vCPU each, dedicated harts) run in
parallel on corral-bm: each boots in VS-mode with the shared ns16550a model as its console,
its interrupt delivered by the shared PLIC model through hvip.VSEIP, computes an answer
from a number on its own command line, reads its own disk (a slice of the machine's
virtio-blk disk, served by the shared virtio-blk model through the bm driver), writes its
answer to it, and powers off. Afterwards each image holds its own guest's answer and
nothing else changed in it."""
import hashlib
import os
import subprocess
import sys
import time

import bm
from bm import SRC
import guest  # noqa: E402  (bm puts it on the path)

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
echo "RESULT head=$(dd if=/dev/vda bs=512 count=1 2>/dev/null | head -c 8)"
echo "RESULT md5=$(md5sum /dev/vda | cut -c1-32)"
echo "RESULT disk-size=$(cat /sys/block/vda/size)"
echo "answer $(cat /proc/cmdline | sed -n 's/.*bm\.n=\([0-9]*\).*/\1/p') $(seq 1 $n | awk '{s+=$1*$1} END {print s}')" |
    dd of=/dev/vda bs=512 seek=8 conv=notrunc,fsync 2>/dev/null && echo "RESULT wrote"
"""
initrd = guest.autorun_initrd(a["CORRAL_INITRD"], AUTORUN, d)

ns = {"vm0": 3000, "vm1": 4500}
disks, before = {}, {}
for i, vm in enumerate(sorted(ns)):
    img = bytearray(8 << 20)
    img[0:8] = ("DISK-%s" % vm).encode()[:8].ljust(8, b"-")
    for off in range(4096, len(img), 4096):
        img[off:off + 8] = (off * (i + 3)).to_bytes(8, "little")
    disks[vm] = os.path.join(d, "%s.img" % vm)
    with open(disks[vm], "wb") as f:
        f.write(img)
    before[vm] = bytes(img)
cmd = ["nice", os.path.join(SRC, "tools", "bm-run"), "--image", image, "--mem", "1G",
       "--smp", "2", "--timeout", "400"]
for vm in sorted(ns):
    cmd += ["--vm", "kernel=%s,initrd=%s,mem=160M,disk=%s,append=console=ttyS0 quiet bm.n=%d"
            % (a["CORRAL_KERNEL"], initrd, disks[vm], ns[vm])]
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
    bm.check("RESULT head=%s" % before[vm][:8].decode() in mine, vm + ": reads its own disk", out)
    bm.check("RESULT md5=%s" % hashlib.md5(before[vm]).hexdigest() in mine,
             vm + ": its whole disk reads back as written", out)
    bm.check("RESULT disk-size=16384" in mine, vm + ": sees its slice as an 8 MiB disk", out)
    bm.check("RESULT wrote" in mine, vm + ": writes to its disk, with fsync", out)
    after = open(disks[vm], "rb").read()
    line = ("answer %d %d\n" % (n, squares)).encode()
    bm.check(after[8 * 512:8 * 512 + len(line)] == line, vm + ": its answer is on its disk", out)
    bm.check(after[:8 * 512] + after[8 * 512 + len(line):] ==
             before[vm][:8 * 512] + before[vm][8 * 512 + len(line):],
             vm + ": nothing else on its disk changed", out)
    bm.check("autorun-exit=0" in mine, vm + ": the script ran to the end", out)
    bm.check("corral-bm: vm %s: powered off (code 0)" % vm in out, vm + ": powered off", out)
# in parallel: each guest's user space started before either guest powered off
first_off = out.find(": powered off")
bm.check(0 <= out.find("vm0| RESULT start") < first_off and
         0 <= out.find("vm1| RESULT start") < first_off,
         "both guests were running at once", out)
bm.finish()
