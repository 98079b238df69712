"""Resources held to their share: a CPU quota caps a VM that spins on every hart, memory the
guest frees goes back to the host (virtio-balloon free page reporting), and so do an idle
guest's pages of zeros, with every byte of its files kept."""
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


# ---- a 25 % quota on a VM spinning on both harts, set through the API while it runs
spin = """#!/bin/sh
(while :; do :; done) &
(while :; do :; done) &
echo SPINNING
sleep 100000
"""
home = os.path.join(d, "home")
os.environ["CORRAL_HOME"] = home
g = Guest(spin, ["--name", "spinner", "--mem", "128M", "--cpus", "2"])
guest.check(g.wait_for("SPINNING", 200), "the guest boots and spins on both harts")
api = os.path.join(home, "vms", "spinner", "api.sock")


def set_quota(pct):
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket",
                        api, "-X", "PATCH", "http://localhost/machine-config", "--data",
                        '{"cpu_quota_pct": %d}' % pct], stdout=subprocess.PIPE, text=True)
    return r.stdout


def cpu_pct(seconds):
    t0, c0 = time.monotonic(), cpu_ticks(g.p.pid)
    time.sleep(seconds)
    return (cpu_ticks(g.p.pid) - c0) / TICK / (time.monotonic() - t0) * 100


guest.check(set_quota(25) == "204", "PATCH /machine-config sets a 25% quota on the running VM")
time.sleep(1)
pct = cpu_pct(8)
guest.check(0 < pct <= 30, "a VM spinning on 2 harts under a 25%% quota uses %.1f%% of a core" % pct)
guest.check(set_quota(0) == "204", "the quota is lifted")
time.sleep(1)
free_pct = cpu_pct(4)
# (the machine is shared: what the cap leaves is compared, not a fixed figure)
guest.check(free_pct > 2 * pct, "without a quota the same VM uses %.1f%%, over twice as much"
            % free_pct)
guest.check(set_quota(900) != "204", "a quota above 100% per vCPU is refused")
g.end()

# ---- a rate-limited drive stays within its limit
scratch = os.path.join(d, "scratch.img")
with open(scratch, "wb") as f:
    f.truncate(64 << 20)
dd = r"""#!/bin/sh
t0=$(cut -d' ' -f1 /proc/uptime)
dd if=/dev/zero of=/dev/vda bs=1M count=40 oflag=direct 2>/dev/null
t1=$(cut -d' ' -f1 /proc/uptime)
dd if=/dev/vda of=/dev/null bs=1M count=40 iflag=direct 2>/dev/null
t2=$(cut -d' ' -f1 /proc/uptime)
awk "BEGIN { print \"WRITE-S:\", $t1 - $t0; print \"READ-S:\", $t2 - $t1 }"
poweroff -f
"""
g = Guest(dd, ["--mem", "128M", "--disk", scratch + ",format=raw,bps=8M"])
g.wait_for("READ-S:", 300)
g.p.wait(timeout=60)
time.sleep(0.5)  # the reader thread takes the last lines
if "READ-S:" not in g.text:
    print(g.text[-2000:])
w = [l for l in g.text.splitlines() if l.startswith("WRITE-S:")]
r = [l for l in g.text.splitlines() if l.startswith("READ-S:")]
ws = float(w[0].split()[1]) if w else 0
rs = float(r[0].split()[1]) if r else 0
# 40 MiB at 8 MiB/s with an 8 MiB bucket that starts full: at least (40 - 8) / 8 = 4 s
guest.check(ws >= 3.6, "40 MiB written at 8 MiB/s takes %.2f s (>= 4 s expected)" % ws)
guest.check(rs >= 3.6, "40 MiB read at 8 MiB/s takes %.2f s" % rs)
guest.check(ws and 40 / ws <= 8 * 1.25 + 8 / ws, "the write rate %.1f MiB/s stays within the limit"
            % (40 / ws if ws else 0))

# ---- memory the guest frees returns to the host
fill = """#!/bin/sh
sleep 3
yes corral-data | head -c 268435456 > /tmp/big
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

# ---- an idle guest's pages of zeros go back to the host, and every byte stays what it was
zeros = """#!/bin/sh
dd if=/dev/zero of=/tmp/zero bs=1M count=64 2>/dev/null
head -c 8388608 /dev/urandom > /tmp/data
echo "DATA $(md5sum < /tmp/data | cut -d' ' -f1)"
echo WRITTEN
sleep 25
echo "ZERO-AFTER $(md5sum < /tmp/zero | cut -d' ' -f1)"
echo "DATA-AFTER $(md5sum < /tmp/data | cut -d' ' -f1)"
echo CHECKED
sleep 100000
"""
g = Guest(zeros, ["--mem", "256M", "--balloon"])
guest.check(g.wait_for("WRITTEN", 200), "the guest writes 64 MiB of zeros and 8 MiB of data")
full = rss(g.p.pid)
t0 = time.monotonic()
low = full
while time.monotonic() - t0 < 20 and "CHECKED" not in g.text:
    time.sleep(1)
    low = min(low, rss(g.p.pid))
guest.check(full - low > 48 << 20, "host RSS falls while the guest idles with 64 MiB of zeros in "
            "its files: %d -> %d MiB" % (full >> 20, low >> 20))
guest.check(g.wait_for("CHECKED", 60), "the guest reads its files back after idling")
zero_md5 = subprocess.run("head -c 67108864 /dev/zero | md5sum", shell=True,
                          stdout=subprocess.PIPE, text=True).stdout.split()[0]
data = [line.split()[1] for line in g.text.splitlines() if line.startswith("DATA ")]
after = [line.split()[1] for line in g.text.splitlines() if line.startswith("DATA-AFTER ")]
guest.check(bool(data) and data == after, "8 MiB of random data read back unchanged (%s %s)"
            % (data, after))
guest.check("ZERO-AFTER " + zero_md5 in g.text, "the file of zeros still reads as zeros")

# ---- a second VM on the same kernel shares the kernel pages neither writes
def kernel_map(pid):
    """Shared_Clean and Rss (bytes) of the mapping of the kernel's shared copy."""
    out, cur = {}, False
    for line in open("/proc/%d/smaps" % pid):
        f = line.split()
        if "-" in f[0] and not f[0].endswith(":"):
            cur = "/images/kernel-" in line
        elif cur and f[0] in ("Shared_Clean:", "Rss:"):
            out[f[0][:-1]] = int(f[1]) * 1024
    return out


g2 = Guest("#!/bin/sh\necho SECOND\nsleep 100000\n", ["--mem", "128M"])
guest.check(g2.wait_for("SECOND", 200), "a second VM on the same kernel boots")
m1, m2 = kernel_map(g.p.pid), kernel_map(g2.p.pid)
guest.check(m1.get("Shared_Clean", 0) > 8 << 20 and m2.get("Shared_Clean", 0) > 8 << 20,
            "both map the kernel from one shared copy, more than 8 MiB of it shared (%s %s)"
            % (m1, m2))
g2.end()
g.end()
guest.finish()
