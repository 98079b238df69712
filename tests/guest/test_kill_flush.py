"""Flushed data survives SIGKILL: for a raw image and a qcow2 image, the VMM is killed with
SIGKILL many times (100 by default) at random moments while the guest writes with flushes,
on the same image each time so that damage would add up. After every kill, every record the
guest said was flushed must be on the image, qemu-img check must find the qcow2 consistent,
and the ext4 file system must pass e2fsck -fn.

The guest writes numbered 512-byte records twice: straight to the disk, past the end of its
ext4 file system, and into a file on that file system, each with dd conv=fsync (fsync, which
sends the device a FLUSH). It prints "KF-FLUSHED k" only once both fsyncs returned. The
host kills at a random time: during the kernel's boot, during the mount (and its journal
replay after the last kill), or while records are written and flushed.

A kill leaves the host's page cache alone, so this cannot tell whether a FLUSH reached the
platters (fdatasync; a host crash would): it shows that the VMM keeps nothing back from the
host kernel once it has completed a write or a flush, and that every state a kill can leave
in between is consistent. Made to fail by a VMM that holds a write until the next one and does
not write it out on FLUSH: a fsync'ed record goes missing within a few kills.

Usage: test_kill_flush.py CORRAL [--kills N] [--seed S] [--formats raw,qcow2]"""
import argparse
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import guest
import cpio  # tools/cpio.py, on the path guest.py sets

ap = argparse.ArgumentParser()
ap.add_argument("corral")
ap.add_argument("--kills", type=int, default=100, help="kills per format")
ap.add_argument("--seed", type=int, default=None)
ap.add_argument("--formats", default="raw,qcow2")
args = ap.parse_args()
corral = args.corral
seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
print("seed %d (rerun with --seed %d)" % (seed, seed))

a = guest.assets()
d = guest.workdir()

MIB = 1 << 20
DISK = 64 * MIB
FS = 40 * MIB                 # ext4 lives in [0, FS) ...
REC_OFF = 48 * MIB            # ... and the raw records in [REC_OFF, DISK), record k at k * 512
REC = 512
SLOTS = (DISK - REC_OFF) // REC
BOOT_TIMEOUT = 180            # seconds from start to a mounted file system (slow sanitizer builds)
WRITE_WINDOW = 1.5            # a kill after the mount lands within this many seconds


def record(k):
    """Record K: the same 512 bytes whatever boot writes it, so a rewrite after a kill of a
    record that was written but never reported leaves nothing ambiguous."""
    return (b"kf%013d\n" % k) * (REC // 16)


# The guest's side: PID 1 itself, in an initramfs of its own (below). printf is an ash
# builtin: no process per record but the two dd.
INIT = r"""#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
for m in %(modules)s; do insmod /lib/modules/$m || echo "KF-INSMOD-FAILED $m"; done
n=0; while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n+1)); done
k=0
for a in $(cat /proc/cmdline); do case "$a" in kf.start=*) k=${a#kf.start=} ;; esac; done
echo "KF-CACHE $(cat /sys/block/vda/queue/write_cache)"
if mount -t ext4 /dev/vda /mnt && mkdir -p /mnt/kf; then
    echo KF-MOUNTED
    while [ $k -lt %(slots)d ]; do
        printf 'kf%%013d\n' %(args)s > /tmp/r
        dd if=/tmp/r of=/dev/vda bs=512 seek=$((%(rec_sector)d + k)) conv=notrunc,fsync 2>/dev/null || break
        dd if=/tmp/r of=/mnt/kf/log bs=512 seek=$k conv=notrunc,fsync 2>/dev/null || break
        echo "KF-FLUSHED $k"
        k=$((k+1))
    done
fi
echo KF-STOPPED
poweroff -f
"""

# Only what the writer needs: the stock initramfs's busybox, and its virtio disk and ext4
# modules. Their signatures are cut off: the kernel would hash all of each module (7 MiB for
# ext4) to check one it does not require, about a second of every boot here; it loads them
# unsigned all the same (the modules were checked against Debian's index when fetched).
MODULES = ["kernel/drivers/virtio/virtio_mmio.ko", "kernel/drivers/block/virtio_blk.ko",
           "kernel/crypto/crc32c_generic.ko", "kernel/fs/jbd2/jbd2.ko", "kernel/fs/mbcache.ko",
           "kernel/lib/crc16.ko", "kernel/fs/ext4/ext4.ko"]
SIG_MARK = b"~Module signature appended~\n"


def unsigned(ko):
    """KO without its appended signature: [module][signature][12-byte trailer][marker]; the
    trailer's last 4 bytes are the signature's length, big-endian."""
    if not ko.endswith(SIG_MARK):
        return ko
    end = len(ko) - len(SIG_MARK) - 12
    return ko[:end - int.from_bytes(ko[end + 8:end + 12], "big")]


def writer_initrd():
    base = cpio.read(open(a["CORRAL_INITRD"], "rb").read())
    w = cpio.Writer()
    for name in ("bin", "dev", "proc", "sys", "tmp", "mnt", "lib", "lib/modules"):
        w.add_dir(name)
    w.add_char_dev("dev/console", 5, 1)
    w.add_file("bin/busybox", base["bin/busybox"][1], 0o755)
    for applet in ("sh", "mount", "mkdir", "cat", "dd", "insmod", "sleep", "poweroff"):
        w.add_symlink("bin/" + applet, "busybox")
    for m in MODULES:
        w.add_file("lib/modules/" + os.path.basename(m), unsigned(base["lib/modules/" + m][1]))
    w.add_file("init", (INIT % {
        "modules": " ".join(os.path.basename(m) for m in MODULES), "slots": SLOTS,
        "args": " ".join(["$k"] * (REC // 16)), "rec_sector": REC_OFF // 512}).encode(), 0o755)
    path = os.path.join(d, "writer.cpio")
    with open(path, "wb") as f:
        f.write(w.finish())
    return path


initrd = writer_initrd()


def sh(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


class Disk:
    """One image under test and what the guest has said is flushed on it."""

    def __init__(self, fmt):
        self.fmt, self.label = fmt, fmt
        self.dir = os.path.join(d, fmt)
        os.mkdir(self.dir)
        fs = os.path.join(self.dir, "fs.raw")
        with open(fs, "wb") as f:
            f.truncate(DISK)
        r = sh(["mkfs.ext4", "-q", "-F", "-b", "4096", "-E", "lazy_itable_init=0,lazy_journal_init=0",
                fs, str(FS // 4096)])
        assert r.returncode == 0, r.stdout
        if fmt == "raw":
            self.path, self.spec = fs, fs + ",format=raw"
        else:
            # 4 KiB clusters: a new L2 table every 2 MiB of disk and a new refcount block every
            # 8 MiB of file, so kills land in table allocation too, not only in data clusters.
            self.path = os.path.join(self.dir, "disk.qcow2")
            r = sh(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096",
                    self.path, str(DISK)])
            assert r.returncode == 0, r.stdout
            r = sh(["qemu-img", "convert", "-n", "-f", "raw", "-O", "qcow2", fs, self.path])
            assert r.returncode == 0, r.stdout
            os.unlink(fs)
            self.spec = self.path + ",format=qcow2"
        self.flushed = set()          # every record the guest reported, over all boots
        self.next = 0
        self.boot_time = 3.0          # start to mount, as last seen: early kills land before it
        self.kills = {"boot": 0, "write": 0}
        self.leaks = 0
        self.failed = False
        self.checks = 0
        self.elapsed = 0.0

    def check(self, cond, what, detail="", out=None):
        """A check made after every kill: only a failure is printed (with DETAIL and the last
        of the guest's output OUT), so that a hundred kills stay readable."""
        self.checks += 1
        if cond:
            return
        guest.check(False, "%s: %s" % (self.label, what))
        self.failed = True
        if detail:
            print("  " + detail.strip().replace("\n", "\n  "))
        if out:
            print("---- %s: guest output (last 30 lines) ----" % self.label)
            for l in out.splitlines()[-30:]:
                print("  | " + l)


def run_once(disk, rng, i):
    """Starts the VM, kills it at a random moment, returns its console output."""
    p = guest.spawn([corral, "run", "--kernel", a["CORRAL_KERNEL"], "--initrd", initrd,
                     "--mem", "128M",
                     "--append", "console=ttyS0 quiet kf.start=%d" % disk.next,
                     "--disk", disk.spec],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    early = rng.random() < 0.25
    t0 = time.monotonic()
    kill_at = t0 + rng.uniform(0.0, disk.boot_time) if early else None
    out = b""
    fd = p.stdout.fileno()
    while p.poll() is None:
        now = time.monotonic()
        if kill_at is not None and now >= kill_at:
            break
        if now - t0 > BOOT_TIMEOUT:
            disk.check(False, "kill %d: the guest mounts its disk within %d s" % (i, BOOT_TIMEOUT),
                       out=out.decode("utf-8", "replace"))
            break
        wait = 0.5 if kill_at is None else max(0.0, min(0.5, kill_at - now))
        r, _, _ = select.select([fd], [], [], wait)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out += chunk
            if kill_at is None and b"KF-MOUNTED" in out:
                disk.boot_time = time.monotonic() - t0
                kill_at = time.monotonic() + rng.uniform(0.0, WRITE_WINDOW)
    p.send_signal(signal.SIGKILL)
    # what the guest printed before the kill still counts: read the pipe to its end
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        out += chunk
    rc = p.wait()
    text = out.decode("utf-8", "replace")
    disk.kills["boot" if b"KF-MOUNTED" not in out else "write"] += 1
    disk.check(rc == -signal.SIGKILL, "kill %d: the VMM dies of SIGKILL, not before (rc=%d)" % (i, rc),
               out=text)
    return text


def verify(disk, i, text):
    """After kill I: the image is consistent and holds every record reported flushed."""
    flat = disk.path
    if disk.fmt == "qcow2":
        r = sh(["qemu-img", "check", "-f", "qcow2", disk.path])
        # 3: only leaked clusters (allocated, not yet pointed at when the kill came): space is
        # wasted, nothing is lost or shared. Anything else is corruption.
        if r.returncode == 3:
            disk.leaks += 1
        disk.check(r.returncode in (0, 3), "kill %d: qemu-img check finds no corruption (rc=%d)"
                   % (i, r.returncode), r.stdout)
        flat = os.path.join(disk.dir, "flat.raw")
        r = sh(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", disk.path, flat])
        disk.check(r.returncode == 0, "kill %d: qemu-img convert reads the image" % i, r.stdout)
    with open(flat, "rb") as f:
        f.seek(REC_OFF)
        region = f.read(DISK - REC_OFF)
        f.seek(0)
        fs = f.read(FS)
    # The file system as the next mount will see it: the kernel replays the journal when it
    # mounts a file system that was not cleanly unmounted, so the state to judge is the one
    # after replay. Replay on a copy, leaving the image as the kill left it for the next boot.
    copy = os.path.join(disk.dir, "fs-copy.raw")
    with open(copy, "wb") as f:
        f.write(fs)
    r = sh(["e2fsck", "-y", "-E", "journal_only", copy])
    disk.check(r.returncode in (0, 1), "kill %d: the journal replays (rc=%d)" % (i, r.returncode),
               r.stdout)
    r = sh(["e2fsck", "-f", "-n", copy])
    disk.check(r.returncode == 0, "kill %d: e2fsck -fn finds the file system clean (rc=%d)" %
               (i, r.returncode), r.stdout)
    log = subprocess.run(["debugfs", "-R", "cat /kf/log", copy], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout
    lost_raw = [k for k in sorted(disk.flushed) if region[k * REC:(k + 1) * REC] != record(k)]
    lost_fs = [k for k in sorted(disk.flushed) if log[k * REC:(k + 1) * REC] != record(k)]
    disk.check(not lost_raw, "kill %d: all %d flushed records are on the disk (%d lost: %s)" %
               (i, len(disk.flushed), len(lost_raw), lost_raw[:10]), out=text)
    disk.check(not lost_fs, "kill %d: all %d flushed records are in the ext4 file (%d lost: %s)" %
               (i, len(disk.flushed), len(lost_fs), lost_fs[:10]), out=text)
    if flat != disk.path:
        os.unlink(flat)
    os.unlink(copy)


def torture(disk, kills, seed):
    rng = random.Random(seed)
    t0 = time.monotonic()
    for i in range(1, kills + 1):
        text = run_once(disk, rng, i)
        if "KF-STOPPED" in text or "KF-INSMOD-FAILED" in text:
            disk.check(False, "kill %d: the guest loads its modules, mounts, and writes until "
                       "killed" % i, out=text)
        cache = re.search(r"KF-CACHE (.*)", text)
        if cache:
            disk.check(cache.group(1).strip() == "write back",
                       "kill %d: the guest sees a write-back cache, so fsync sends FLUSH (%s)" %
                       (i, cache.group(1).strip()))
        new = [int(k) for k in re.findall(r"^KF-FLUSHED (\d+)", text, re.M)]
        disk.flushed.update(new)
        if new:
            disk.next = max(new) + 1
        verify(disk, i, text)
        if disk.failed:
            print("%s: stopping after kill %d" % (disk.label, i))
            break
        if i % 10 == 0:
            print("%s: %d kills, %d records flushed, %.0f s" %
                  (disk.label, i, len(disk.flushed), time.monotonic() - t0), flush=True)
    disk.elapsed = time.monotonic() - t0


disks = [Disk(f) for f in args.formats.split(",")]
# One thread per format: each mostly waits on its VM and on the checkers.
# Daemon threads, so that SIGTERM (a ctest timeout) ends the test with its VMs at once.
threads = [threading.Thread(target=torture, args=(disk, args.kills, seed + n), daemon=True)
           for n, disk in enumerate(disks)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for disk in disks:
    guest.check(not disk.failed and len(disk.flushed) > 0,
                "%s: %d kills (%d in boot or mount, %d while writing), %d records flushed, "
                "%d checks after the kills passed, %.0f s%s" % (disk.label, sum(disk.kills.values()),
                                    disk.kills["boot"], disk.kills["write"], len(disk.flushed),
                                    disk.checks, disk.elapsed,
                                    ", %d checks with leaked clusters" % disk.leaks
                                    if disk.fmt == "qcow2" else ""))
shutil.rmtree(d, ignore_errors=True)
guest.finish()
