"""Two guests on one switch (--net switch=t): static addresses, ping each way,
16 MiB through busybox nc with matching MD5s, and the rate. A third guest, on another
switch, reaches neither of them and sees none of their traffic."""
import os
import select
import shutil
import subprocess
import sys
import threading
import time
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
SIZE = 16 << 20

# Receiver: listens, waits for all 16 MiB, reports MD5 and the time from first to last byte.
RECEIVER = r"""#!/bin/sh
ip addr add 192.168.77.1/24 dev eth0
ip link set eth0 up
# a background job's stdin is /dev/null, and busybox nc gives up on a stdin at its end
sleep 100000 | nc -l -p 5000 > /tmp/recv &
echo LISTENING
t0=
while :; do
    n=$(stat -c %%s /tmp/recv 2>/dev/null || echo 0)
    [ -z "$t0" ] && [ "$n" -gt 0 ] && t0=$(cut -d' ' -f1 /proc/uptime)
    [ "$n" -ge %(size)d ] && break
    sleep 0.1
done
t1=$(cut -d' ' -f1 /proc/uptime)
echo "RECV-MD5: $(md5sum < /tmp/recv | cut -d' ' -f1)"
awk "BEGIN { print \"RECV-TIME:\", $t1 - $t0 }"
ping -c 3 -W 2 192.168.77.2 > /tmp/ping && echo "PING-BACK-OK"
tail -1 /tmp/ping
echo "RX-BYTES: $(cat /sys/class/net/eth0/statistics/rx_bytes)"
read answer
""" % {"size": SIZE}

# Sender: makes the file, pings the receiver until it answers, then sends when told.
SENDER = r"""#!/bin/sh
ip addr add 192.168.77.2/24 dev eth0
ip link set eth0 up
dd if=/dev/urandom of=/tmp/blob bs=1M count=16 2>/dev/null
echo "SENT-MD5: $(md5sum < /tmp/blob | cut -d' ' -f1)"
i=0
until ping -c 1 -W 1 192.168.77.1 > /dev/null; do
    i=$((i + 1))
    [ $i -ge 60 ] && break
done
ping -c 3 -W 2 192.168.77.1 > /tmp/ping && echo "PING-OK"
tail -1 /tmp/ping
echo READY
read answer
nc 192.168.77.1 5000 < /tmp/blob &
read answer
"""

# On another switch: the same subnet, and nobody there.
STRANGER = r"""#!/bin/sh
ip addr add 192.168.77.3/24 dev eth0
ip link set eth0 up
echo STRANGER-UP
read answer
ping -c 2 -W 1 192.168.77.1 > /dev/null 2>&1 && echo "STRANGER-REACHED" || echo "STRANGER-ALONE"
echo "STRANGER-RX: $(cat /sys/class/net/eth0/statistics/rx_packets)"
read answer
"""


class Guest:
    def __init__(self, name, script, net):
        initrd = guest.autorun_initrd(a["CORRAL_INITRD"], script, os.path.join(d, name))
        self.p = guest.spawn([corral, "run", "--kernel", a["CORRAL_KERNEL"], "--initrd", initrd,
                              "--mem", "256M", "--append", "console=ttyS0 quiet", "--net", net],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        self.out = b""
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                return
            with self.lock:
                self.out += chunk

    def text(self):
        with self.lock:
            return self.out.decode("utf-8", "replace")

    def wait_for(self, marker, until):
        while time.monotonic() < until:
            if marker in self.text():
                return True
            time.sleep(0.2)
        return False

    def value(self, prefix):
        for line in self.text().splitlines():
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        return None

    def say(self, line):
        try:
            self.p.stdin.write(line.encode() + b"\n")
            self.p.stdin.flush()
        except OSError:
            pass

    def finish(self):
        self.say("finished")
        try:
            return self.p.wait(60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return self.p.wait()


for name in ("recv", "send", "stranger"):
    os.makedirs(os.path.join(d, name), exist_ok=True)
# switches live in $CORRAL_HOME/switches/NAME
os.environ["CORRAL_HOME"] = os.path.join(d, "home")
sw_t, sw_u = os.path.join(d, "home", "switches", "t"), os.path.join(d, "home", "switches", "u")
recv = Guest("recv", RECEIVER, "switch=t")
send = Guest("send", SENDER, "switch=t")
stranger = Guest("stranger", STRANGER, "switch=u")
deadline = time.monotonic() + 600

ready = recv.wait_for("LISTENING", deadline) and send.wait_for("READY", deadline)
guest.check(ready, "both guests come up on switch t")
guest.check("PING-OK" in send.text(), "the sender pings the receiver over the switch (%s)"
            % (send.value("round-trip") or "no reply"))
guest.check(stranger.wait_for("STRANGER-UP", deadline), "the third guest comes up on switch u")
socks = sorted(os.listdir(sw_t)) if os.path.isdir(sw_t) else []
guest.check(len(socks) == 2 and all(s.endswith(".sock") for s in socks),
            "switch t's directory holds one socket per port (%s)" % socks)
guest.check(os.path.isdir(sw_t) and (os.stat(sw_t).st_mode & 0o777) == 0o700,
            "switch t's directory is made with mode 0700")

send.say("go")
stranger.say("go")
got = recv.wait_for("RECV-TIME:", deadline)
want, have = send.value("SENT-MD5:"), recv.value("RECV-MD5:")
guest.check(got and want is not None and want == have,
            "16 MiB cross the switch intact (sent %s, received %s)" % (want, have))
secs = float(recv.value("RECV-TIME:") or 0)
if got and secs > 0:
    print("switch throughput: %.1f MiB/s (16 MiB in %.2f s)" % (16 / secs, secs))
recv.wait_for("RX-BYTES:", deadline)
guest.check("PING-BACK-OK" in recv.text(), "the receiver pings the sender back")
stranger.wait_for("STRANGER-RX:", deadline)
guest.check("STRANGER-ALONE" in stranger.text(), "a guest on switch u cannot reach switch t")
rx = int(stranger.value("STRANGER-RX:") or -1)
guest.check(0 <= rx < 50, "the guest on switch u received (almost) nothing: %d packets" % rx)

rcs = [g.finish() for g in (send, recv, stranger)]
guest.check(rcs == [0, 0, 0], "the guests power off and corral exits 0 (%s)" % rcs)
left = os.listdir(sw_t) if os.path.isdir(sw_t) else []
guest.check(left == [], "the ports' sockets are gone once the VMs exit (%s)" % left)
if guest._failures:
    for g, n in ((recv, "receiver"), (send, "sender"), (stranger, "stranger")):
        print("---- %s ----\n%s" % (n, g.text()[-2500:]))
shutil.rmtree(os.path.join(d, "sw"), ignore_errors=True)
guest.finish()
