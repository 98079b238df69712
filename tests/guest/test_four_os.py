"""Four operating systems side by side, each in its own VM started with `corral start`:
Debian with systemd on an ext4 root (tools/fetch-debian-rootfs), a busybox Linux on the
initramfs, U-Boot with a virtio disk and a user NIC, and pen (tests/guest/os), a small
S-mode OS that is not Linux. Each answers on its console; then `corral stop` stops them.

Debian, busybox and pen power off on the virtio power button (systemd-logind, acpid, pen's
own driver). U-Boot has no power button driver, so its stop falls back to a hard stop, as
`corral stop` promises: at once, since no driver set the button up (a guest that has one
but ignores it would be stopped after --timeout). Afterwards the Debian guest's journal records a clean
shutdown and its disk passes `e2fsck -fn`.

The first run builds debian.ext4 with tools/fetch-debian-rootfs (16 minutes on a shared
2-core machine, 14 of them debootstrap's second stage in a Corral guest); later runs take it
from the cache, and the test itself takes about a minute and a half."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
home = os.path.join(d, "home")
env = dict(os.environ, CORRAL_HOME=home)
K, I = a["CORRAL_KERNEL"], a["CORRAL_INITRD"]


def c(*args, timeout=120):
    r = subprocess.run([corral] + list(args), env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def ls():
    rc, out, _ = c("ls", "--json")
    return {v["name"]: v for v in json.loads(out)} if rc == 0 else {}


def console_log(name):
    path = os.path.join(home, "vms", name, "console.log")
    return open(path, errors="replace").read() if os.path.exists(path) else ""


class Console:
    """One `corral console NAME` session: send text, wait for what comes back."""

    def __init__(self, name):
        self.name = name
        self.p = guest.spawn([corral, "console", name], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.seen = b""

    def _read(self):
        try:
            self.seen += self.p.stdout.read() or b""
        except BlockingIOError:
            pass

    def send(self, text):
        self.p.stdin.write(text.encode())
        self.p.stdin.flush()

    def expect(self, pattern, timeout, since=0, poke=None):
        """Waits until PATTERN (a regex) shows in the output after offset SINCE; sends POKE
        every second meanwhile, if given. Returns the match or None."""
        t0 = time.monotonic()
        while True:
            self._read()
            m = re.search(pattern.encode(), self.seen[since:])
            if m or time.monotonic() - t0 > timeout:
                return m
            if poke:
                self.send(poke)
            time.sleep(1 if poke else 0.2)

    def command(self, line, pattern, timeout=60, end="\n"):
        mark = len(self.seen)
        self.send(line + end)
        return self.expect(pattern, timeout, since=mark)

    def close(self):
        try:
            self.p.stdin.close()  # end of input detaches
            self.p.wait(timeout=10)
        except (subprocess.TimeoutExpired, BrokenPipeError):
            self.p.kill()

    def tail(self):
        return self.seen[-1500:].decode(errors="replace")


# ---- the four guests' images
r = subprocess.run([os.path.join(guest.SRC, "tools", "fetch-debian-rootfs")],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
guest.check(r.returncode == 0, "tools/fetch-debian-rootfs gives debian.ext4 %s" %
            r.stderr.strip().splitlines()[-3:])
if r.returncode:
    guest.finish()
deb = dict(line.rstrip("\n").split("=", 1) for line in open(r.stdout.strip()) if "=" in line)
debian_img = os.path.join(d, "debian.img")
subprocess.run(["cp", "--sparse=always", deb["CORRAL_DEBIAN_ROOTFS"], debian_img], check=True)

r = subprocess.run(["make", "-s", "-C", os.path.join(guest.SRC, "tests", "guest", "os"),
                    "O=" + d], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
pen = os.path.join(d, "pen.elf")
guest.check(r.returncode == 0 and os.path.exists(pen), "pen builds with the cross compiler %s"
            % r.stdout.strip()[-500:])

stage = os.path.join(d, "uboot-files")
os.makedirs(stage)
open(os.path.join(stage, "hello.txt"), "w").write("hello from a corral disk\n")
uboot_disk = os.path.join(d, "uboot.img")
subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", stage, uboot_disk, "16M"], check=True,
               stdout=subprocess.DEVNULL)

# ---- create and start all four
vms = {
    "debian": ["--kernel", K, "--initrd", I, "--append", deb["CORRAL_DEBIAN_APPEND"],
               "--disk", debian_img + ",format=raw", "--mem", "768M"],
    "busybox": ["--kernel", K, "--initrd", I, "--append", "console=ttyS0 quiet", "--mem", "128M"],
    "uboot": ["--kernel", a["CORRAL_UBOOT"], "--disk", uboot_disk + ",format=raw",
              "--net", "user", "--mem", "256M"],
    "pen": ["--kernel", pen, "--mem", "64M"],
}
for name, opts in vms.items():
    rc, _, err = c("create", name, *opts)
    guest.check(rc == 0, "create %s (%s)" % (name, err.strip()))
# U-Boot counts down two seconds before it boots on its own: attach first, start, stop it.
t_start = time.monotonic()
for name in vms:
    rc, _, err = c("start", name)
    guest.check(rc == 0, "start %s (%s)" % (name, err.strip()))
    if name == "uboot":
        ub = Console("uboot")
        guest.check(ub.expect(r"=> ", 60, poke=" ") is not None,
                    "U-Boot's autoboot is stopped at its prompt")
state = ls()
guest.check(all(state.get(n, {}).get("state") == "running" for n in vms),
            "ls shows the four running: %s" % {n: state.get(n, {}).get("state") for n in vms})

# ---- each answers
m = ub.command("version", r"U-Boot 20\d\d", end="\r")
guest.check(m is not None, "U-Boot answers version")
m = ub.command("virtio scan; virtio info", r"Capacity: 16\.0 MB", end="\r")
guest.check(m is not None, "U-Boot sees the virtio disk")
m = ub.command("ls virtio 0", r"hello\.txt", end="\r")
guest.check(m is not None, "U-Boot lists the ext4 disk's files")
m = ub.command("load virtio 0 ${loadaddr} /hello.txt", r"25 bytes read", end="\r")
guest.check(m is not None, "U-Boot reads a file from the disk")
m = ub.command("setenv autoload no; dhcp", r"DHCP client bound to address 10\.0\.2\.15", end="\r")
guest.check(m is not None, "U-Boot takes a DHCP lease over virtio-net (10.0.2.15)")
if guest._failures:
    print(ub.tail())

pc = Console("pen")
guest.check(pc.expect(r"pen> ", 60, poke="\r") is not None, "pen reaches its shell")
m = pc.command("uname", r"pen 1\.0 riscv64", end="\r")
guest.check(m is not None, "pen answers uname")
time.sleep(1)
m = pc.command("ticks", r"ticks (\d+) switches (\d+)", end="\r")
guest.check(m is not None and int(m.group(1)) >= 50 and int(m.group(2)) >= 50,
            "pen takes timer interrupts and switches tasks (%s)" % (m and m.group(0)))
m = pc.command("tasks", r"task 1 spins (\d+)\r?\ntask 2 spins (\d+)", end="\r")
guest.check(m is not None and int(m.group(1)) > 0 and int(m.group(2)) > 0,
            "pen's two spinning tasks both run (%s)" % (m and m.group(0).decode()))
m = pc.command("vm", r"high alias ok", end="\r")
guest.check(m is not None, "pen runs with Sv39 paging")

bc = Console("busybox")
guest.check(bc.expect(r"corral:~# ", 120, poke="\n") is not None, "busybox Linux reaches its shell")
m = bc.command("echo bb-$((6*7)); uname -sm", r"bb-42\r?\nLinux riscv64")
guest.check(m is not None, "busybox Linux runs a command")

dc = Console("debian")
m = dc.expect(r"root@corral-debian:~# ", 600, poke="\n")
guest.check(m is not None, "Debian logs root in on ttyS0 (autologin) in %.0f s" %
            (time.monotonic() - t_start))
m = dc.command("echo deb-$((6*7)); systemctl is-system-running --wait; cat /proc/1/comm",
               r"deb-42\r?\n(\w+)\r?\n(\w+)", timeout=300)
guest.check(m is not None and m.group(2) == b"systemd" and
            m.group(1) in (b"running", b"degraded"),
            "Debian runs systemd as PID 1 and finishes booting (%s)" %
            (m and m.group(0).decode(errors="replace").split()))
if m is not None and m.group(1) == b"degraded":
    m2 = dc.command("systemctl --failed --no-legend", r"\n.*# ", timeout=30)
    print("note: failed units: %s" % (m2 and dc.tail()[-500:]))
m = dc.command("cat /etc/os-release | grep VERSION_CODENAME", r"VERSION_CODENAME=(\w+)")
guest.check(m is not None, "Debian says which release it is (%s)" % (m and m.group(1).decode()))
m = dc.command("systemctl show systemd-logind -p ActiveState; "
               "cat /sys/class/input/event*/device/name 2>/dev/null | head -3",
               r"ActiveState=(\w+)")
guest.check(m is not None and m.group(1) == b"active",
            "systemd-logind runs (it turns the power button into a poweroff)")
if guest._failures:
    print(dc.tail())
for con in (ub, pc, bc, dc):
    con.close()

# ---- stop them all; only U-Boot needs the hard stop after the timeout
stops = {"debian": 180, "busybox": 60, "pen": 30, "uboot": 5}
for name, tmo in stops.items():
    t0 = time.monotonic()
    rc, _, err = c("stop", name, "--timeout", str(tmo), timeout=tmo + 60)
    took = time.monotonic() - t0
    if name == "uboot":
        guest.check(rc == 0 and "stopping it" in err,
                    "U-Boot (no power button driver) is stopped hard (%s)" % err.strip())
    else:
        guest.check(rc == 0 and not err.strip(),
                    "%s powers off on the power button in %.1f s (%s)" % (name, took, err.strip()))
state = ls()
guest.check(all(state.get(n, {}).get("state") == "stopped" for n in vms),
            "ls shows the four stopped: %s" % {n: state.get(n, {}).get("state") for n in vms})
guest.check("power button pressed" in console_log("busybox"), "busybox's acpid saw the button")
guest.check("pen: power button pressed" in console_log("pen"), "pen saw the button")

log = console_log("debian")
guest.check("Power key pressed" in log or "Powering off" in log or
            "System Power Off" in log, "systemd-logind acted on the power key")
guest.check("Reached target" in log and "System Power Off" in log,
            "systemd reached the System Power Off target")
guest.check("reboot: Power down" in log, "the Debian kernel powered down")
if guest._failures:
    print(log[-3000:])

# ---- the Debian guest's journal and disk
jdir = os.path.join(d, "journal")
r = subprocess.run(["debugfs", "-R", "rdump /var/log/journal %s" % d, debian_img],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
j = subprocess.run(["journalctl", "-D", jdir, "--no-pager", "-o", "short-monotonic"],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
journal = shown = j.stdout
if "Power key pressed" not in journal:
    # a host journalctl older than the guest's journald may not read its files: short
    # messages are stored uncompressed, as MESSAGE=... fields
    for root, _, files in os.walk(jdir):
        for f in files:
            journal += open(os.path.join(root, f), "rb").read().decode("latin-1")
guest.check(os.path.isdir(jdir) and "Power key pressed" in journal,
            "the journal on the disk records the power key (%d lines)" % journal.count("\n"))
guest.check("Journal stopped" in journal or "systemd-journald.service: Deactivated" in journal
            or "Stopped systemd-journald" in journal or "Stopped journal" in journal.lower(),
            "the journal records its own orderly stop at shutdown")
if guest._failures:
    print("\n".join(shown.splitlines()[-30:]))
r = subprocess.run(["e2fsck", "-fn", debian_img], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True)
guest.check(r.returncode == 0, "the Debian disk passes e2fsck -fn (rc=%d)" % r.returncode)
if r.returncode:
    print(r.stdout[-2000:])
for name in vms:
    c("rm", name)
shutil.rmtree(d, ignore_errors=True)
guest.finish()
