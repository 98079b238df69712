"""Shared helpers for the corral-bm tests: boot the image on QEMU virt with the H extension,
edit QEMU's own device tree with dtc, collect the console."""
import os
import subprocess
import sys
import tempfile

# The tree's top, and its tools/ and guest-test helpers (guest.py) importable from here.
SRC = os.environ.get("CORRAL_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools"))
sys.path.insert(0, os.path.join(SRC, "tests", "guest"))

FW = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
QEMU = "qemu-system-riscv64"
_failures = []


def machine(smp=2, mem="512M"):
    return ["-M", "virt", "-cpu", "rv64,h=true", "-smp", str(smp), "-m", mem]


def workdir():
    return tempfile.mkdtemp(prefix="corral-bm-test-")


def dump_dts(d, smp=2, mem="512M"):
    """QEMU's own device tree for this machine, as dts text."""
    dtb = os.path.join(d, "qemu.dtb")
    subprocess.run([QEMU] + machine(smp, mem) + ["-nographic", "-machine", "dumpdtb=" + dtb],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.run(["dtc", "-q", "-I", "dtb", "-O", "dts", dtb], check=True,
                          stdout=subprocess.PIPE, text=True).stdout


def compile_dts(d, text, name="board.dtb"):
    dts, dtb = os.path.join(d, name + ".dts"), os.path.join(d, name)
    open(dts, "w").write(text)
    subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", dtb, dts], check=True)
    return dtb


def boot(image, smp=2, mem="512M", extra=(), timeout=60):
    """Runs corral-bm to the end (it shuts the machine down); returns (exit code, console)."""
    cmd = ["nice", QEMU] + machine(smp, mem) + ["-nographic", "-bios", FW, "-kernel", image]
    cmd += list(extra)
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=timeout)
        return r.returncode, r.stdout.decode(errors="replace").replace("\r", "")
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace").replace("\r", "")
        return None, out


def check(cond, what, text=""):
    if cond:
        print("ok:", what)
    else:
        print("FAIL:", what)
        _failures.append(what)
        if text:
            print("---- console ----\n" + text[-4000:] + "\n-----------------")


def finish():
    if _failures:
        sys.exit("%d check(s) failed" % len(_failures))
    print("all checks passed")
