"""Guest reboot: without --no-reboot the VM starts again from the top (the kernel boots a
second time); with --no-reboot corral exits 0 when the guest reboots."""
import subprocess
import sys
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
initrd = guest.autorun_initrd(a["CORRAL_INITRD"], "#!/bin/sh\necho REBOOTING\nreboot -f\n", d)
cmd = [corral, "run", "--kernel", a["CORRAL_KERNEL"], "--initrd", initrd, "--mem", "256M",
       "--append", "console=ttyS0"]
r = guest.run(cmd + ["--no-reboot"], timeout=300)
guest.check(r.rc == 0 and "REBOOTING" in r.text, "--no-reboot: corral exits 0 when the guest reboots (rc=%d)" % r.rc, r)
guest.check(r.text.count("Linux version") == 1, "--no-reboot: the kernel booted once", r)

# Without --no-reboot it would reboot forever: stop it once the second boot shows.
p = guest.spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
boots, seen = 0, []
import select, os, time  # noqa: E401
deadline = time.monotonic() + 300
buf = b""
while time.monotonic() < deadline and boots < 2:
    rr, _, _ = select.select([p.stdout], [], [], 1)
    if rr:
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            break
        buf += chunk
        boots = buf.count(b"Linux version")
p.kill()
p.wait()
guest.check(boots >= 2, "a guest reboot restarts the VM (%d boots seen)" % boots)
guest.finish()
