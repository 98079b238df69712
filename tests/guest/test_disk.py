"""virtio-blk with real images: the Debian kernel mounts its ext4 root from a raw image
read-write, then from a qcow2 overlay on a raw base; and corral is killed with SIGKILL
while the guest writes, after which everything the guest flushed must be intact."""
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
APPEND = "console=ttyS0 quiet root=/dev/vda rw"


def sh(cmd):
    return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def inject(img, script):
    """Put SCRIPT at /autorun in the ext4 image IMG (debugfs works on the file directly)."""
    path = os.path.join(d, "autorun.sh")
    with open(path, "w") as f:
        f.write(script)
    r1 = sh("debugfs -w -R 'write %s autorun' %s" % (path, img))
    r2 = sh("debugfs -w -R 'sif /autorun mode 0100755' %s" % img)
    assert r1.returncode == 0 and r2.returncode == 0, r1.stdout + r2.stdout


def guest_file(img, path):
    r = subprocess.run(["debugfs", "-R", "cat " + path, img], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    return r.stdout


def boot(disk_spec, timeout=300):
    return guest.run([corral, "run", "--kernel", a["CORRAL_KERNEL"], "--initrd", a["CORRAL_INITRD"],
                      "--mem", "512M", "--append", APPEND, "--disk", disk_spec], timeout=timeout)


WRITER = r"""#!/bin/sh
mount | grep -q '/dev/vda on / type ext4 (rw' && echo "ROOT: ext4 rw"
mkdir -p /data
dd if=/dev/urandom of=/data/big bs=1M count=8 2>/dev/null
seq 1 20000 > /data/seq
echo "BIG: $(md5sum < /data/big | cut -d' ' -f1)"
sync
"""

# 1. raw image
raw = os.path.join(d, "root.raw")
shutil.copyfile(a["CORRAL_ROOTFS"], raw)
inject(raw, WRITER)
r = boot(raw)
guest.check(r.rc == 0 and "autorun-exit=0" in r.text, "raw root: the guest runs and powers off", r)
guest.check("ROOT: ext4 rw" in r.text, "raw root: / is the ext4 disk, read-write", r)
fsck = sh("e2fsck -fn %s" % raw)
guest.check(fsck.returncode == 0, "raw root: e2fsck -fn finds the filesystem clean (rc=%d)" % fsck.returncode)
big = r.values("BIG:")
guest.check(bool(big) and hashlib.md5(guest_file(raw, "/data/big")).hexdigest() == big[0].split()[1],
            "raw root: the guest's 8 MiB file is on the disk", r)
guest.check(guest_file(raw, "/data/seq") == "".join("%d\n" % i for i in range(1, 20001)).encode(),
            "raw root: the guest's text file is on the disk")

# 2. qcow2 overlay on a raw base
base = os.path.join(d, "base.raw")
shutil.copyfile(a["CORRAL_ROOTFS"], base)
inject(base, WRITER)
base_sum = hashlib.sha256(open(base, "rb").read()).hexdigest()
ov = os.path.join(d, "overlay.qcow2")
c = sh("qemu-img create -q -f qcow2 -b %s -F raw %s" % (base, ov))
guest.check(c.returncode == 0, "qemu-img creates the overlay")
r = boot(ov + ",format=qcow2")
guest.check(r.rc == 0 and "autorun-exit=0" in r.text, "qcow2 overlay: the guest runs and powers off", r)
chk = sh("qemu-img check %s" % ov)
guest.check(chk.returncode == 0, "qcow2 overlay: qemu-img check is clean (rc=%d): %s" %
            (chk.returncode, chk.stdout.strip().splitlines()[-1:] if chk.stdout else ""))
guest.check(hashlib.sha256(open(base, "rb").read()).hexdigest() == base_sum,
            "qcow2 overlay: the base image is unchanged")
flat = os.path.join(d, "flat.raw")
conv = sh("qemu-img convert -O raw %s %s" % (ov, flat))
guest.check(conv.returncode == 0, "qemu-img converts the overlay")
guest.check(sh("e2fsck -fn %s" % flat).returncode == 0, "qcow2 overlay: the converted filesystem is clean")
big = r.values("BIG:")
guest.check(bool(big) and hashlib.md5(guest_file(flat, "/data/big")).hexdigest() == big[0].split()[1],
            "qcow2 overlay: the converted image holds the guest's data", r)
os.unlink(flat)


# 3. SIGKILL while writing, raw and qcow2
KILLED = r"""#!/bin/sh
mkdir -p /data
dd if=/dev/urandom of=/data/kept bs=1M count=4 conv=fsync 2>/dev/null
sync
echo "FLUSHED: $(md5sum < /data/kept | cut -d' ' -f1)"
i=0
while true; do
    i=$((i+1))
    dd if=/dev/urandom of=/data/churn$((i % 4)) bs=256k count=4 conv=fsync 2>/dev/null
done
"""


def killed_run(spec, img_for_check, label, qcow=None):
    p = guest.spawn([corral, "run", "--kernel", a["CORRAL_KERNEL"], "--initrd", a["CORRAL_INITRD"],
                          "--mem", "512M", "--append", APPEND, "--disk", spec],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, want, deadline = b"", None, time.monotonic() + 240
    import select
    while time.monotonic() < deadline:
        rr, _, _ = select.select([p.stdout], [], [], 1)
        if rr:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
        m = re.search(r"FLUSHED: ([0-9a-f]{32})\s", out.decode("utf-8", "replace"))
        if m:
            want = m.group(1)
        if want:
            break
    time.sleep(3)  # let the churn run: the kill lands in the middle of writes
    p.send_signal(signal.SIGKILL)
    p.wait()
    guest.check(want is not None, "%s: the guest flushed its file before the kill" % label)
    if want is None:
        print(out.decode("utf-8", "replace")[-2000:])
    if qcow:
        chk = sh("qemu-img check %s" % qcow)
        # 0: clean; 3: only leaked clusters, which a crash may leave and which lose no data
        guest.check(chk.returncode in (0, 3), "%s: qemu-img check finds no corruption (rc=%d)" %
                    (label, chk.returncode))
        conv = sh("qemu-img convert -O raw %s %s" % (qcow, img_for_check))
        guest.check(conv.returncode == 0, "%s: the image converts" % label)
    fsck = sh("e2fsck -fy %s" % img_for_check)
    guest.check(fsck.returncode in (0, 1), "%s: e2fsck recovers the journal (rc=%d)" % (label, fsck.returncode))
    data = guest_file(img_for_check, "/data/kept")
    got = hashlib.md5(data).hexdigest()
    guest.check(want is not None and got == want, "%s: the flushed file is intact after SIGKILL "
                "(%d bytes, md5 %s, want %s)" % (label, len(data), got, want))
    if got != want:
        print(fsck.stdout[-2000:])


raw2 = os.path.join(d, "kill.raw")
shutil.copyfile(a["CORRAL_ROOTFS"], raw2)
inject(raw2, KILLED)
killed_run(raw2, raw2, "raw SIGKILL")
base2 = os.path.join(d, "kill-base.raw")
shutil.copyfile(a["CORRAL_ROOTFS"], base2)
inject(base2, KILLED)
ov2 = os.path.join(d, "kill.qcow2")
sh("qemu-img create -q -f qcow2 -b %s -F raw %s" % (base2, ov2))
killed_run(ov2 + ",format=qcow2", os.path.join(d, "kill-flat.raw"), "qcow2 SIGKILL", qcow=ov2)
shutil.rmtree(d, ignore_errors=True)
guest.finish()
