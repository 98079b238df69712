"""The binary is built hardened (PIE, full RELRO, no executable stack, stack protector), a
running VM has no page both writable and executable (the translator's buffer is two views of
one memfd), and guest output that reaches past the terminal (OSC 52, title) is filtered."""
import os
import re
import select
import subprocess
import sys
import time
import guest

corral = sys.argv[1]

# ---- the binary
ph = subprocess.run(["readelf", "-lW", corral], stdout=subprocess.PIPE, text=True).stdout
dyn = subprocess.run(["readelf", "-dW", corral], stdout=subprocess.PIPE, text=True).stdout
hdr = subprocess.run(["readelf", "-hW", corral], stdout=subprocess.PIPE, text=True).stdout
syms = subprocess.run(["readelf", "--dyn-syms", "-W", corral], stdout=subprocess.PIPE, text=True).stdout
guest.check(re.search(r"Type:\s+DYN", hdr) is not None and "PIE" in dyn, "the binary is PIE")
guest.check("GNU_RELRO" in ph and "BIND_NOW" in dyn, "full RELRO (GNU_RELRO and BIND_NOW)")
stack = [l for l in ph.splitlines() if "GNU_STACK" in l]
guest.check(stack and " RWE " not in stack[0], "no executable stack")
guest.check("__stack_chk_fail" in syms, "stack protector")
guest.check("_chk" in syms.replace("__stack_chk_fail", ""), "FORTIFY_SOURCE checked calls")

# ---- a running VM
a = guest.assets()
d = guest.workdir()
script = r"""#!/bin/sh
printf 'A\033]52;c;Y2xpcGJvYXJk\007B\033]0;owned\007C\033[1mD\033[0m\n'
echo READY
sleep 4
"""
initrd = guest.autorun_initrd(a["CORRAL_INITRD"], script, d)
p = guest.spawn([corral, "run", "--kernel", a["CORRAL_KERNEL"], "--initrd", initrd, "--smp", "2",
                 "--mem", "256M",
                 "--append", "console=ttyS0 quiet"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
out, maps = b"", None
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    r, _, _ = select.select([p.stdout], [], [], 0.5)
    if r:
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            break
        out += chunk
    if maps is None and b"READY" in out:
        maps = open("/proc/%d/maps" % p.pid).read()
p.wait(timeout=60)
text = out.decode("utf-8", "replace")
guest.check(maps is not None, "the guest ran its script")
maps = maps or ""
rwx = [l for l in maps.splitlines() if l.split()[1].startswith("rwx")]
guest.check(not rwx, "no mapping is writable and executable (%s)" % (rwx[:3],))
jit = [l.split()[1] for l in maps.splitlines() if "corral-jit" in l]
guest.check("r-xs" in jit and "rw-s" in jit, "the translator's buffer: one view r-x, one rw- (%s)" % jit)

def regions(text):
    out = []
    for l in text.splitlines():
        f = l.split()
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        out.append((lo, hi, f[1]))
    return out


def guarded(rs, lo, hi):
    """Whether [lo, hi) has PROT_NONE mappings right below and right above it."""
    below = any(b == lo and perm == "---p" for _, b, perm in rs)
    above = any(a == hi and perm == "---p" for a, _, perm in rs)
    return below and above


def merged(rs):
    """Adjacent rw-p mappings as one (guest RAM is three when the kernel's pages are mapped
    from the copy VMs share)."""
    out = []
    for lo, hi, perm in rs:
        if out and perm == "rw-p" and out[-1][2] == "rw-p" and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi, perm)
        else:
            out.append((lo, hi, perm))
    return out


rs = regions(maps)
ram = [(lo, hi) for lo, hi, perm in merged(rs) if perm == "rw-p" and hi - lo == 256 << 20]
guest.check(ram and guarded(rs, *ram[0]), "guest RAM (256 MiB) lies between PROT_NONE guards")
code = [(lo, hi) for lo, hi, perm in rs if perm == "r-xs" and hi - lo == 16 << 20]
guest.check(code and all(guarded(rs, *c) for c in code), "so does the translator's code")
guest.check("AB" in text and "\x1b[1mD" in text, "text and SGR reach the terminal", None)
guest.check("\x1b]52" not in text and "owned" not in text, "OSC 52 and the title are dropped")

# ---- `corral console` filters the same way, and --raw passes everything
h = guest.Home(corral, d)
rc, _, err = h.run("create", "esc", "--kernel", a["CORRAL_KERNEL"], "--initrd", a["CORRAL_INITRD"],
                   "--mem", "128M", "--append", "console=ttyS0 quiet")
guest.check(rc == 0, "a background VM is defined (%s)" % err.strip())
rc, _, err = h.run("start", "esc")
guest.check(rc == 0 and h.wait_console("esc", "corral:~# "), "it starts and reaches its shell (%s)"
            % err.strip())
osc = r"printf 'E\033]52;c;Y2xpcGJvYXJk\007F\n'; echo DONE$((6*7))"
seen = h.console("esc", osc, "DONE42")
guest.check("DONE42" in seen and "EF" in seen and "\x1b]52" not in seen,
            "corral console drops OSC 52 by default")
seen = h.console("esc", osc.replace("DONE", "RAW"), "RAW42", extra=["--raw"])
guest.check("RAW42" in seen and "E\x1b]52;c;Y2xpcGJvYXJk\x07F" in seen,
            "corral console --raw passes it")
rc, _, err = h.run("console", "esc", "--bogus")
guest.check(rc != 0 and "usage" in err, "an unknown console flag is a usage error")
h.run("stop", "esc", "--force")
h.run("rm", "esc")
guest.finish()
