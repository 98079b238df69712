"""corral-bm boots on QEMU virt with H under OpenSBI, brings every hart up through SBI HSM and
reports the hardware it found in the device tree; a tree with devices taken out is read as
such; its own virtio-blk driver reads the disks it finds."""
import os
import re
import sys

import bm

image = os.path.join(sys.argv[1], "corral-bm")

for smp, mem, mib in ((2, "512M", 512), (3, "256M", 256)):
    rc, out = bm.boot(image, smp=smp, mem=mem)
    what = "smp %d mem %s: " % (smp, mem)
    bm.check(rc == 0, what + "QEMU exits 0 after the hypervisor shuts down (rc=%s)" % rc, out)
    bm.check(re.search(r"corral-bm \d+\.\d+\.\d+: bare-metal hypervisor, boot hart \d+", out),
             what + "banner with version and boot hart", out)
    bm.check("memory 0x80000000-0x%x (%d MiB)" % (0x80000000 + mib * 1024 * 1024, mib) in out,
             what + "memory from /memory", out)
    harts = " ".join(str(i) for i in range(smp))
    bm.check("harts %d: %s\n" % (smp, harts) in out, what + "every hart found, all with H", out)
    bm.check("%d of %d harts up" % (smp, smp) in out, what + "every hart started", out)
    bm.check(len(re.findall(r"corral-bm: hart \d+ up", out)) == smp - 1,
             what + "each secondary hart reports", out)
    bm.check("uart ns16550a at 0x10000000 irq 10" in out, what + "console UART", out)
    bm.check(re.search(r"plic at 0xc000000 size 0x[0-9a-f]+, 96 sources", out), what + "PLIC", out)
    bm.check("timer sstc, timebase 10000000 Hz" in out, what + "timer and timebase", out)
    slots = " ".join("0x%x/%d" % (0x10001000 + 0x1000 * i, i + 1) for i in range(8))
    bm.check("virtio-mmio slots 8: " + slots in out, what + "virtio-mmio slots", out)

# The same machine with the virtio slots taken out of the tree, and one hart's
# ISA string without H: the hypervisor sees what the tree says, not what it expects.
d = bm.workdir()
dts = bm.dump_dts(d)
dts = re.sub(r"\n\t\tvirtio_mmio@[0-9a-f]+ \{.*?\n\t\t\};", "", dts, flags=re.S)
dts = re.sub(r"(cpu@1 \{.*?riscv,isa = \"rv64imafdc)h", r"\1", dts, count=1, flags=re.S)
dtb = bm.compile_dts(d, dts)
rc, out = bm.boot(image, extra=["-dtb", dtb])
bm.check("virtio-mmio slots 0:" in out, "edited tree: no virtio slots", out)
bm.check("harts 2: 0 1(no H)" in out, "edited tree: hart 1 without H", out)

# Its own virtio-blk driver (virtio-mmio version 2): each disk's size and first sector.
disks = []
for name, size, ro in (("A", 1 << 20, False), ("B", 3 << 20, True)):
    path = os.path.join(d, "disk%s.img" % name)
    data = bytearray(size)
    data[0:16] = ("CORRAL-BM-DISK-%s" % name).encode()
    open(path, "wb").write(data)
    ro_opt = ",readonly=on" if ro else ""
    disks += ["-drive", "file=%s,if=none,format=raw,id=d%s%s" % (path, name, ro_opt),
              "-device", "virtio-blk-device,drive=d%s" % name]
rc, out = bm.boot(image, extra=["-global", "virtio-mmio.force-legacy=false"] + disks)
bm.check(re.search(r"virtio-blk at 0x[0-9a-f]+: 2048 sectors, write cache, sector 0 'CORRAL-BM-DISK-A'", out),
         "disk A: size and first sector read through the driver", out)
bm.check(re.search(r"virtio-blk at 0x[0-9a-f]+: 6144 sectors \(read-only\)(, write cache)?, sector 0 "
                   r"'CORRAL-BM-DISK-B'", out), "disk B: size, read-only flag, first sector", out)
rc, out = bm.boot(image, extra=disks[:4])   # QEMU's default: the legacy transport
bm.check(re.search(r"virtio-blk at 0x[0-9a-f]+: legacy \(version 1\) transport, not used", out),
         "a legacy virtio-mmio disk is named and left alone", out)
bm.finish()
