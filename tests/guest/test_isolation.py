"""Isolation between VMs: each VM process runs locked down (seccomp filter mode, no new
privileges); code running inside one VM process cannot open another VM's image, and a
forbidden system call ends only that VM, with a line in its log. The code inside the VM
process is injected with gdb, as an attacker who had taken the process over would run it."""
import os
import subprocess
import sys
import time
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
h = guest.Home(corral, d)
home = h.path
K, I = a["CORRAL_KERNEL"], a["CORRAL_INITRD"]
c, ls = h.run, h.ls


def status(pid):
    return dict(l.split(":", 1) for l in open("/proc/%d/status" % pid) if ":" in l)


def inject(pid, *exprs):
    """Runs C expressions inside process PID (gdb call) and gives back their values."""
    cmd = ["gdb", "-p", str(pid), "-batch", "-ex", "handle SIGSYS nostop noprint pass"]
    for e in exprs:
        cmd += ["-ex", "call " + e]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=120)
    return [l.split("=", 1)[1].strip() for l in r.stdout.splitlines() if l.startswith("$")]


disks = {}
for name in ("vm1", "vm2"):
    disks[name] = os.path.join(d, name + ".img")
    with open(disks[name], "wb") as f:
        f.truncate(32 << 20)
    rc, _, err = c("create", name, "--kernel", K, "--initrd", I, "--mem", "128M",
                   "--disk", disks[name] + ",format=raw", "--append", "console=ttyS0 quiet")
    guest.check(rc == 0, "create %s (%s)" % (name, err.strip()))
    rc, _, err = c("start", name)
    guest.check(rc == 0, "start %s (%s)" % (name, err.strip()))

v = ls()
p1, p2 = v["vm1"]["pid"], v["vm2"]["pid"]
for name, pid in (("vm1", p1), ("vm2", p2)):
    st = status(pid)
    guest.check(st.get("Seccomp", "").strip() == "2", "%s's process is in seccomp filter mode" % name)
    guest.check(st.get("NoNewPrivs", "").strip() == "1", "%s's process has no-new-privs" % name)

# inside vm1's process: another VM's image, a host file, and a file in its own folder
own = os.path.join(home, "vms", "vm1", "probe")
vals = inject(p1, '(int)open("%s", 2)' % disks["vm2"], "(int)*(int*)__errno_location()",
              '(int)open("/etc/passwd", 0)', '(int)open("%s", 0101, 0600)' % own)
guest.check(len(vals) == 4, "gdb ran the probes in vm1's process (%s)" % vals)
if len(vals) == 4:
    guest.check(vals[0] == "-1" and vals[1] == "13",
                "vm1's process cannot open vm2's image (open=%s errno=%s)" % (vals[0], vals[1]))
    guest.check(vals[2] == "-1", "vm1's process cannot open /etc/passwd (open=%s)" % vals[2])
    guest.check(int(vals[3]) >= 0, "vm1's process may still write in its own folder")
guest.check(ls()["vm1"]["state"] == "running", "vm1 still runs after the refused opens")

# a forbidden system call (mount) in vm2's process ends vm2, and only vm2
inject(p2, "(long)syscall(165, 0, 0, 0, 0, 0)")
time.sleep(1)
v = ls()
guest.check(v["vm2"]["state"] == "crashed (sandbox)", "ls says the sandbox ended vm2: %s"
            % v["vm2"]["state"])
log = open(os.path.join(home, "vms", "vm2", "vm.log")).read()
guest.check("forbidden system call 165 (mount)" in log, "vm2's log names the call: %r" % log[-200:])
guest.check(v["vm1"]["state"] == "running", "vm1 still runs")
rc, _, err = c("stop", "vm1", "--timeout", "30")
guest.check(rc == 0, "vm1 stops")
guest.finish()
