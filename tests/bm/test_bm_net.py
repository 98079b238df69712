"""Guest networks on corral-bm: two Debian-kernel guests on the hypervisor's switch "lan"
(the shared virtio-net model over core/netswitch.c) find each other by ARP, ping, and move
8 MiB over TCP, checked by md5; a third guest, on a switch of its own, receives none of it
and cannot reach them. Then the machine's own NIC (QEMU's user network, through corral-bm's
virtio-net driver) joins a switch as its uplink, and a guest on that switch pings the
gateway and downloads a file from an HTTP server on the host's loopback."""
import functools
import hashlib
import http.server
import threading
import os
import re
import subprocess
import sys

import bm
from bm import SRC
import guest  # noqa: E402  (bm puts it on the path)

image = os.path.join(sys.argv[1], "corral-bm")
a = guest.assets()
d = bm.workdir()

RECV = r"""#!/bin/sh
ip addr add 10.9.0.1/24 dev eth0 && ip link set eth0 up
echo "RESULT mac $(cat /sys/class/net/eth0/address)"
nc -l -p 5000 > /tmp/got
echo "RESULT got $(wc -c < /tmp/got) $(md5sum /tmp/got | cut -c1-32)"
"""
SEND = r"""#!/bin/sh
ip addr add 10.9.0.2/24 dev eth0 && ip link set eth0 up
echo "RESULT mac $(cat /sys/class/net/eth0/address)"
dd if=/dev/urandom of=/tmp/data bs=1M count=8 2>/dev/null
echo "RESULT sent $(md5sum /tmp/data | cut -c1-32)"
sleep 3   # the receiver is listening by then
ping -c 2 -W 5 10.9.0.1 | grep -o '[0-9]* packets received'
n=0; until nc 10.9.0.1 5000 < /tmp/data; do n=$((n+1)); [ $n -lt 5 ] || break; sleep 2; done
echo "RESULT nc-tries=$n"
"""
ALONE = r"""#!/bin/sh
ip addr add 10.9.0.3/24 dev eth0 && ip link set eth0 up
ping -c 3 -W 2 10.9.0.1 | grep -o '[0-9]* packets received'
sleep 30   # through the others' transfer
echo "RESULT alone rx_packets=$(cat /sys/class/net/eth0/statistics/rx_packets)"
"""


def initrd(name, script):
    return guest.autorun_initrd(a["CORRAL_INITRD"], script, d, name + ".cpio")


k = a["CORRAL_KERNEL"]
cmd = ["nice", os.path.join(SRC, "tools", "bm-run"), "--image", image, "--smp", "2",
       "--mem", "1G", "--timeout", "800"]
for script, net in ((RECV, "lan"), (SEND, "lan"), (ALONE, "other")):
    cmd += ["--vm", "kernel=%s,initrd=%s,mem=128M,net=%s,append=console=ttyS0 quiet"
            % (k, initrd(net + str(len(cmd)), script), net)]
r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   timeout=900)
out = r.stdout.decode(errors="replace").replace("\r", "")
bm.check(r.returncode == 0, "bm-run exits 0: all three guests powered off with 0 (rc=%d)"
         % r.returncode, out)
macs = re.findall(r"vm[01]\| RESULT mac ([0-9a-f:]{17})", out)
bm.check(len(macs) == 2 and macs[0] != macs[1], "each NIC has its own MAC (%s)" % macs, out)
sent = re.search(r"vm1\| RESULT sent ([0-9a-f]{32})", out)
got = re.search(r"vm0\| RESULT got (\d+) ([0-9a-f]{32})", out)
bm.check("vm1| 2 packets received" in out, "ping over the switch: 2 of 2 answered", out)
bm.check(sent and got and got.group(1) == str(8 << 20) and got.group(2) == sent.group(1),
         "8 MiB over TCP from vm1 to vm0, md5 equal", out)
bm.check("vm2| 0 packets received" in out, "the guest on another switch cannot reach them", out)
bm.check("vm2| RESULT alone rx_packets=0" in out, "and receives none of their frames", out)

# The uplink: a real peer on the host, through QEMU's user network.
www = os.path.join(d, "www")
os.makedirs(www)
blob = os.urandom(3 << 20)
open(os.path.join(www, "blob"), "wb").write(blob)
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=www)
handler.log_message = lambda *args: None
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
UP = r"""#!/bin/sh
ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up && ip route add default via 10.0.2.2
ping -c 2 -W 3 10.0.2.2 | grep -o '[0-9]* packets received'
echo "RESULT wget $(wget -q -O - http://10.0.2.2:%d/blob | md5sum | cut -c1-32)"
""" % server.server_address[1]
cmd = ["nice", os.path.join(SRC, "tools", "bm-run"), "--image", image, "--smp", "2",
       "--mem", "1G", "--timeout", "400", "--uplink", "lan",
       "--vm", "kernel=%s,initrd=%s,mem=128M,net=lan,append=console=ttyS0 quiet"
       % (k, initrd("uplink", UP))]
r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   timeout=500)
server.shutdown()
out = r.stdout.decode(errors="replace").replace("\r", "")
bm.check(r.returncode == 0, "uplink: the guest powers off with 0 (rc=%d)" % r.returncode, out)
bm.check(re.search(r"corral-bm: uplink: switch lan on virtio-net at 0x[0-9a-f]+", out),
         "uplink: the machine's NIC joins switch lan", out)
bm.check("vm0| 2 packets received" in out, "uplink: the gateway answers pings", out)
bm.check("vm0| RESULT wget %s" % hashlib.md5(blob).hexdigest() in out,
         "uplink: 3 MiB from the host's HTTP server, md5 equal", out)
bm.finish()
