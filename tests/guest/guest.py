"""Shared helpers for guest tests: assets, autorun initramfs overlays, running a VM."""
import os
import re
import select
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("CORRAL_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools"))
import cpio  # noqa: E402
import guest_assets  # noqa: E402

_failures = []
_children = []


def spawn(cmd, **kw):
    """Popen that is killed when the test ends, however it ends (also on SIGTERM from ctest)."""
    p = subprocess.Popen(cmd, **kw)
    _children.append(p)
    return p


_homes = []


def _kill_children(*_):
    for p in _children:
        if p.poll() is None:
            p.kill()
    # VMs a test started with `corral start` in its Home and did not remove (a failed
    # check skips the test's own clean-up): left running, they would load the host for
    # every test after
    for h in _homes:
        try:
            for v in h.ls().values():
                if v.get("pid", 0) > 0 and v.get("state") in ("starting", "running", "paused"):
                    os.kill(v["pid"], signal.SIGKILL)
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    if _:
        sys.exit(1)


import atexit  # noqa: E402
import signal  # noqa: E402
atexit.register(_kill_children)
signal.signal(signal.SIGTERM, _kill_children)


def assets():
    """Paths from tools/fetch-assets (which downloads only when the cache is empty)."""
    return guest_assets.load("guest test")


def workdir():
    d = tempfile.mkdtemp(prefix="corral-test-")
    return d


def autorun_initrd(base, script, d, name="initrd-autorun.cpio"):
    """BASE initramfs plus an archive holding SCRIPT as /autorun, written to D/NAME."""
    w = cpio.Writer()
    w.add_file("autorun", script.encode(), 0o755)
    out = os.path.join(d, name)
    with open(out, "wb") as f:
        f.write(open(base, "rb").read() + w.finish())
    return out


class Run:
    def __init__(self, rc, lines, elapsed):
        self.rc, self.lines, self.elapsed = rc, lines, elapsed  # lines: [(t, text)]
        self.text = "\n".join(t for _, t in lines)

    def time_of(self, pattern):
        for t, line in self.lines:
            if re.search(pattern, line):
                return t
        return None

    def values(self, prefix):
        """Lines starting with PREFIX, without the kernel's timestamps."""
        return [l.strip() for _, l in self.lines if l.startswith(prefix)]


def run(cmd, timeout=300, stdin=subprocess.DEVNULL):
    """Run CMD, collecting output lines with arrival times; kill it after TIMEOUT s."""
    t0 = time.monotonic()
    p = spawn(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines, buf = [], b""
    fd = p.stdout.fileno()
    while True:
        left = t0 + timeout - time.monotonic()
        if left <= 0:
            p.kill()
            p.wait()
            lines.append((time.monotonic() - t0, "<<timeout after %d s>>" % timeout))
            break
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not r:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            lines.append((time.monotonic() - t0, line.decode("utf-8", "replace").rstrip("\r")))
    if buf:
        lines.append((time.monotonic() - t0, buf.decode("utf-8", "replace")))
    rc = p.wait()
    return Run(rc, lines, time.monotonic() - t0)


def check(cond, what, run=None):
    if cond:
        print("ok   - " + what)
    else:
        print("FAIL - " + what)
        _failures.append(what)
        if run is not None and not getattr(run, "_shown", False):
            run._shown = True
            print("---- guest output (last 40 lines) ----")
            for _, l in run.lines[-40:]:
                print("  | " + l)
            print("----")


def finish():
    if _failures:
        print("%d check(s) failed" % len(_failures))
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


# The workload shared by the boot tests and the QEMU cross-check. Lines starting with
# "W:" are compared between machines; other lines are checked per test.
WORKLOAD = r"""#!/bin/sh
echo "W: arith $((7*6)) $((2**40)) $((-7/2)) $((-7%2)) $((0x7fffffffffffffff+1)) $((1<<63>>63))"
awk 'BEGIN { printf "W: awk %.6f %d %.9f\n", 355/113, 2147483647*2, 1/7*3.5; s = 0; for (i = 1; i <= 20000; i++) s += i*i; print "W: awk-sum", s; printf "W: awk-div %.10g %.10g\n", 1/3, -2.5e-300*1e-10 }'
echo hello > /tmp/f; for i in 1 2 3; do echo line$i >> /tmp/f; done
echo "W: tmpfs $(wc -l < /tmp/f) $(md5sum < /tmp/f | cut -d' ' -f1) $(df /tmp | awk 'NR==2{print $1}')"
echo "W: busybox $(sha256sum /bin/busybox | cut -d' ' -f1)"
echo "W: gzip $(head -c 262144 /bin/busybox | gzip -c | md5sum | cut -d' ' -f1)"
echo "W: sort $(seq 1 3000 | sort -r | md5sum | cut -d' ' -f1)"
ping -c 1 127.0.0.1 >/dev/null && echo "W: vdso-clock-ok"
echo "ISA: $(grep -m1 '^isa' /proc/cpuinfo)"
echo "CPUS: $(grep -c ^processor /proc/cpuinfo)"
echo "EPOCH: $(date +%s)"
t0=$(cut -d' ' -f1 /proc/uptime)
echo SLEEP-START
sleep 1
echo SLEEP-END
t1=$(cut -d' ' -f1 /proc/uptime)
awk "BEGIN { print \"SLEEP-GUEST:\", $t1 - $t0 }"
"""


def check_workload(r, cpus):
    """The checks both boot tests make on a run of WORKLOAD."""
    check(r.rc == 0, "corral exits 0 after the guest powers off (rc=%d)" % r.rc, r)
    check("autorun-exit=0" in r.text, "the workload script ran to the end", r)
    check("W: arith 42 1099511627776 -3 -1 -9223372036854775808 -1" in r.text,
          "shell arithmetic", r)
    check("W: awk 3.141593 2147483647 0.500000000" in r.text, "awk floating point", r)
    check("W: awk-sum 2666866670000" in r.text, "awk loop", r)
    check("W: tmpfs 4 " in r.text and " tmpfs" in r.text, "files in tmpfs", r)
    check("W: vdso-clock-ok" in r.text, "user space reads the clock through the vDSO", r)
    isa = r.values("ISA:")
    check(bool(isa) and "rv64imafdc" in isa[0], "/proc/cpuinfo shows the ISA (%s)" % isa, r)
    check("CPUS: %d" % cpus in r.text, "%d hart(s) online" % cpus, r)
    e = r.values("EPOCH:")
    skew = abs(int(e[0].split()[1]) - time.time()) if e and e[0].split()[1:] else -1
    check(0 <= skew < 600, "the guest's wall clock (from the RTC) is the host's (off by %d s)" % skew, r)
    t0, t1 = r.time_of("^SLEEP-START"), r.time_of("^SLEEP-END")
    wall = (t1 - t0) if t0 is not None and t1 is not None else -1
    check(0.9 <= wall <= 2.0, "sleep 1 takes about a second of wall time (%.2f s)" % wall, r)
    g = r.values("SLEEP-GUEST:")
    gv = float(g[0].split()[1]) if g else -1
    check(0.95 <= gv <= 1.6, "sleep 1 takes about a second of guest time (%.2f s)" % gv, r)


class Home:
    """A private $CORRAL_HOME and the corral verbs run in it, for tests that drive VMs
    through the command line (create, start, ls, console, stop, rm)."""

    def __init__(self, corral, d):
        self.corral = corral
        self.path = os.path.join(d, "home")
        self.env = dict(os.environ, CORRAL_HOME=self.path)
        _homes.append(self)

    def run(self, *args, timeout=120):
        """`corral ARGS`: (exit status, stdout, stderr)."""
        r = subprocess.run([self.corral] + list(args), env=self.env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        return r.returncode, r.stdout, r.stderr

    def ls(self):
        """`corral ls --json` by name ({} if it fails)."""
        import json
        rc, out, _ = self.run("ls", "--json")
        return {v["name"]: v for v in json.loads(out)} if rc == 0 else {}

    def vm_file(self, name, file):
        return os.path.join(self.path, "vms", name, file)

    def wait_console(self, name, text, timeout=90):
        """Waits until TEXT is in NAME's console.log."""
        log = self.vm_file(name, "console.log")
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if os.path.exists(log) and text in open(log, errors="replace").read():
                return True
            time.sleep(0.5)
        return False

    def console(self, name, command, expect, timeout=30, extra=()):
        """Attaches to NAME's console (with EXTRA flags), types COMMAND, waits for EXPECT,
        detaches (end of input); gives back everything seen, the replayed output included."""
        p = subprocess.Popen([self.corral, "console", name] + list(extra), env=self.env,
                             stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        os.set_blocking(p.stdout.fileno(), False)
        p.stdin.write(b"\n" + command.encode() + b"\n")
        p.stdin.flush()
        seen, t0 = b"", time.monotonic()
        while expect.encode() not in seen and time.monotonic() - t0 < timeout:
            time.sleep(0.2)
            try:
                seen += p.stdout.read() or b""
            except BlockingIOError:
                pass
        p.stdin.close()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
        return seen.decode(errors="replace")
