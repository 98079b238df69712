"""The malicious-guest suite: small bare-metal guests (tests/guest/hostile/) that attack every
virtio device and the hart. Each must leave the VMM alive and unharmed: the process ends with
the guest's own power-off status (not a signal, not a sanitizer report), the guest sees the
outcome the specs call for (a device error, NEEDS_RESET, an access fault, an illegal
instruction) and a normal request works after every attack, and the host sees the guest's
console writes on the virtio console."""
import os
import re
import struct
import subprocess
import sys
import threading
import time
import guest

corral = sys.argv[1]
d = guest.workdir()
src = os.path.join(guest.SRC, "tests", "guest", "hostile")
r = subprocess.run(["make", "-s", "-C", src, "O=" + d], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True)
guest.check(r.returncode == 0, "the hostile guests build with the cross compiler (%s)" % r.stdout[-500:])
if r.returncode:
    guest.finish()

# sector 1 holds what the guests' good block request expects to read; sector 2 the code the
# smc guest has the disk write over its own: the upper half of addi a0, a0, 42, then c.jr ra
disk = os.path.join(d, "disk.img")
addi42 = 42 << 20 | 10 << 15 | 10 << 7 | 0x13
with open(disk, "wb") as f:
    f.write(bytes(512) + b"HOSTILE-DISK".ljust(512, b"\0"))
    f.write(struct.pack("<HH", addi42 >> 16, 0x8082).ljust(512, b"\0"))
    f.truncate(1 << 20)

DEVICES = ["blk", "net", "console", "rng", "balloon", "input"]  # input: the power button, always there
DESC_ATTACKS = ["two-descriptor loop", "self loop", "loop through the whole ring", "next out of range",
                "head out of range", "readable after writable", "64K indirect chain",
                "64K indirect loop", "indirect loop", "indirect table inside an indirect table",
                "indirect with NEXT", "indirect length not a multiple of 16",
                "indirect table across the end of RAM", "indirect table of 2^32-16 bytes",
                "indirect entry across the end of RAM", "buffer at the end of RAM",
                "buffer across the end of RAM", "buffer past the end of RAM",
                "buffer wrapping the address space", "buffer across the start of RAM",
                "buffer on MMIO", "buffer at address 0", "length 2^32-1",
                "length 2^32-1 at the end of RAM", "available index 1000 ahead",
                "1024 x 60 MiB buffers, reset 20 ms later"]
BLK_SEMANTICS = ["read past the end of the disk", "read at sector 2^64-1",
                 "read where sector * 512 wraps", "write across the end of the disk",
                 "write at sector 2^64-2", "unknown request type",
                 "discard of 2^32-1 sectors at 2^64-8", "write-zeroes of 2^32-1 sectors at 2^64-8",
                 "discard of 8 sectors at 2^64-4", "write-zeroes of 4M sectors at 0",
                 "discard with unknown flags",
                 "header without a status byte"]
NET_RX = ["receive loop", "receive buffer across the end of RAM", "receive buffer not device-writable",
          "receive buffer of 1 byte", "receive buffer of 0 bytes",
          "checksum offsets at and past the frame's end"]
TRANSPORT_ATTACKS = ["50 bring-ups and resets while the other hart notifies",
                     "queue size changed while running", "queue size 0 while running",
                     "queue disabled while running", "descriptor table moved while running",
                     "used ring moved past 4 GiB while running", "QueueNumMax", "queue size 3",
                     "queue size QueueNumMax*2", "queue size 65535", "queue size 2^32-1",
                     "descriptor table across the end of RAM", "used ring past the end of RAM",
                     "available ring on MMIO", "misaligned descriptor table", "rings at 2^64-64",
                     "queue 2^32-1 selected",
                     "notify storm on an empty queue and on every queue number",
                     "one request under a notify storm", "reset during I/O, 40 times",
                     "features changed after FEATURES_OK", "VERSION_1 dropped after DRIVER_OK",
                     "FEATURES_OK cleared while running", "DRIVER_OK without FEATURES_OK",
                     "FEATURES_OK without DRIVER", "device feature word 2^32-1",
                     "every offset and size read", "config space written at every offset and size",
                     "registers written at odd sizes and offsets"]


def per_device(attacks, devices=DEVICES):
    return ["%s: %s -> " % (dev, a) for dev in devices for a in attacks]


def spec(elf, args, verdicts, recoveries=0, devices=(), boot="--kernel", typed=None, output=None):
    """A run of ELF with ARGS: the verdict prefixes that must each end in " ok", and how many
    good requests after an attack ("<dev>: after ... -> good request ... ok") each of
    DEVICES must serve. BOOT "--bios" runs ELF in M-mode as the firmware. TYPED is what the
    host types into the console; OUTPUT(out) gives more (ok, what) checks of the console."""
    return dict(elf=elf, args=args, verdicts=verdicts, recoveries=recoveries, devices=devices,
                boot=boot, typed=typed, output=output)


# the uart guest's input (byte i as its input_byte(i)), and what the host must see of its
# floods: every '~' it sent, none of the '|' it wrote to the divisor, none of the loopback
# bytes (0x80-0xff, which do not decode)
UART_TYPED = bytes((i * 31 + (i >> 8)) & 0xff for i in range(65536))


def uart_output(out):
    return [(out.count("~") == 65536, "the host saw all 65536 bytes of the THR flood (%d)" % out.count("~")),
            ("|" not in out and "\ufffd" not in out,
             "no byte written to the divisor or in loopback reached the host")]


# where the mcsr guest puts its page-table roots and non-leaf entries
TABLE_PLACES = ["the UART", "the CLINT", "a PLIC context", "a virtio slot", "the RTC", "address 0",
                "RAM_END", "1 GiB past RAM", "the last page of the physical space"]


# the same disk as qcow2, and both limited: requests held by the rate limiter meet resets
qcow2 = os.path.join(d, "disk.qcow2")
r = subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", disk, qcow2])
guest.check(r.returncode == 0, "qemu-img makes a qcow2 copy of the disk")
ALL_DEVICES = ["--disk", disk, "--net", "user", "--rng", "--balloon"]
DESC_VERDICTS = (["%s: good request first ok" % dev for dev in DEVICES]
                 + ["blk: %s -> " % a for a in BLK_SEMANTICS] + ["net: %s -> " % a for a in NET_RX]
                 + ["balloon: %s -> " % a for a in ("free page report across the end of RAM",
                                                    "free page report of 2^32-1 bytes",
                                                    "free page report not device-writable",
                                                    "statistics of 60 GiB, then a torn one, then reset")])
GUESTS = {
    "desc": spec("desc", ALL_DEVICES, per_device(DESC_ATTACKS) + DESC_VERDICTS,
                 len(DESC_ATTACKS), DEVICES),
    "desc-qcow2": spec("desc", ["--disk", qcow2 + ",format=qcow2"],
                       per_device(DESC_ATTACKS, ["blk"]) + ["blk: %s -> " % a for a in BLK_SEMANTICS],
                       len(DESC_ATTACKS), ["blk"]),
    # the same against rate-limited devices, whose limits must not be run into debt by what
    # they refuse or drop
    "desc-limited": spec("desc", ["--disk", qcow2 + ",format=qcow2,bps=4000000",
                                  "--net", "user,bps=200000"],
                         per_device(DESC_ATTACKS, ["blk", "net"]) +
                         ["blk: %s -> " % a for a in BLK_SEMANTICS] + ["net: %s -> " % a for a in NET_RX],
                         len(DESC_ATTACKS), ["blk", "net"]),
    # QueueNumMax is only read: one attack fewer has a good request after it
    "transport": spec("transport", ALL_DEVICES + ["--smp", "2"],
                      per_device(TRANSPORT_ATTACKS) + ["transport: a second hart starts ok"],
                      len(TRANSPORT_ATTACKS) - 1, DEVICES),
    "transport-limited": spec("transport", ["--disk", qcow2 + ",format=qcow2,iops=200,bps=4000000",
                                            "--net", "user,bps=200000", "--smp", "2"],
                              per_device(TRANSPORT_ATTACKS, ["blk", "net"]),
                              len(TRANSPORT_ATTACKS) - 1, ["blk", "net"]),
    "paging": spec("paging", [], [
        "paging: load via a normal page", "paging: fetch via a page on the UART",
        "paging: amo via a page on the UART", "paging: lr via a table on the UART",
        "paging: store via a page past RAM", "paging: fetch via a table past RAM",
        "paging: load via a table on a virtio device",
        "paging: fetch via a page at the top of the physical space",
        "paging: load via a misaligned megapage", "paging: store via a PTE with a reserved bit",
        "paging: load via a table in the last page of RAM",
        "paging: load across a page into one past RAM",
        "paging: load via a PTE moved past RAM after sfence.vma",
        "paging: instruction across two pages, 2000 runs",
        "paging: its second page unmapped", "paging: its second page not executable",
        "paging: its second page on the UART", "paging: its second page past RAM",
        "paging: its second page mapped to another frame", "paging: and back",
        "paging: load via a gigapage at RAM_END",
        "paging: load across RAM_END through a gigapage",
        "paging: load via an Sv48 level-3 table on the UART",
        "paging: fetch via an Sv48 level-3 table past RAM",
        "paging: store via an Sv57 level-4 table on the UART",
        "paging: amo via an Sv57 level-4 table past RAM",
        "paging: load via an Sv57 address that is not sign-extended", "paging: off again"]),
    "amo": spec("amo", [], [
        "amo: %s at %s -> " % (op, at) for op in ("amoadd.w", "amoadd.d", "lr.d", "sc.w", "ld", "c.sd")
        for at in ("RAM_END-2", "RAM_END", "RAM_END+8", "RAM_BASE-2", "2^64-4")] + [
        "amo: last doubleword of RAM", "amo: amoadd.d at a page edge in RAM",
        "amo: amoadd.w at the UART", "amo: amoadd.d at a virtio status register"]),
    "smc": spec("smc", ["--disk", disk, "--smp", "2"], [
        "smc: addi across offset 0xffe",
        "smc: the other hart rewrites the second page's half 200 times",
        "smc: addi in RAM's last word, 2000 runs",
        "smc: virtio-blk reads new code over the second page's half",
        "smc: second page's half rewritten 1000 times",
        "smc: first page's half rewritten 1000 times", "smc: AMO rewrites the second page's half",
        "smc: code rewrites the instruction across the edge ahead of it",
        "smc: 32-bit instruction across the end of RAM", "smc: c.li in RAM's last halfword",
        "smc: addi in RAM's last word runs", "smc: RAM's last word rewritten",
        "smc: jump past RAM"]),
    "csr": spec("csr", [], [
        "csr: all 2048 H- and M-level numbers trap", "csr: all 1024 read-only numbers trap",
        "csr: every trap is an illegal instruction", "csr: satp with an unsupported mode",
        "csr: the S-level and user CSRs of the spec read", "csr: the sweep reached real CSRs",
        "csr: from U-mode, every S-, H- and M-level number traps",
        "csr: stvec, sstatus, sie and satp are as before", "csr: a timer set through the SBI"]),
    "mcsr": spec("mcsr", [], [
        "mcsr: every CSR the hart has serves every pattern",
        "mcsr: every other number traps on read and write",
        "mcsr: every trap is an illegal instruction", "mcsr: WARL fields hold legal values",
        "mcsr: a good table serves MPRV loads and S-mode runs"] + [
        "mcsr: %s %s -> load, store and fetch access faults" % (what, at)
        for at in TABLE_PLACES for what in ("Sv39 root on", "Sv57 root on", "Sv39 table non-leaf to")] + [
        "mcsr: root in RAM's last page -> page faults",
        "mcsr: locked PMP entries refuse writes and bind M-mode",
        "mcsr: a locked PMP entry of 8 bytes inside a page binds M-mode",
        "mcsr: a doubleword load, AMO or LR over a locked 4-byte PMP entry faults",
        "mcsr: code running into a locked non-executable PMP entry inside its page faults",
        "mcsr: all 64 PMP entries locked, M-mode still runs",
        "mcsr: a machine timer still fires"], boot="--bios"),
    "mmio": spec("mmio", ["--smp", "2"], [
        "mmio: UART, every offset", "mmio: RTC, every offset", "mmio: test device, other values",
        "mmio: CLINT, every register", "mmio: PLIC, every kind of register", "mmio: virtio slots",
        "mmio: holes in the memory map", "mmio: time still moves",
        "mmio: a timer set through the SBI still fires"]),
    "irq": spec("irq", ["--smp", "2"], ["irq: " + v for v in (
        "PLIC, every word of the window read and written", "PLIC, every size at every offset",
        "PLIC sources 0 and 96-1023 have no priority, enable or pending bit",
        "PLIC contexts past the harts' read zero; a threshold keeps 3 bits",
        "PLIC bogus completions leave the UART's interrupt in service",
        "two harts claim, complete and reconfigure every context for 200 ms",
        "CLINT, every word of the window at every size",
        "CLINT msip and mtimecmp of harts 2-4094 read zero",
        "stimecmp of 0, 1, 2^32, 2^62, 2^63, 2^64-1", "mtime moved across 2^64 under stimecmp",
        "time still moves", "a timer set through the SBI still fires")]),
    "uart": spec("uart", [], ["uart: " + v for v in (
        "THR flooded with 64 KiB and DLL with 4 KiB, THRE still set",
        "64 KiB of host input arrive whole and in order",
        "loopback flooded past its 4 KiB: overrun once, 4096 bytes back in order")],
        typed=UART_TYPED, output=uart_output),
    "sbi": spec("sbi", ["--smp", "2"], ["sbi: " + v for v in (
        "unknown extension", "IPI, hart mask base 2^64-2 + 1 wraps", "IPI to hart 8",
        "IPI to all harts", "remote sfence.vma on every hart", "remote fence.i to hart 40",
        "start hart 99", "start at RAM_END-2", "start on MMIO", "start at 2^64-4", "start myself",
        "console write across RAM_END", "console write of 2^64-1 bytes", "console read into MMIO",
        "a good console write", "info of PMU counter 1000", "reset of type 2^32-1",
        "shutdown for reserved reason 2", "shutdown for an unimplemented SBI-specific reason",
        "legacy getchar", "start hart 1 at good code")]),
}
SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|"
                       r"SUMMARY: \w+Sanitizer")

only = sys.argv[2:]  # names of guests to run (all by default), for debugging
t_all = time.monotonic()
for name, g in GUESTS.items():
    if only and name not in only:
        continue
    verdicts, recoveries, devices = g["verdicts"], g["recoveries"], g["devices"]
    hvc = os.path.join(d, name + "-hvc.txt")
    cmd = [corral, "run", g["boot"], os.path.join(d, g["elf"] + ".elf"), "--mem", "64M", "--no-reboot"]
    cmd += g["args"]
    hvc_data = []
    if "console" in devices:
        # a FIFO, not a file: a file would start again past --hvc's 16 MiB cap, and the
        # attacks write 9 to 17 MiB (more or less, by timing) before the writes counted below
        os.mkfifo(hvc)

        def drain(path=hvc, sink=hvc_data):
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(65536), b""):
                    sink.append(chunk)
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        cmd += ["--hvc", "file:" + hvc]
    t0 = time.monotonic()
    typed = g["typed"]
    p = guest.spawn(cmd, stdin=subprocess.PIPE if typed else subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(input=typed, timeout=120)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        rc = "timeout"
    took = time.monotonic() - t0
    out = out.decode("utf-8", "replace").replace("\r", "")
    err = err.decode("utf-8", "replace")
    run = guest.Run(rc if isinstance(rc, int) else -1,
                    [(0, l) for l in (out + "\n--- stderr ---\n" + err).splitlines()], took)
    lines = out.splitlines()
    fails = [l for l in lines if l.endswith(" FAIL")]
    tally = re.search(r"^hostile: (\d+) checks, (\d+) failed$", out, re.M)
    guest.check(rc == 0, "%s: the VMM ends with the guest's power-off status 0 (%s) in %.1f s"
                % (name, rc, took), run)
    guest.check(not SANITIZER.search(err), "%s: no sanitizer report on stderr" % name, run)
    guest.check("stopping the VM" not in err, "%s: nothing but the guest ended the VM" % name, run)
    guest.check(tally is not None and tally.group(2) == "0" and not fails,
                "%s: the guest reports all its checks passed (%s; failed: %s)"
                % (name, tally and tally.group(0), fails[:5]), run)
    missing = [v for v in verdicts if not any(l.startswith(v) and l.endswith(" ok") for l in lines)]
    guest.check(not missing, "%s: the guest printed its %d expected verdicts (missing: %s)"
                % (name, len(verdicts), missing[:5]), run)
    for ok, what in g["output"](out) if g["output"] else []:
        guest.check(ok, "%s: %s" % (name, what), run)
    for dev in devices:
        good = [l for l in lines if l.startswith(dev + ": after ") and " -> good request " in l
                and l.endswith(" ok")]
        guest.check(len(good) >= recoveries, "%s: %s serves a good request after each of %d attacks "
                    "(%d did)" % (name, dev, recoveries, len(good)), run)
    if "console" in devices:
        # every good console request the guest counted reached the host, in order
        served = len([l for l in lines if l.startswith("console: ") and "good request" in l
                      and l.endswith(" ok")])
        reader.join(timeout=30)
        seen = b"".join(hvc_data).decode(errors="replace")
        # the attacks' own console requests and emergency writes put bytes between them (RAM
        # that holds an earlier message among them): the first sight of each, in order
        alive = []
        for n in re.findall(r"hvc alive (\d+)\n", seen):
            if n not in alive:
                alive.append(n)
        if os.path.exists(hvc):
            os.unlink(hvc)
        guest.check(served > 20 and alive == [str(i) for i in range(1, served + 1)],
                    "%s: the host saw the guest's %d console writes after the attacks (saw %d)"
                    % (name, served, len(alive)), run)

# a hart wedged for good (every trap a fetch fault at mtvec): the VMM still answers SIGTERM
if not only or "wedge" in only:
    p = guest.spawn([corral, "run", "--bios", os.path.join(d, "wedge.elf"), "--mem", "64M", "--no-reboot"],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2)
    wedged = p.poll() is None
    t0 = time.monotonic()
    p.terminate()
    try:
        out, err = p.communicate(timeout=20)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        rc = "timeout"
    took = time.monotonic() - t0
    out = out.decode("utf-8", "replace")
    err = err.decode("utf-8", "replace")
    run = guest.Run(rc if isinstance(rc, int) else -1,
                    [(0, l) for l in (out + "\n--- stderr ---\n" + err).splitlines()], took)
    guest.check(wedged and "wedge: mtvec on the UART, trapping forever" in out,
                "wedge: the guest wedged its hart and kept the VM running", run)
    guest.check(rc == 0 and "stopping the VM" in err and took < 10,
                "wedge: SIGTERM stops the VM (%s) in %.1f s" % (rc, took), run)
    guest.check(not SANITIZER.search(err), "wedge: no sanitizer report on stderr", run)

took = time.monotonic() - t_all
print("hostile suite: %.1f s" % took)
guest.finish()
