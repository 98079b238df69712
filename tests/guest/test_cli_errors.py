"""Every bad input on the command line is a one-line error and a non-zero exit, never a
crash or a hang; --help and --version work."""
import os
import subprocess
import sys
import time
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
K, I = a["CORRAL_KERNEL"], a["CORRAL_INITRD"]
text = os.path.join(d, "notes.txt")
open(text, "w").write("this is not a kernel\n" * 10)
empty = os.path.join(d, "empty")
open(empty, "w").close()
garbage = os.path.join(d, "garbage.dtb")
open(garbage, "wb").write(os.urandom(4096))
big = os.path.join(d, "big-initrd")
with open(big, "wb") as f:
    f.truncate(40 << 20)
unreadable = os.path.join(d, "unreadable")
open(unreadable, "w").write("x")
os.chmod(unreadable, 0)


def run(args, timeout=20):
    try:
        r = subprocess.run([corral] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, text=True)
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired:
        return None, "", "<<hang>>"


def bad(args, what, word=None):
    rc, out, err = run(args)
    lines = err.strip().split("\n") if err.strip() else []
    ok = rc is not None and rc > 0 and len(lines) == 1 and lines[0].startswith("corral: ")
    if ok and word:
        ok = word.lower() in lines[0].lower()
    guest.check(ok, "%s -> rc=%s: %s" % (what, rc, err.strip()[:200]))


bad([], "no arguments")
bad(["frobnicate"], "unknown command")
bad(["run"], "run without --kernel", "kernel")
bad(["run", "--kernel", K, "--bogus"], "unknown flag", "--bogus")
bad(["run", "--kernel"], "flag without its value", "kernel")
bad(["run", "--kernel", "/nonexistent/Image"], "missing kernel file", "/nonexistent/Image")
bad(["run", "--kernel", d], "a directory as the kernel")
if os.getuid() != 0:
    bad(["run", "--kernel", unreadable], "unreadable kernel file")
bad(["run", "--kernel", empty], "empty kernel file")
bad(["run", "--kernel", text], "text file as the kernel")
bad(["run", "--kernel", "/bin/true"], "host (non-RISC-V) ELF as the kernel")
bad(["run", "--kernel", K, "--initrd", "/nonexistent/initrd"], "missing initrd")
bad(["run", "--kernel", K, "--mem", "12Q"], "size with a bad suffix", "12Q")
bad(["run", "--kernel", K, "--mem", "lots"], "size that is not a number", "lots")
bad(["run", "--kernel", K, "--mem", "0"], "zero memory")
bad(["run", "--kernel", K, "--mem", "99999999999999999999"], "size that overflows")
bad(["run", "--kernel", K, "--mem", "64T"], "more memory than allowed")
bad(["run", "--kernel", K, "--initrd", I, "--mem", "16M"], "memory too small for kernel+initrd")
bad(["run", "--kernel", K, "--initrd", big, "--mem", "64M"], "initrd does not fit")
bad(["run", "--kernel", K, "--smp", "0"], "zero harts")
bad(["run", "--kernel", K, "--smp", "999"], "too many harts")
bad(["run", "--kernel", K, "--smp", "two"], "hart count that is not a number")
bad(["run", "--kernel", K, "--bios", "/nonexistent/fw.bin"], "missing firmware")
bad(["run", "--kernel", K, "--bios", text], "text file as firmware")
bad(["run", "--kernel", K, "--dtb", garbage], "a device tree that is not one")
bad(["run", "--kernel", K, "--append", "x" * 5000], "a command line too long for the device tree")

# virtio device options
img = os.path.join(d, "disk.raw")
with open(img, "wb") as f:
    f.truncate(64 << 20)
bad(["run", "--kernel", K, "--disk", "/nonexistent/disk.img"], "missing disk image", "/nonexistent/disk.img")
bad(["run", "--kernel", K, "--disk", img + ",format=vmdk"], "unknown disk format", "vmdk")
bad(["run", "--kernel", K, "--disk", img + ",bogus"], "unknown disk option", "bogus")
bad(["run", "--kernel", K, "--disk", text + ",format=qcow2"], "a raw file opened as qcow2")
bad(["run", "--kernel", K, "--disk", ""], "empty disk spec")
bad(["run", "--kernel", K, "--net", "carrier-pigeon"], "unknown network backend", "carrier-pigeon")
bad(["run", "--kernel", K, "--net", "user,hostfwd=tcp:abc-:22"], "bad hostfwd", "abc")
bad(["run", "--kernel", K, "--net", "user,hostfwd=tcp::99999-:22"], "hostfwd port out of range")
bad(["run", "--kernel", K, "--net", "user,mac=52:54:00:zz:00:01"], "bad MAC address")
bad(["run", "--kernel", K, "--hvc", "serial"], "bad --hvc", "serial")
# an image in use by a running VM cannot be opened for writing by a second one
first = guest.spawn([corral, "run", "--kernel", K, "--initrd", I, "--disk", img,
                     "--append", "console=ttyS0 quiet"], stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(2)
guest.check(first.poll() is None, "a first VM with the disk is running")
bad(["run", "--kernel", K, "--disk", img], "disk image locked by another VM", "in use")
first.kill()
first.wait()

rc, out, err = run(["--help"])
guest.check(rc == 0 and "--kernel" in out and "--mem" in out, "--help prints usage and exits 0")
rc, out, err = run(["run", "--help"])
guest.check(rc == 0 and "--kernel" in out, "run --help prints usage and exits 0")
rc, out, err = run(["--version"])
guest.check(rc == 0 and out.startswith("corral "), "--version prints the version (%r)" % out.strip())
# a cgroup that was not delegated (or is not a cgroup at all) is refused before the guest runs
os.environ["CORRAL_CGROUP"] = d
bad(["run", "--kernel", K, "--mem", "128M", "--cpu-quota", "50"], "CORRAL_CGROUP on a plain folder",
    "not a cgroup v2 folder")
fake = os.path.join(d, "fake-cgroup")
os.makedirs(fake)
open(os.path.join(fake, "cgroup.controllers"), "w").write("memory pids\n")
os.environ["CORRAL_CGROUP"] = fake
bad(["run", "--kernel", K, "--mem", "128M"], "CORRAL_CGROUP without the cpu controller",
    "no cpu controller")
del os.environ["CORRAL_CGROUP"]
guest.finish()
