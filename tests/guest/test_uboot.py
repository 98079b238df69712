"""Boot Debian's U-Boot (qemu-riscv64_smode) on the built-in SBI: it reaches its prompt,
answers `version`, and `poweroff` ends corral with status 0."""
import os
import select
import subprocess
import sys
import time
import guest

corral = sys.argv[1]
a = guest.assets()
uboot = a["CORRAL_UBOOT"]
guest.check(os.path.exists(uboot), "U-Boot is installed at %s" % uboot)
p = guest.spawn([corral, "run", "--kernel", uboot, "--mem", "256M"], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
out = bytearray()


def expect(pattern, timeout):
    start = len(out)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and out.find(pattern, start) < 0:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                break
            out.extend(chunk)
    return out.find(pattern, start) >= 0


# Stop autoboot as soon as U-Boot offers, then use the prompt.
ok = expect(b"Hit any key to stop autoboot", 60)
guest.check(ok, "U-Boot starts and offers to stop autoboot")
p.stdin.write(b" ")
p.stdin.flush()
ok = expect(b"=> ", 30)
guest.check(ok, "U-Boot reaches its prompt")
p.stdin.write(b"version\r")
p.stdin.flush()
ok = expect(b"U-Boot 20", 30)
guest.check(ok, "U-Boot answers version")
p.stdin.write(b"poweroff\r")
p.stdin.flush()
try:
    rc = p.wait(30)
except subprocess.TimeoutExpired:
    p.kill()
    rc = p.wait()
guest.check(rc == 0, "U-Boot's poweroff ends corral with status 0 (rc=%d)" % rc)
if guest._failures:
    print(out[-2000:].decode("utf-8", "replace"))
guest.finish()
