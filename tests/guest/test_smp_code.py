"""Four harts share one code cache: the stock Debian kernel boots on 4 harts, four jobs of
hashing and compressing run at once (each process a new address space, so new code, and
fence.i between), and each gives the same result as the same job run alone. While they run,
the VM process holds one translated-code buffer (its two views), not one per hart."""
import os
import select
import sys
import time

import guest

SCRIPT = r"""#!/bin/sh
job() { for i in $(seq 12); do sha256sum /bin/busybox; head -c 131072 /bin/busybox | gzip -c | md5sum; seq 1 2000 | sort -r | md5sum; awk "BEGIN { s = 0; for (k = 1; k <= 3000; k++) s += sqrt(k) / k; printf \"%.9f\n\", s }"; done | md5sum | cut -d' ' -f1; }
ref=$(job)
echo "REF: $ref"
echo SMP-BUSY
for j in 1 2 3 4 5 6; do job > /tmp/r$j & done
wait
echo "SMP: $(cat /tmp/r1 /tmp/r2 /tmp/r3 /tmp/r4 /tmp/r5 /tmp/r6 | sort -u | wc -l) $(cat /tmp/r1)"
echo "CPUS: $(grep -c ^processor /proc/cpuinfo)"
"""


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def jit_views(pids):
    """Per process, the mappings of the translator's memfd."""
    views = {}
    for p in pids:
        try:
            with open("/proc/%d/maps" % p) as f:
                n = sum(1 for l in f if "corral-jit" in l)
        except OSError:
            continue
        if n:
            views[p] = n
    return views


corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
initrd = guest.autorun_initrd(a["CORRAL_INITRD"], SCRIPT, d)
cmd = [corral, "run", "--kernel", a["CORRAL_KERNEL"], "--initrd", initrd, "--mem", "512M",
       "--smp", "4", "--append", "console=ttyS0 quiet"]
p = guest.spawn(cmd, stdin=guest.subprocess.DEVNULL, stdout=guest.subprocess.PIPE,
                stderr=guest.subprocess.STDOUT)
t0 = time.monotonic()
lines, buf, views = [], b"", None
while time.monotonic() - t0 < 600:
    r, _, _ = select.select([p.stdout], [], [], 1.0)
    if not r:
        continue
    chunk = os.read(p.stdout.fileno(), 65536)
    if not chunk:
        break
    buf += chunk
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        text = line.decode("utf-8", "replace").rstrip("\r")
        lines.append((time.monotonic() - t0, text))
        if text.startswith("SMP-BUSY") and views is None:
            time.sleep(1)
            views = jit_views(descendants(p.pid))
if p.poll() is None:
    p.kill()
run = guest.Run(p.wait(), lines, time.monotonic() - t0)

ref = run.values("REF:")
smp = run.values("SMP:")
guest.check(run.rc == 0 and "autorun-exit=0" in run.text, "the guest ran the jobs and powered off", run)
guest.check("CPUS: 4" in run.text, "4 harts online", run)
guest.check(bool(ref) and len(ref[0].split()) == 2, "the job ran alone (%s)" % ref, run)
guest.check(bool(smp) and bool(ref) and smp[0] == "SMP: 1 " + ref[0].split()[1],
            "six copies at once on 4 harts all give the job's result (%s)" % smp, run)
guest.check(views is not None and len(views) == 1 and list(views.values())[0] == 2,
            "one translated-code buffer for the 4 harts: its two views (%s)" % views)
guest.finish()
