"""Linked clones: `create --disk-from BASE` gives each VM a qcow2 overlay on one read-only
base; two VMs run from it at once, each sees the base and writes only its own overlay; the
base is unchanged and qemu-img finds the overlays clean. A qcow2 base that names a backing
file is not trusted unless its format is named."""
import hashlib
import json
import os
import subprocess
import sys
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
h = guest.Home(corral, d)
home = h.path
K, I = a["CORRAL_KERNEL"], a["CORRAL_INITRD"]
c = h.run


def console(name, command, expect):
    return h.console(name, command, expect, timeout=60)


def wait_shell(name):
    return h.wait_console(name, "corral:~#", 120)


def md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


base = os.path.join(d, "base.img")
with open(base, "wb") as f:
    f.write(b"BASE-SECTOR-0\n".ljust(512, b"\0"))
    f.truncate(64 << 20)
before = md5(base)
for name in ("c1", "c2"):
    rc, _, err = c("create", name, "--kernel", K, "--initrd", I, "--mem", "128M",
                   "--disk-from", base, "--append", "console=ttyS0 quiet")
    guest.check(rc == 0, "create %s --disk-from the base (%s)" % (name, err.strip()))
    ovl = os.path.join(home, "vms", name, "disk0.qcow2")
    info = subprocess.run(["qemu-img", "info", "--output=json", ovl], stdout=subprocess.PIPE,
                          text=True)
    j = json.loads(info.stdout or "{}")
    guest.check(j.get("backing-filename") == base and j.get("backing-filename-format") == "raw",
                "%s's overlay names the base and its format (%s)" % (name, j.get("backing-filename")))
for name in ("c1", "c2"):
    rc, _, err = c("start", name)
    guest.check(rc == 0 and wait_shell(name), "%s starts from its clone (%s)" % (name, err.strip()))
for name in ("c1", "c2"):
    out = console(name, "head -c 13 /dev/vda; echo; echo %s-WRITES > /tmp/m; "
                        "dd if=/tmp/m of=/dev/vda bs=512 seek=1 conv=fsync 2>/dev/null; "
                        "echo DONE-%s" % (name, name), "DONE-" + name)
    guest.check("BASE-SECTOR-0" in out, "%s reads the base through its overlay" % name)
    guest.check("DONE-" + name in out, "%s writes its own disk" % name)
for name in ("c1", "c2"):
    out = console(name, "echo READ-$(dd if=/dev/vda bs=512 skip=1 count=1 2>/dev/null | "
                        "head -c 9)-END", "-END\r")
    got = out[out.rfind("READ-"):].split("-END")[0] if "READ-" in out else out[-200:]
    guest.check(got == "READ-%s-WRITES" % name, "%s reads back its own write only: %r" % (name, got))
for name in ("c1", "c2"):
    rc, _, err = c("stop", name, "--timeout", "30")
    guest.check(rc == 0, "stop %s (%s)" % (name, err.strip()))
guest.check(md5(base) == before, "the base is unchanged")
for name in ("c1", "c2"):
    ovl = os.path.join(home, "vms", name, "disk0.qcow2")
    r = subprocess.run(["qemu-img", "check", ovl], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    guest.check(r.returncode == 0, "qemu-img check %s's overlay: %s" % (name, r.stdout.strip()[-80:]))

# a qcow2 base naming a backing file is not probed into trust
secret = os.path.join(d, "secret.raw")
open(secret, "wb").write(b"host secret")
qbase = os.path.join(d, "qbase.qcow2")
subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", secret, "-F", "raw", qbase],
               check=True)
rc, _, err = c("create", "c3", "--kernel", K, "--disk-from", qbase)
guest.check(rc != 0 and len(err.strip().splitlines()) == 1 and "format" in err,
            "a probed qcow2 base with a backing file is refused: %s" % err.strip())
rc, _, err = c("create", "c3", "--kernel", K, "--disk-from", qbase + ",format=qcow2")
guest.check(rc == 0, "named as qcow2, the same base is taken (%s)" % err.strip())
guest.finish()
