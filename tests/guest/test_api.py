"""The control API, driven the way a Firecracker client drives it: `corral serve --api-sock`
waits, curl configures it over the unix socket and starts it; bad requests get a 4xx with a
fault_message and leave the VM process and its configuration as they were."""
import json
import os
import subprocess
import sys
import time
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
K, I = a["CORRAL_KERNEL"], a["CORRAL_INITRD"]
sock = os.path.join(d, "fc.sock")
disk = os.path.join(d, "scratch.img")
with open(disk, "wb") as f:
    f.truncate(16 << 20)
env = dict(os.environ, CORRAL_HOME=os.path.join(d, "home"))


def curl(method, path, body=None, raw=None):
    cmd = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--unix-socket", sock, "-X", method,
           "http://localhost" + path, "-H", "Content-Type: application/json"]
    if body is not None or raw is not None:
        cmd += ["--data-binary", raw if raw is not None else json.dumps(body)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=30)
    text, _, code = r.stdout.rpartition("\n")
    try:
        j = json.loads(text) if text.strip() else None
    except ValueError:
        j = text
    return int(code or 0), j


def refused(code, j, word=None):
    msg = j.get("fault_message", "") if isinstance(j, dict) else ""
    return 400 <= code < 500 and msg and (word is None or word.lower() in msg.lower())


out = open(os.path.join(d, "serial.txt"), "wb")
p = guest.spawn([corral, "serve", "--api-sock", sock], env=env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT)
for _ in range(100):
    if os.path.exists(sock):
        break
    time.sleep(0.05)

code, j = curl("GET", "/")
guest.check(code == 200 and j.get("state") == "Not started", "GET / before start: %s %s" % (code, j))

# ---- bad requests, each refused with a reason
bad = [
    ("PUT", "/machine-config", None, "{\"vcpu_count\": 1,", "json"),
    ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "turbo": True}, None, "turbo"),
    ("PUT", "/machine-config", {"vcpu_count": 0, "mem_size_mib": 128}, None, "vcpu_count"),
    ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 1 << 40}, None, "mem_size_mib"),
    ("PUT", "/machine-config", {"vcpu_count": "1", "mem_size_mib": 128}, None, "integer"),
    ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "smt": True}, None, "smt"),
    ("PUT", "/boot-source", {"initrd_path": I}, None, "kernel_image_path"),
    ("PUT", "/drives/root", {"drive_id": "other", "path_on_host": disk}, None, "drive_id"),
    ("PUT", "/drives/root", {"drive_id": "root"}, None, "path_on_host"),
    ("PUT", "/drives/../x", {"drive_id": "../x", "path_on_host": disk}, None, None),
    ("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "guest_mac": "zz"}, None, "mac"),
    ("PUT", "/actions", {"action_type": "Reboot"}, None, "action_type"),
    ("PUT", "/actions", {"action_type": "SendCtrlAltDel"}, None, "not running"),
    ("PATCH", "/vm", {"state": "Resumed"}, None, "not started"),
    ("PATCH", "/vm", {"state": "Sleeping"}, None, "Paused"),
    ("PUT", "/nowhere", {}, None, None),
    ("GET", "/nowhere", None, None, None),
    ("PUT", "/actions", None, "[1, 2]", "object"),
    ("PUT", "/actions", None, "x" * 70000, "64 KiB"),
]
for method, path, body, raw, word in bad:
    code, j = curl(method, path, body, raw)
    guest.check(refused(code, j, word), "%s %s refused: %s %s" % (method, path, code,
                                                                  str(j)[:100]))
code, j = curl("DELETE", "/vm")
guest.check(code == 405, "DELETE is not served (%s)" % code)
code, j = curl("PUT", "/actions", {"action_type": "InstanceStart"})
guest.check(refused(code, j, "kernel"), "InstanceStart without a kernel is refused: %s" % j)

# ---- configure
code, _ = curl("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 128})
guest.check(code == 204, "PUT /machine-config (%s)" % code)
code, _ = curl("PATCH", "/machine-config", {"vcpu_count": 1})
guest.check(code == 204, "PATCH /machine-config (%s)" % code)
code, j = curl("GET", "/machine-config")
guest.check(code == 200 and j.get("vcpu_count") == 1 and j.get("mem_size_mib") == 128,
            "GET /machine-config: %s" % j)
code, _ = curl("PUT", "/boot-source", {"kernel_image_path": "/nonexistent/Image",
                                        "boot_args": "console=ttyS0 quiet"})
guest.check(code == 204, "PUT /boot-source with a missing kernel is taken (checked at start)")
code, j = curl("PUT", "/actions", {"action_type": "InstanceStart"})
guest.check(refused(code, j, "/nonexistent/Image"), "InstanceStart names the missing kernel: %s" % j)
guest.check(p.poll() is None, "the VM process survives a failed start")
code, j = curl("GET", "/")
guest.check(j.get("state") == "Not started", "still not started")
code, _ = curl("PUT", "/boot-source", {"kernel_image_path": K, "initrd_path": I,
                                        "boot_args": "console=ttyS0 quiet"})
guest.check(code == 204, "PUT /boot-source")
code, _ = curl("PUT", "/drives/scratch", {"drive_id": "scratch", "path_on_host": disk,
                                           "is_root_device": False, "is_read_only": False,
                                           "format": "raw"})
guest.check(code == 204, "PUT /drives/scratch (%s)" % code)
code, j = curl("GET", "/vm/config")
guest.check(code == 200 and j["boot-source"]["kernel_image_path"] == K and
            j["drives"][0]["path_on_host"] == disk and j["machine-config"]["vcpu_count"] == 1,
            "GET /vm/config gives back what was put")

# ---- start and run
code, j = curl("PUT", "/actions", {"action_type": "InstanceStart"})
guest.check(code == 204, "InstanceStart (%s %s)" % (code, j))
code, j = curl("GET", "/")
guest.check(j.get("state") == "Running", "GET / after start: %s" % j)
code, j = curl("PUT", "/actions", {"action_type": "InstanceStart"})
guest.check(refused(code, j, "already"), "a second InstanceStart is refused")
code, j = curl("PUT", "/boot-source", {"kernel_image_path": K})
guest.check(refused(code, j, "before InstanceStart"), "boot-source after start is refused")
t0 = time.monotonic()
while time.monotonic() - t0 < 90 and b"corral:~#" not in open(out.name, "rb").read():
    time.sleep(0.5)
guest.check(b"corral:~#" in open(out.name, "rb").read(), "the guest reaches its shell on stdout")
code, _ = curl("PATCH", "/vm", {"state": "Paused"})
guest.check(code == 204, "PATCH /vm Paused")
code, j = curl("GET", "/")
guest.check(j.get("state") == "Paused", "GET / says Paused")
code, j = curl("PATCH", "/vm", {"state": "Paused"})
guest.check(refused(code, j), "pausing twice is refused")
code, _ = curl("PATCH", "/vm", {"state": "Resumed"})
guest.check(code == 204, "PATCH /vm Resumed")
code, j = curl("GET", "/stats")
guest.check(code == 200 and j.get("rss_bytes", 0) > 0 and j.get("state") == "Running" and
            j.get("cpu_user_s", 0) > 0, "GET /stats: %s" % str(j)[:200])
code, _ = curl("PUT", "/actions", {"action_type": "Stop"})
guest.check(code == 204, "PUT /actions Stop")
try:
    rc = p.wait(timeout=20)
except subprocess.TimeoutExpired:
    rc = None
guest.check(rc == 0, "the VM process ends after Stop (rc=%s)" % rc)
guest.finish()
