"""corral-bm runs test guests (tests/bm/guest) in VS-mode behind G-stage tables, one
dedicated hart each, through tools/bm-run: two in parallel, each answered by the shared SBI
(DBCN, legacy console, base, SRST with an exit code); a guest that stores outside its RAM
is stopped while the other finishes; guests drive their emulated UART and PLIC; a guest
making bad SBI calls gets errors and is stopped at an HS-only instruction; bad VM
descriptions are refused with a console line and the good ones still run."""
import os
import re
import subprocess
import sys

import bm

bmdir = sys.argv[1]
image = os.path.join(bmdir, "corral-bm")
guests = os.path.join(bmdir, "guests")
bm_run = os.path.join(os.environ.get("CORRAL_SRC", "."), "tools", "bm-run")


def run(*vms, smp=2):
    cmd = ["nice", bm_run, "--image", image, "--smp", str(smp), "--timeout", "120"]
    for v in vms:
        cmd += ["--vm", v]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=180)
    return r.returncode, r.stdout.decode(errors="replace").replace("\r", "")


def g(name):
    return os.path.join(guests, name)


def lines_of(out, vm):
    return [l[len(vm) + 2:] for l in out.splitlines() if l.startswith(vm + "| ")]


def primes_below(n):
    sieve = bytearray([1]) * n
    sieve[0:2] = b"\0\0"
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytearray(len(sieve[i * i::i]))
    return sum(sieve)


expect_primes = "primes below 60000: %d" % primes_below(60000)

# Two guests in parallel on two dedicated harts.
rc, out = run("kernel=%s,mem=16M" % g("guest-ok"), "kernel=%s,mem=16M" % g("guest-exit7"))
bm.check(rc == 7, "bm-run exits with the failing VM's code 7 (rc=%s)" % rc, out)
harts = re.findall(r"corral-bm: vm (vm\d): 1 vCPU, 16 MiB at (0x[0-9a-f]+), entry 0x80200000, "
                   r"harts (\d+)", out)
bm.check(len(harts) == 2 and harts[0][2] != harts[1][2], "each VM on a hart of its own", out)
bm.check(len(harts) == 2 and harts[0][1] != harts[1][1], "each VM in a RAM slice of its own", out)
for vm, code in (("vm0", 0), ("vm1", 7)):
    ls = lines_of(out, vm)
    bm.check("hello from a corral-bm guest" in ls, vm + ": DBCN write from guest memory", out)
    bm.check("dbcn wrote 29 bytes, hart 0" in ls, vm + ": DBCN returns the length", out)
    bm.check("hsm probe 1" in ls, vm + ": SBI base probe finds HSM", out)
    bm.check(expect_primes in ls, vm + ": computes the right answer", out)
    bm.check("corral-bm: vm %s: powered off (code %d)" % (vm, code) in out,
             vm + ": SRST power off with code %d reported" % code, out)
    bm.check("power off returned" not in ls, vm + ": does not run after power off", out)
# parallel: each greeted before either finished
first_off = min(out.find("powered off (code 0)"), out.find("powered off (code 7)"))
bm.check(out.find("vm0| hello") < first_off and out.find("vm1| hello") < first_off,
         "both guests run at once", out)
bm.check("all VMs have ended" in out, "the hypervisor ends when every VM has", out)

# A guest that stores outside its RAM is stopped; the other one finishes.
rc, out = run("kernel=%s,mem=16M" % g("guest-escape"), "kernel=%s,mem=16M" % g("guest-ok"))
bm.check(rc == 255, "bm-run exits with the stopped VM's code 255 (rc=%s)" % rc, out)
bm.check(re.search(r"vm vm0: vCPU 0: guest store outside its memory at guest physical "
                   r"0xc0000000, pc 0x802", out), "the escape is reported with its address", out)
bm.check("corral-bm: vm vm0: stopped: access outside its memory (code 255)" in out,
         "the escaping VM is stopped", out)
bm.check("still running after the store" not in out, "the escaping guest runs no further", out)
bm.check(expect_primes in lines_of(out, "vm1") and "vm vm1: powered off (code 0)" in out,
         "the other VM finishes", out)

# A hostile guest: SBI calls with bad arguments get SBI errors (a DBCN buffer outside its
# RAM, HSM start of a hart it lacks, an IPI mask past its harts: invalid param, 3; starting
# itself: already available, 6), and an HS-only instruction stops it; the other VM finishes.
rc, out = run("kernel=%s,mem=8M" % g("guest-hostile"), "kernel=%s,mem=8M" % g("guest-ok"))
bm.check("sbi errors 3 3 3 6" in lines_of(out, "vm0"),
         "bad DBCN buffer, HSM hart, IPI mask and a second start are refused", out)
bm.check(re.search(r"vm vm0: vCPU 0: virtual instruction 0x62000073 at pc 0x802", out) and
         "vm vm0: stopped: instruction not emulated (code 255)" in out,
         "hfence.gvma in VS-mode stops the VM", out)
bm.check("still running after hfence.gvma" not in out, "the hostile guest runs no further", out)
bm.check(expect_primes in lines_of(out, "vm1") and "vm vm1: powered off (code 0)" in out,
         "the other VM finishes", out)

# Bad descriptions: refused with a line each; the good VM still runs.
rc, out = run("kernel=%s,mem=3M" % g("guest-ok"), "kernel=%s,mem=16M,cpus=9" % g("guest-ok"),
              "kernel=%s,mem=8M,harts=7" % g("guest-ok"), "kernel=%s,mem=8M" % g("guest-ok"))
bm.check("vm vm0: memory must be a multiple of 2 MiB, at least 4 MiB; not started" in out,
         "too little memory is refused", out)
bm.check("vm vm1: cpus missing or out of range (1..8); not started" in out,
         "too many vCPUs are refused", out)
bm.check("vm vm2: a hart in corral,harts is missing or without H; not started" in out,
         "a missing hart is refused", out)
bm.check(expect_primes in lines_of(out, "vm3") and "vm vm3: powered off (code 0)" in out,
         "the good VM runs", out)
bm.check(rc == 1, "bm-run fails when a VM never ran (rc=%s)" % rc, out)

# A guest that drives its emulated UART and PLIC: every access a G-stage fault decoded by
# the hypervisor and served by the shared models of src/dev. Its PLIC accesses compile to
# c.sw/c.lw, so the compressed decoding is exercised too (QEMU 7.2 leaves htinst 0).
rc, out = run("kernel=%s,mem=8M" % g("guest-mmio"), "kernel=%s,mem=8M" % g("guest-mmio"))
for vm in ("vm0", "vm1"):
    ls = lines_of(out, vm)
    bm.check("uart says hi" in ls, vm + ": bytes written to its UART's THR reach the console", out)
    bm.check("mmio checks 0" in ls, vm + ": LSR, scratch and PLIC priority read back right", out)
bm.check(rc == 0, "both MMIO guests exit 0 (rc=%s)" % rc, out)

# One good VM: status 0.
rc, out = run("kernel=%s,mem=8M" % g("guest-ok"))
bm.check(rc == 0 and "vm vm0: powered off (code 0)" in out, "one good VM: bm-run exits 0", out)
bm.finish()
