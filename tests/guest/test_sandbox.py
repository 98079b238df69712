"""The VM process lockdown with real guests: a guest that writes a raw and a qcow2 disk, takes a
DHCP lease and asks user networking's DNS (with a hostfwd port), reads virtio-rng, writes
hvc0 to a file and reboots once runs to a clean poweroff under the sandbox, which proves the
allow-lists hold everything it needs; /proc shows seccomp filtering and no-new-privs while it
runs, and --no-sandbox shows neither."""
import os
import select
import socket
import subprocess
import sys
import time
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()

raw = os.path.join(d, "scratch.raw")
with open(raw, "wb") as f:
    f.truncate(8 << 20)
qcow = os.path.join(d, "scratch.qcow2")
subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", qcow, "16M"], check=True)
hvc = os.path.join(d, "hvc.log")
s = socket.socket()
s.bind(("127.0.0.1", 0))
fwd = s.getsockname()[1]
s.close()

# First boot: write both disks, mark the raw one, reboot. Second boot: see the mark, network,
# entropy, hvc, and power off.
SCRIPT = r"""#!/bin/sh
if [ "$(dd if=/dev/vda bs=6 count=1 2>/dev/null)" != "BOOTED" ]; then
    printf BOOTED | dd of=/dev/vda conv=notrunc 2>/dev/null
    dd if=/dev/urandom of=/dev/vdb bs=64k count=64 2>/dev/null
    sync
    echo "FIRST-BOOT-DONE $(dd if=/dev/vdb bs=64k count=64 2>/dev/null | md5sum | cut -d' ' -f1)"
    reboot -f
fi
echo "SECOND-BOOT"
echo "VDB: $(dd if=/dev/vdb bs=64k count=64 2>/dev/null | md5sum | cut -d' ' -f1)"
cat > /tmp/dhcp.sh <<'EOS'
#!/bin/sh
[ "$1" = bound ] && ip addr add $ip/$mask dev $interface && ip route add default via $router && echo "LEASE: $ip"
exit 0
EOS
chmod +x /tmp/dhcp.sh
ip link set eth0 up
udhcpc -i eth0 -n -q -t 5 -s /tmp/dhcp.sh
timeout 5 nslookup corral.invalid 10.0.2.3 >/dev/null 2>&1; echo "DNS-TRIED"
echo "RNG: $(dd if=/dev/hwrng bs=512 count=4 2>/dev/null | wc -c)"
echo "hello-over-hvc" > /dev/hvc0
dd if=/dev/urandom of=/dev/vda bs=4k seek=1 count=256 2>/dev/null && sync && echo "SYNCED"
echo "ALL-DONE"
"""
initrd = guest.autorun_initrd(a["CORRAL_INITRD"], SCRIPT, d)


def boot(extra):
    cmd = [corral, "run", "--kernel", a["CORRAL_KERNEL"], "--initrd", initrd, "--mem", "512M",
           "--append", "console=ttyS0 quiet", "--disk", raw + ",format=raw",
           "--disk", qcow + ",format=qcow2", "--net", "user,hostfwd=tcp:127.0.0.1:%d-:80" % fwd,
           "--rng", "--hvc", "file:" + hvc] + extra
    p = guest.spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, status, deadline = b"", None, time.monotonic() + 400
    while time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 1)
        if r:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
        if status is None and (b"FIRST-BOOT-DONE" in out or b"SECOND-BOOT" in out):
            try:
                status = open("/proc/%d/status" % p.pid).read()
            except OSError:
                status = ""
    else:
        p.kill()
    rc = p.wait()
    text = out.decode("utf-8", "replace")
    return guest.Run(rc, [(0, l.rstrip("\r")) for l in text.split("\n")], 0), status or ""


r, status = boot([])
guest.check("Seccomp:\t2" in status, "under the sandbox /proc shows seccomp filter mode", r)
guest.check("NoNewPrivs:\t1" in status, "under the sandbox /proc shows no-new-privs", r)
guest.check("forbidden system call" not in r.text, "no system call was refused", r)
guest.check(r.text.count("FIRST-BOOT-DONE") == 1 and "SECOND-BOOT" in r.text,
            "the guest rebooted once", r)
first = [l.split()[1] for _, l in r.lines if l.startswith("FIRST-BOOT-DONE")]
guest.check(bool(first) and ("VDB: " + first[0]) in r.text, "the qcow2 disk kept its data across the reboot", r)
guest.check("LEASE: 10.0.2.15" in r.text, "user networking gives a DHCP lease", r)
guest.check("DNS-TRIED" in r.text, "a DNS query through user networking (libslirp reads the resolver list)", r)
guest.check("RNG: 2048" in r.text, "virtio-rng gives entropy", r)
guest.check("SYNCED" in r.text and "ALL-DONE" in r.text, "disk writes and sync complete", r)
guest.check(r.rc == 0, "corral exits 0 when the guest powers off (rc=%d)" % r.rc, r)
guest.check(os.path.exists(hvc) and "hello-over-hvc" in open(hvc).read(), "hvc0 output reached its file")
with open(raw, "rb") as f:
    guest.check(f.read(6) == b"BOOTED", "the raw disk holds what the guest wrote")

r, status = boot(["--no-sandbox"])
guest.check("Seccomp:\t0" in status and "NoNewPrivs:\t0" in status,
            "with --no-sandbox /proc shows no filter and no no-new-privs", r)
guest.check(r.rc == 0 and "ALL-DONE" in r.text, "with --no-sandbox the same guest runs too", r)
guest.finish()
