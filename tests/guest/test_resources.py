"""Resources held to their share: a CPU quota caps a VM that spins on every hart, and memory
the guest frees goes back to the host (virtio-balloon free page reporting)."""
import os
import subprocess
import sys
import threading
import time
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
K = a["CORRAL_KERNEL"]
TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def rss(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Guest:
    """A VM in the foreground whose console lines are collected as they come."""

    def __init__(self, script, args):
        initrd = guest.autorun_initrd(a["CORRAL_INITRD"], script, d)
        self.p = guest.spawn([corral, "run", "--kernel", K, "--initrd", initrd,
                              "--append", "console=ttyS0 quiet"] + args,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        self.text = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.text += line.decode(errors="replace")

    def wait_for(self, marker, timeout):
        t0 = time.monotonic()
        while marker not in self.text and time.monotonic() - t0 < timeout:
            if self.p.poll() is not None:
                break
            time.sleep(0.2)
        return marker in self.text

    def end(self):
        self.p.kill()
        self.p.wait()


# ---- a 25 % quota on a VM spinning on both harts
spin = """#!/bin/sh
(while :; do :; done) &
(while :; do :; done) &
echo SPINNING
sleep 100000
"""
g = Guest(spin, ["--mem", "128M", "--cpus", "2", "--cpu-quota", "25"])
guest.check(g.wait_for("SPINNING", 400), "the capped guest boots and spins on both harts")
time.sleep(2)
t0, c0 = time.monotonic(), cpu_ticks(g.p.pid)
time.sleep(8)
pct = (cpu_ticks(g.p.pid) - c0) / TICK / (time.monotonic() - t0) * 100
guest.check(0 < pct <= 30, "a VM spinning on 2 harts under a 25%% quota uses %.1f%% of a core" % pct)
g.end()

# the same without a quota uses both cores' worth (so the figure above is the quota's doing)
g = Guest(spin, ["--mem", "128M", "--cpus", "2"])
guest.check(g.wait_for("SPINNING", 200), "the uncapped guest spins")
time.sleep(1)
t0, c0 = time.monotonic(), cpu_ticks(g.p.pid)
time.sleep(4)
free_pct = (cpu_ticks(g.p.pid) - c0) / TICK / (time.monotonic() - t0) * 100
# (the machine is shared: what the cap leaves is compared, not a fixed figure)
guest.check(free_pct > 2 * pct, "without a quota the same VM uses %.1f%%, over twice as much"
            % free_pct)
g.end()

# ---- memory the guest frees returns to the host
fill = """#!/bin/sh
sleep 3
dd if=/dev/zero of=/tmp/big bs=1M count=256 2>/dev/null
echo FILLED
sleep 8
rm /tmp/big
echo FREED
sleep 100000
"""
g = Guest(fill, ["--mem", "512M", "--balloon"])
guest.check(g.wait_for("FILLED", 200), "the guest fills 256 MiB of tmpfs")
time.sleep(4)
full = rss(g.p.pid)
guest.check(g.wait_for("FREED", 30), "the guest frees it")
t0 = time.monotonic()
low = full
while time.monotonic() - t0 < 20:
    time.sleep(1)
    low = min(low, rss(g.p.pid))
    if full - low > 192 << 20:
        break
guest.check(full - low > 192 << 20, "host RSS falls after the guest frees 256 MiB: %d -> %d MiB"
            % (full >> 20, low >> 20))
g.end()
guest.finish()
