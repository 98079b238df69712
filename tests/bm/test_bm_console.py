"""Console input on corral-bm: bytes typed on the machine's UART reach the focused VM's
emulated UART (physical UART interrupt -> the machine's PLIC -> the input hart -> the VM's
ns16550a model -> its virtual PLIC -> hvip.VSEIP), where a Debian-kernel guest reads a line
from its console. Ctrl-] n moves the focus to VM n; a key for no VM is ignored."""
import os
import select
import subprocess
import sys
import time

import bm

SRC = os.environ.get("CORRAL_SRC") or \
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools"))
sys.path.insert(0, os.path.join(SRC, "tests", "guest"))
import cpio  # noqa: E402
import guest  # noqa: E402

bmdir = sys.argv[1]
a = guest.assets()
d = bm.workdir()
AUTORUN = r"""#!/bin/sh
echo READY
read line
echo "GOT <$line>"
"""
w = cpio.Writer()
w.add_file("autorun", AUTORUN.encode(), 0o755)
initrd = os.path.join(d, "initrd.cpio")
with open(initrd, "wb") as f:
    f.write(open(a["CORRAL_INITRD"], "rb").read() + w.finish())

cmd = ["nice", os.path.join(SRC, "tools", "bm-run"), "--image", os.path.join(bmdir, "corral-bm"),
       "--mem", "1G", "--timeout", "600", "--vm",
       "kernel=%s,initrd=%s,mem=160M,append=console=ttyS0 quiet" % (a["CORRAL_KERNEL"], initrd)]
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
out, sent = b"", False
deadline = time.monotonic() + 700
while time.monotonic() < deadline:
    r, _, _ = select.select([p.stdout], [], [], 5)
    if not r:
        continue
    chunk = os.read(p.stdout.fileno(), 65536)
    if not chunk:
        break
    out += chunk
    if not sent and b"vm0| READY" in out:
        sent = True
        time.sleep(0.5)
        # no VM 7: ignored; then the focus to vm0 (where it is), then the line
        p.stdin.write(b"\x1d7\x1d0hello corral\n")
        p.stdin.flush()
if p.poll() is None:
    p.kill()
rc = p.wait()
text = out.decode(errors="replace").replace("\r", "")
bm.check(sent, "the guest asked for input", text)
bm.check("corral-bm: console input to vm vm0" in text, "Ctrl-] 0 gives the input to vm0", text)
bm.check("console input to vm vm7" not in text and "vm0| GOT <7" not in text,
         "Ctrl-] 7 (no such VM) is swallowed", text)
bm.check("vm0| GOT <hello corral>" in text, "the typed line reached the guest's shell", text)
bm.check(rc == 0 and "vm vm0: powered off (code 0)" in text,
         "the guest powers off (rc=%s)" % rc, text)
bm.finish()
