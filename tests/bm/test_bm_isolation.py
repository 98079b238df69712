"""Isolation on corral-bm: three Debian-kernel guests attack through /dev/mem (busybox
devmem) while a fourth does its disk work. One reads the fourth guest's RAM at the host
physical address it has, one reads the hypervisor's own memory (the machine's device tree
at the top of RAM), one writes the machine's virtio-blk device, which holds every guest's
disk. Guest-physical addresses are not host-physical ones: each access lands outside the
attacker's RAM and devices, and corral-bm stops that guest with a console line naming the
address. The fourth guest finishes its work, and its disk holds exactly what it wrote."""
import hashlib
import os
import re
import subprocess
import sys

import bm
from bm import SRC
import guest  # noqa: E402  (bm puts it on the path)

image = os.path.join(sys.argv[1], "corral-bm")
a = guest.assets()
d = bm.workdir()

MEM = 128 << 20
# Slices are handed out in order from the first free 2 MiB after the image, one per VM. The
# victim is the last VM, so its RAM lies above every attacker's.
nm = subprocess.run(["riscv64-linux-gnu-nm", image], stdout=subprocess.PIPE, text=True, check=True)
image_end = int(re.search(r"^([0-9a-f]+) \w __image_end$", nm.stdout, re.M).group(1), 16)
VICTIM_HPA = ((image_end + (2 << 20) - 1) & ~((2 << 20) - 1)) + 3 * MEM
MACHINE_DT = 0x80000000 + (1 << 30) - (2 << 20)   # QEMU puts it in the top 2 MiB of RAM
DISK_SLOT = 0x10008000                           # QEMU's last virtio-mmio slot: the disk

ATTACK = r"""#!/bin/sh
a=$(sed -n 's/.*bm\.addr=\(0x[0-9a-f]*\).*/\1/p' /proc/cmdline)
v=$(sed -n 's/.*bm\.val=\([0-9]*\).*/\1/p' /proc/cmdline)
sleep 8   # the victim is at its disk work by then
echo "RESULT attacking $a"
if [ -n "$v" ]; then devmem $a 32 $v; else devmem $a 32; fi
echo "RESULT still-running after $a"
"""
VICTIM = r"""#!/bin/sh
echo "RESULT start"
i=0
while [ $i -lt 12 ]; do
    echo "round $i $(seq 1 $((i*500+500)) | awk '{s+=$1*$1} END {print s}')" |
        dd of=/dev/vda bs=512 seek=$((16+i)) conv=notrunc,fsync 2>/dev/null || echo "RESULT write-failed $i"
    sleep 2
    i=$((i+1))
done
echo "RESULT md5=$(md5sum /dev/vda | cut -c1-32)"
echo "RESULT done"
"""


def initrd(name, script):
    return guest.autorun_initrd(a["CORRAL_INITRD"], script, d, name + ".cpio")


attack, victim = initrd("attack", ATTACK), initrd("victim", VICTIM)
disk = os.path.join(d, "victim.img")
before = bytearray(4 << 20)
before[0:12] = b"VICTIM-DISK!"
with open(disk, "wb") as f:
    f.write(before)
k = a["CORRAL_KERNEL"]
attacks = {"vm0": ("0x%x" % (VICTIM_HPA + (2 << 20)), None),
           "vm1": ("0x%x" % MACHINE_DT, None),
           "vm2": ("0x%x" % (DISK_SLOT + 0x70), 0)}   # Status = 0: reset the machine's disk
cmd = ["nice", os.path.join(SRC, "tools", "bm-run"), "--image", image, "--smp", "2",
       "--mem", "1G", "--timeout", "900"]
for vm in sorted(attacks):
    addr, val = attacks[vm]
    append = "console=ttyS0 quiet bm.addr=%s%s" % (addr, "" if val is None else " bm.val=%d" % val)
    cmd += ["--vm", "kernel=%s,initrd=%s,mem=128M,append=%s" % (k, attack, append)]
cmd += ["--vm", "kernel=%s,initrd=%s,mem=128M,disk=%s,append=console=ttyS0 quiet" % (k, victim, disk)]
r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   timeout=1000)
out = r.stdout.decode(errors="replace").replace("\r", "")

bm.check(re.search(r"vm vm3: 1 vCPU, 128 MiB at 0x%x" % VICTIM_HPA, out),
         "the victim's RAM is at host physical 0x%x, as the attack assumes" % VICTIM_HPA, out)
bm.check("device tree at 0x%x" % MACHINE_DT in out,
         "the machine's device tree is at 0x%x, as the attack assumes" % MACHINE_DT, out)
bm.check(re.search(r"virtio-blk at 0x%x: " % DISK_SLOT, out),
         "the machine's disk is at 0x%x, as the attack assumes" % DISK_SLOT, out)
for vm, (addr, val) in sorted(attacks.items()):
    kind = "load" if val is None else "store"
    bm.check("%s| RESULT attacking %s" % (vm, addr) in out, vm + ": attacks " + addr, out)
    bm.check(re.search(r"corral-bm: vm %s: vCPU 0: guest %s outside its memory at guest physical "
                       r"%s" % (vm, kind, addr), out),
             "%s: its %s at %s is refused and named" % (vm, kind, addr), out)
    bm.check("corral-bm: vm %s: stopped: access outside its memory (code 255)" % vm in out,
             vm + ": is stopped", out)
    bm.check("%s| RESULT still-running" % vm not in out, vm + ": got nothing back", out)
mine = [l[len("vm3| "):] for l in out.splitlines() if l.startswith("vm3| ")]
bm.check("RESULT done" in mine and "autorun-exit=0" in mine and
         "corral-bm: vm vm3: powered off (code 0)" in out, "the victim finishes", out)
bm.check(not any("write-failed" in l for l in mine), "every write of the victim succeeded", out)
first_stop = min(out.find("vm %s: stopped" % vm) for vm in attacks)
bm.check(0 <= out.find("vm3| RESULT start") < first_stop < out.find("vm3| RESULT done"),
         "the victim was at its disk work when the attacks came", out)
after = open(disk, "rb").read()
expect = bytearray(before)
for i in range(12):
    n = i * 500 + 500
    line = ("round %d %d\n" % (i, n * (n + 1) * (2 * n + 1) // 6)).encode()
    expect[(16 + i) * 512:(16 + i) * 512 + len(line)] = line
bm.check(after == bytes(expect), "the victim's disk holds exactly what it wrote", out)
bm.check("RESULT md5=%s" % hashlib.md5(bytes(expect)).hexdigest() in mine,
         "the victim read back its whole disk as written", out)
bm.check(r.returncode == 255, "bm-run reports the first stopped VM's code (rc=%d)" % r.returncode, out)
bm.finish()
