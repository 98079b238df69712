"""virtio-rng and virtio-console: the guest reads entropy from /dev/hwrng, and talks both
ways over hvc0 on a host pseudo-terminal."""
import os
import re
import select
import subprocess
import sys
import termios
import time
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
script = r"""#!/bin/sh
echo "RNG: $(cat /sys/class/misc/hw_random/rng_current)"
x=$(dd if=/dev/hwrng bs=512 count=8 2>/dev/null | md5sum | cut -d' ' -f1)
y=$(dd if=/dev/hwrng bs=512 count=8 2>/dev/null | md5sum | cut -d' ' -f1)
z=$(dd if=/dev/hwrng bs=512 count=8 2>/dev/null | tr -d '\000' | wc -c)
echo "RNG-DIFFER: $([ "$x" != "$y" ] && echo yes || echo no) nonzero=$z"
# keep hvc0 open for reading before asking the host, so its answer cannot arrive unread
(read -r line < /dev/hvc0; echo "GOT: $line") &
sleep 1
echo "hello-from-hvc $((6*7))" > /dev/hvc0
wait
"""
initrd = guest.autorun_initrd(a["CORRAL_INITRD"], script, d)
p = guest.spawn([corral, "run", "--kernel", a["CORRAL_KERNEL"], "--initrd", initrd, "--rng",
                 "--hvc", "pty", "--append", "console=ttyS0 quiet"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
out, pty_fd, hvc, replied = b"", None, b"", False
deadline = time.monotonic() + 90
while time.monotonic() < deadline and p.poll() is None:
    fds = [p.stdout] + ([pty_fd] if pty_fd is not None else [])
    r, _, _ = select.select(fds, [], [], 0.5)
    if p.stdout in r:
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            break
        out += chunk
        m = re.search(rb"hvc0 is on (/dev/pts/\d+)", out)
        if m and pty_fd is None:
            pty_fd = os.open(m.group(1), os.O_RDWR | os.O_NOCTTY)
            t = termios.tcgetattr(pty_fd)
            t[3] &= ~(termios.ECHO | termios.ICANON)
            termios.tcsetattr(pty_fd, termios.TCSANOW, t)
    if pty_fd is not None and pty_fd in r:
        hvc += os.read(pty_fd, 4096)
        if not replied and b"hello-from-hvc" in hvc and b"\n" in hvc.split(b"hello-from-hvc", 1)[1]:
            replied = True
            try:
                os.write(pty_fd, b"reply-from-host\n")
            except OSError as e:
                print("write to pty failed:", e, "corral alive:", p.poll() is None)
try:
    rc = p.wait(30)
except subprocess.TimeoutExpired:
    p.kill()
    rc = None
text = out.decode("utf-8", "replace")
guest.check(pty_fd is not None, "corral names the pseudo-terminal of hvc0")
guest.check("RNG: virtio_rng.0" in text, "the kernel uses virtio-rng as its hardware RNG")
guest.check("RNG-DIFFER: yes nonzero=" in text and "nonzero=0" not in text,
            "two reads of /dev/hwrng differ and are not zeros")
guest.check(b"hello-from-hvc 42" in hvc, "the guest's hvc0 output reaches the host pty")
guest.check("GOT: reply-from-host" in text, "the host's input reaches the guest through hvc0")
guest.check(rc == 0, "corral exits 0 (rc=%s)" % rc)
if guest._failures:
    print(text[-2000:])
    print(hvc)

# ---- --hvc file: 17 MiB of output leave a file of at most 16 MiB that ends with the last line
path = os.path.join(d, "hvc.out")
chatty = """#!/bin/sh
yes 0123456789abcdef0123456789abcdef0123456789abcdef012345678 | head -c 17825792 > /dev/hvc0
echo LAST-LINE > /dev/hvc0
"""
initrd = guest.autorun_initrd(a["CORRAL_INITRD"], chatty, d)
r = subprocess.run([corral, "run", "--kernel", a["CORRAL_KERNEL"], "--initrd", initrd, "--mem", "256M",
                    "--hvc", "file:" + path, "--append", "console=ttyS0 quiet"],
                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   timeout=300)
size = os.path.getsize(path) if os.path.exists(path) else -1
tail = open(path, "rb").read()[-64:] if size > 0 else b""
guest.check(r.returncode == 0 and 0 < size <= 16 << 20 and b"LAST-LINE" in tail,
            "--hvc file: 17 MiB of guest output leave %d bytes (at most 16 MiB), the last line "
            "kept" % size)
guest.finish()
