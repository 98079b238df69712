"""A tap NIC: corral runs in its own network namespace with a tap device bridged to
nothing but the namespace's own stack; guest and namespace ping each other and move a
file over TCP. The test fails (it does not skip) when the machine cannot create taps."""
import os
import subprocess
import sys
import time
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
ns = "corral-test-%d" % os.getpid()


def sh(cmd, check=True):
    r = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and r.returncode:
        print("command failed: %s\n%s" % (cmd, r.stdout))
    return r.returncode == 0


ok = os.path.exists("/dev/net/tun") and sh("ip netns add %s" % ns)
guest.check(ok, "a network namespace can be made and /dev/net/tun exists (needs root)")
if not ok:
    guest.finish()
try:
    ok = sh("ip netns exec %s ip tuntap add dev ctap0 mode tap" % ns) and \
        sh("ip netns exec %s ip addr add 192.168.77.1/24 dev ctap0" % ns) and \
        sh("ip netns exec %s ip link set ctap0 up" % ns) and \
        sh("ip netns exec %s ip link set lo up" % ns)
    guest.check(ok, "the tap device is set up in the namespace")
    blob = os.urandom(1 << 20)
    with open(os.path.join(d, "blob"), "wb") as f:
        f.write(blob)
    srv = guest.spawn(["ip", "netns", "exec", ns, "python3", "-m", "http.server", "8000",
                            "--bind", "192.168.77.1", "--directory", d],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    script = r"""#!/bin/sh
ip link set eth0 up
ip addr add 192.168.77.2/24 dev eth0
ping -c 3 -W 5 192.168.77.1 > /tmp/ping.txt 2>&1 && echo "PING: ok" || cat /tmp/ping.txt
echo "GET: $(wget -q -O - http://192.168.77.1:8000/blob | md5sum | cut -d' ' -f1)"
echo "MAC: $(cat /sys/class/net/eth0/address)"
"""
    initrd = guest.autorun_initrd(a["CORRAL_INITRD"], script, d)
    r = guest.run(["ip", "netns", "exec", ns, corral, "run", "--kernel", a["CORRAL_KERNEL"],
                   "--initrd", initrd, "--append", "console=ttyS0 quiet",
                   "--net", "tap,ifname=ctap0,mac=52:54:00:aa:bb:cc"], timeout=300)
    srv.kill()
    srv.wait()
    import hashlib
    guest.check(r.rc == 0, "corral exits 0 (rc=%d)" % r.rc, r)
    guest.check("PING: ok" in r.text, "the guest pings the host side of the tap", r)
    guest.check(("GET: " + hashlib.md5(blob).hexdigest()) in r.text,
                "1 MiB fetched over TCP through the tap arrives intact", r)
    guest.check("MAC: 52:54:00:aa:bb:cc" in r.text, "the guest NIC has the MAC given with mac=", r)
finally:
    sh("ip netns del %s" % ns, check=False)
guest.finish()
