"""Many named VMs: create, start, ls, console, pause, resume, stop, rm; a VM process killed
or crashing harms no other VM and ls says what happened; bad input is a one-line error."""
import json
import os
import signal
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
c, ls, console_cmd, wait_console = h.run, h.ls, h.console, h.wait_console


def one_line_error(rc, err, word=None):
    lines = err.strip().split("\n")
    return rc not in (0, None) and len(lines) == 1 and lines[0].startswith("corral: ") and \
        (word is None or word.lower() in lines[0].lower())


# ---- bad input: a one-line error, nothing created
rc, _, err = c("create", "bad/name", "--kernel", K)
guest.check(one_line_error(rc, err, "name"), "a bad VM name is refused: %s" % err.strip())
rc, _, err = c("create", "nokernel", "--kernel", "/nonexistent/Image")
guest.check(one_line_error(rc, err, "/nonexistent/Image"), "a missing kernel is refused")
guest.check("nokernel" not in ls(), "a refused create leaves no VM behind")
rc, _, err = c("start", "ghost")
guest.check(one_line_error(rc, err, "no VM named"), "starting an unknown VM: %s" % err.strip())
for verb in ("stop", "pause", "resume", "console"):
    rc, _, err = c(verb, "ghost")
    guest.check(one_line_error(rc, err), "%s of an unknown VM: %s" % (verb, err.strip()))

# ---- create and start two VMs
for name in ("vm1", "vm2"):
    rc, out, err = c("create", name, "--kernel", K, "--initrd", I, "--mem", "128M",
                     "--append", "console=ttyS0 quiet")
    guest.check(rc == 0, "create %s (rc=%d %s)" % (name, rc, err.strip()))
rc, _, err = c("create", "vm1", "--kernel", K)
guest.check(one_line_error(rc, err, "exists"), "a duplicate name is refused: %s" % err.strip())
v = ls()
guest.check(v.get("vm1", {}).get("state") == "defined", "a created VM is 'defined' in ls")

for name in ("vm1", "vm2"):
    t0 = time.monotonic()
    rc, out, err = c("start", name)
    guest.check(rc == 0, "start %s returns 0 in %.1f s (%s)" % (name, time.monotonic() - t0,
                                                               err.strip()))
rc, _, err = c("start", "vm1")
guest.check(one_line_error(rc, err, "already running"), "starting a running VM is refused")
v = ls()
for name in ("vm1", "vm2"):
    e = v.get(name, {})
    guest.check(e.get("state") == "running" and e.get("pid", 0) > 0 and e.get("cpus") == 1 and
                e.get("mem_mib") == 128 and e.get("rss_bytes", 0) > 0,
                "ls shows %s running with pid, harts, memory and RSS: %s" % (name, e))
rc, out, _ = c("ls")
guest.check(rc == 0 and "vm1" in out and "running" in out and "NAME" in out,
            "ls prints a table")

for name in ("vm1", "vm2"):
    guest.check(wait_console(name, "corral:~#"), "%s reaches its shell (console.log)" % name)

# ---- console: replay, input, output
seen = console_cmd("vm1", "echo answer-$((6*7))", "answer-42")
guest.check("answer-42" in seen, "the console runs a command in vm1")
guest.check("Corral guest ready" in seen or "BusyBox" in seen,
            "attaching replays recent output")
guest.check(ls().get("vm1", {}).get("state") == "running", "detaching leaves the VM running")

# ---- pause and resume: no guest progress while paused
rc, _, err = c("pause", "vm1")
guest.check(rc == 0, "pause vm1 (%s)" % err.strip())
rc, _, err = c("pause", "vm1")
guest.check(one_line_error(rc, err, "not running"), "pausing a paused VM is refused: %s" % err.strip())
guest.check(ls().get("vm1", {}).get("state") == "paused", "ls shows vm1 paused")
api = os.path.join(home, "vms", "vm1", "api.sock")


def api_get(path, sock=api):
    r = subprocess.run(["curl", "-s", "--unix-socket", sock, "http://localhost" + path],
                       stdout=subprocess.PIPE, text=True, timeout=10)
    return json.loads(r.stdout)


cpu0 = api_get("/stats")
time.sleep(1.5)
cpu1 = api_get("/stats")
used = (cpu1["cpu_user_s"] + cpu1["cpu_system_s"]) - (cpu0["cpu_user_s"] + cpu0["cpu_system_s"])
guest.check(used < 0.2, "a paused VM uses almost no CPU (%.3f s in 1.5 s)" % used)
rc, _, err = c("resume", "vm1")
guest.check(rc == 0, "resume vm1")
rc, _, err = c("resume", "vm1")
guest.check(one_line_error(rc, err, "not paused"), "resuming a running VM is refused: %s" % err.strip())
seen = console_cmd("vm1", "echo back-$((5*5))", "back-25")
guest.check("back-25" in seen, "vm1 answers after resume")

# ---- a killed VM process harms no other VM, and ls says so
pid1 = ls()["vm1"]["pid"]
os.kill(pid1, signal.SIGKILL)
time.sleep(1)
v = ls()
guest.check(v.get("vm1", {}).get("state", "").startswith("crashed") and
            "killed" in v.get("vm1", {}).get("state", "").lower(),
            "ls says vm1 was killed: %s" % v.get("vm1", {}).get("state"))
guest.check(v.get("vm2", {}).get("state") == "running", "vm2 still runs")
seen = console_cmd("vm2", "echo alive-$((3*3))", "alive-9")
guest.check("alive-9" in seen, "vm2 still answers on its console")

# ---- rm: refused while running, then removes
rc, _, err = c("rm", "vm2")
guest.check(one_line_error(rc, err, "running"), "rm of a running VM is refused")
rc, _, err = c("stop", "vm2", "--timeout", "20")
guest.check(rc == 0 and not err.strip(), "stop vm2 by its power button (%s)" % err.strip())
guest.check(wait_console("vm2", "power button pressed", 5) and wait_console("vm2", "Power down", 5),
            "vm2's guest saw the power button and powered itself off")
v = ls()
guest.check(v.get("vm2", {}).get("state") == "stopped", "ls shows vm2 stopped: %s" % v.get("vm2"))
rc, _, err = c("stop", "vm2")
guest.check(one_line_error(rc, err, "not running"), "stopping a stopped VM is refused")
rc, _, err = c("start", "vm1")
guest.check(rc == 0, "a crashed VM starts again")
guest.check(ls().get("vm1", {}).get("state") == "running", "vm1 runs again")
rc, _, err = c("stop", "vm1", "--force")
guest.check(rc == 0 and ls().get("vm1", {}).get("state") == "stopped", "stop --force")
for name in ("vm1", "vm2"):
    rc, _, err = c("rm", name)
    guest.check(rc == 0 and not os.path.exists(os.path.join(home, "vms", name)), "rm %s" % name)
guest.check(ls() == {}, "no VMs are left")
images = os.path.join(home, "images")
guest.check(not [f for f in os.listdir(images) if f.startswith("kernel-")] if os.path.isdir(images)
            else False, "rm removes the shared kernel copy once no VM runs it")

# ---- a config file with the API's keys
cfg = os.path.join(d, "vm.json")
json.dump({"boot-source": {"kernel_image_path": K, "initrd_path": I,
                           "boot_args": "console=ttyS0 quiet"},
           "machine-config": {"vcpu_count": 2, "mem_size_mib": 160}}, open(cfg, "w"))
rc, _, err = c("create", "cfg", "--config", cfg)
guest.check(rc == 0, "create --config (%s)" % err.strip())
e = ls().get("cfg", {})
guest.check(e.get("cpus") == 2 and e.get("mem_mib") == 160, "the config file's machine-config is kept")
rc, _, err = c("start", "cfg")
guest.check(rc == 0 and wait_console("cfg", "corral:~#"), "the configured VM boots")
# SIGTERM to a VM process is a graceful stop: the guest hears its power button
os.kill(ls()["cfg"]["pid"], signal.SIGTERM)
t0 = time.monotonic()
while ls().get("cfg", {}).get("state") == "running" and time.monotonic() - t0 < 30:
    time.sleep(0.5)
guest.check(ls().get("cfg", {}).get("state") == "stopped" and
            wait_console("cfg", "power button pressed", 1),
            "SIGTERM to the VM process powers the guest off (%s)" % ls().get("cfg", {}).get("state"))
# a guest deaf to its button: a second SIGTERM stops the VM at once
log = h.vm_file("cfg", "console.log")
before = os.path.getsize(log) if os.path.exists(log) else 0
rc, _, err = c("start", "cfg")
t0 = time.monotonic()
while time.monotonic() - t0 < 90 and (not os.path.exists(log) or "corral:~#" not in
                                      open(log, errors="replace").read()[before:]):
    time.sleep(0.5)
seen = console_cmd("cfg", "killall acpid; echo deaf-$((2*3))", "deaf-6")
guest.check(rc == 0 and "deaf-6" in seen, "the configured VM boots again and its acpid is killed")
pid = ls()["cfg"]["pid"]
os.kill(pid, signal.SIGTERM)
time.sleep(3)
deaf = ls().get("cfg", {}).get("state")
os.kill(pid, signal.SIGTERM)
t0 = time.monotonic()
while ls().get("cfg", {}).get("state") == "running" and time.monotonic() - t0 < 20:
    time.sleep(0.2)
took = time.monotonic() - t0
guest.check(deaf == "running" and ls().get("cfg", {}).get("state") == "stopped" and took < 10,
            "a guest without acpid ignores one SIGTERM (%s) and a second stops it in %.1f s (%s)"
            % (deaf, took, ls().get("cfg", {}).get("state")))
guest.check(any(f.startswith("kernel-") for f in os.listdir(images)),
            "the next VM made its shared kernel copy again")
c("rm", "cfg")
bad_cfgs = [
    ("{not json", "line"),
    (json.dumps({"boot-source": {"kernel_image_path": K}, "bogus": 1}), "bogus"),
    (json.dumps({"boot-source": {"kernel_image_path": K},
                 "machine-config": {"vcpu_count": 99, "mem_size_mib": 64}}), "vcpu_count"),
    (json.dumps({"boot-source": {"kernel_image_path": K},
                 "machine-config": {"vcpu_count": "two", "mem_size_mib": 64}}), "vcpu_count"),
    (json.dumps({"boot-source": {"kernel_image_path": K},
                 "drives": [{"drive_id": "d", "path_on_host": "/x", "wat": True}]}), "wat"),
]
for text, word in bad_cfgs:
    open(cfg, "w").write(text)
    rc, _, err = c("create", "badcfg", "--config", cfg)
    guest.check(one_line_error(rc, err, word), "a bad config file is refused: %s" % err.strip())
guest.check("badcfg" not in ls(), "no VM is left by a bad config")
guest.finish()
