"""Harts shared by vCPUs through corral-bm's time-slice scheduler: three test guests on two
harts all finish, the two on the shared hart taking turns; and a Debian-kernel guest with
three vCPUs on two harts brings all three up (SBI HSM), runs work on them (IPIs, remote
fences, FP state switched with the vCPU) and powers off."""
import os
import re
import subprocess
import sys

import bm

SRC = os.environ.get("CORRAL_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools"))
sys.path.insert(0, os.path.join(SRC, "tests", "guest"))
import cpio  # noqa: E402
import guest  # noqa: E402

bmdir = sys.argv[1]
image = os.path.join(bmdir, "corral-bm")
bm_run = os.path.join(SRC, "tools", "bm-run")


def run(vms, mem="512M", timeout=120):
    cmd = ["nice", bm_run, "--image", image, "--smp", "2", "--mem", mem,
           "--timeout", str(timeout)]
    for v in vms:
        cmd += ["--vm", v]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout + 60)
    return r.returncode, r.stdout.decode(errors="replace").replace("\r", "")


g = os.path.join(bmdir, "guests", "guest-ok")
rc, out = run(["kernel=%s,mem=16M" % g] * 3)
bm.check(rc == 0, "three VMs on two harts: all exit 0 (rc=%s)" % rc, out)
placed = dict(re.findall(r"corral-bm: vm (vm\d): 1 vCPU, .* harts (\d+)", out))
bm.check(len(placed) == 3 and len(set(placed.values())) == 2, "three vCPUs over two harts (%s)"
         % placed, out)
shared = re.search(r"corral-bm: hart (\d+): 2 vCPUs in \d+ ms time slices", out)
bm.check(shared is not None, "the shared hart is announced", out)
for vm in ("vm0", "vm1", "vm2"):
    bm.check("%s| primes below 60000: 6057" % vm in out and
             "corral-bm: vm %s: powered off (code 0)" % vm in out, vm + " finishes", out)
if shared:
    pair = sorted(vm for vm, h in placed.items() if h == shared.group(1))
    first_off = min(out.find("vm %s: powered off" % vm) for vm in pair)
    bm.check(len(pair) == 2 and all(0 <= out.find("%s| step 1/4" % vm) < first_off for vm in pair),
             "the two vCPUs on the shared hart take turns (%s)" % pair, out)

# One Linux guest, three vCPUs, two harts.
a = guest.assets()
d = bm.workdir()
AUTORUN = r"""#!/bin/sh
echo "RESULT cpus=$(grep -c ^processor /proc/cpuinfo)"
for i in 1 2 3; do
    (echo "RESULT part$i=$(seq 1 $((i*1000)) | awk '{s+=$1*0.5} END {printf "%.1f", s}')") &
done
wait
"""
w = cpio.Writer()
w.add_file("autorun", AUTORUN.encode(), 0o755)
initrd = os.path.join(d, "initrd.cpio")
with open(initrd, "wb") as f:
    f.write(open(a["CORRAL_INITRD"], "rb").read() + w.finish())
rc, out = run(["kernel=%s,initrd=%s,mem=192M,cpus=3,append=console=ttyS0 quiet"
               % (a["CORRAL_KERNEL"], initrd)], mem="1G", timeout=600)
bm.check(rc == 0, "Linux on 3 vCPUs over 2 harts powers off with 0 (rc=%s)" % rc, out)
bm.check(re.search(r"vm vm0: 3 vCPU, 192 MiB .* harts \d \d \d", out), "three vCPUs placed", out)
bm.check("vm0| RESULT cpus=3" in out, "all three vCPUs came up through SBI HSM", out)
for i in (1, 2, 3):
    n = i * 1000
    bm.check("vm0| RESULT part%d=%.1f" % (i, n * (n + 1) / 4) in out, "work on vCPUs: part %d" % i, out)
bm.check("vm0| autorun-exit=0" in out, "the script ran to the end", out)
bm.finish()
