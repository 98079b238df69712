"""VM descriptions under /chosen are input: modules over the hypervisor, outside RAM or
missing, two kernels, bad sizes, a hart list of the wrong length, and disk slices that are
malformed, outside the machine's disk or over another VM's, and switch names that are not,
each give one console line and that VM is not started, while a good VM in the same tree
(with a disk slice and a NIC) runs."""
import os
import sys

import bm

bmdir = sys.argv[1]
image = os.path.join(bmdir, "corral-bm")
guest = os.path.join(bmdir, "guests", "guest-ok")
d = bm.workdir()
size = os.path.getsize(guest)
good_at = 0x9c000000


def vm(name, body):
    return ('%s { compatible = "corral,vm"; #address-cells = <2>; #size-cells = <2>; %s };'
            % (name, body))


def kernel(addr, n=size, compat="multiboot,kernel"):
    return ('module@%x { compatible = "%s", "multiboot,module"; reg = <0x%x 0x%x 0x0 0x%x>; };'
            % (addr, compat, addr >> 32, addr & 0xffffffff, n))


mem = "cpus = <1>; memory = <0x0 0x4000>;"   # 16 MiB in KiB, as Xen's bindings have it
# the machine's disk: 8 MiB (16384 sectors); the good VM has sectors 2048..4095
machine_disk = os.path.join(d, "machine.img")
with open(machine_disk, "wb") as f:
    f.truncate(8 << 20)


def disk(start, count):
    return " corral,disk = <0x%x 0x%x 0x%x 0x%x>;" % (start >> 32, start & 0xffffffff,
                                                      count >> 32, count & 0xffffffff)


vms = [
    vm("over-image", mem + kernel(0x80200000)),
    vm("outside-ram", mem + kernel(0x100000000)),
    vm("no-kernel", mem + kernel(good_at, compat="multiboot,ramdisk")),
    vm("two-kernels", mem + kernel(good_at) + kernel(good_at + 0x100000)),
    vm("odd-memory", "cpus = <1>; memory = <0x0 0x1001>;" + kernel(good_at)),
    vm("no-cpus", "memory = <0x0 0x4000>;" + kernel(good_at)),
    vm("hart-list", "cpus = <2>; memory = <0x0 0x4000>; corral,harts = <0>;" + kernel(good_at)),
    vm("disk-cells", mem + " corral,disk = <0 2048>;" + kernel(good_at)),
    vm("disk-outside", mem + disk(16000, 1000) + kernel(good_at)),
    vm("disk-huge", mem + disk(1 << 62, 1 << 62) + kernel(good_at)),
    vm("net-empty", mem + ' corral,net = "";' + kernel(good_at)),
    vm("net-name", mem + ' corral,net = "a/b";' + kernel(good_at)),
    vm("good", mem + disk(2048, 2048) + ' corral,net = "lan";' + kernel(good_at)),
    vm("disk-overlap", mem + disk(4000, 100) + kernel(good_at)),
]
dts = bm.dump_dts(d) + "\n/ { chosen { %s }; };\n" % " ".join(vms)
dtb = bm.compile_dts(d, dts)
rc, out = bm.boot(image, extra=["-dtb", dtb, "-device",
                                "loader,file=%s,addr=0x%x,force-raw=on" % (guest, good_at),
                                "-global", "virtio-mmio.force-legacy=false",
                                "-drive", "file=%s,if=none,format=raw,id=mdisk" % machine_disk,
                                "-device", "virtio-blk-device,drive=mdisk"])
expect = {
    "over-image": "a module overlaps the firmware, the hypervisor or the device tree",
    "outside-ram": "module outside RAM",
    "no-kernel": "no multiboot,kernel module",
    "two-kernels": "two modules of the same kind",
    "odd-memory": "memory must be a multiple of 2 MiB, at least 4 MiB",
    "no-cpus": "cpus missing or out of range (1..8)",
    "hart-list": "corral,harts must name one hart per vCPU",
    "disk-cells": "corral,disk must be <start-hi start-lo count-hi count-lo>",
    "disk-outside": "corral,disk lies outside the machine's disk",
    "disk-huge": "corral,disk has no sectors, or more than a disk can have",
    "disk-overlap": "corral,disk overlaps another VM's disk",
    "net-empty": "corral,net must be a switch name of 1 to 32 characters",
    "net-name": "corral,net must name a switch: 1 to 32 of A-Za-z0-9_.-",
}
for name, why in expect.items():
    bm.check("corral-bm: vm %s: %s; not started" % (name, why) in out, name + ": " + why, out)
bm.check("good| primes below 60000: 6057" in out and "vm good: powered off (code 0)" in out,
         "the good VM runs beside them", out)
bm.check("all VMs have ended" in out and rc == 0, "the machine shuts down after it (rc=%s)" % rc,
         out)

# Only bad descriptions: nothing to run, and the machine still stops.
dtb = bm.compile_dts(d, bm.dump_dts(d) + "\n/ { chosen { %s }; };\n" % " ".join(v for v in vms if not v.startswith("good ")),
                     name="bad.dtb")
rc, out = bm.boot(image, extra=["-dtb", dtb])
bm.check("corral-bm: no VMs to run; shutting down" in out and rc is not None,
         "with no VM left the machine shuts down (rc=%s)" % rc, out)
bm.finish()
