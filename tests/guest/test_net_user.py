"""User networking through virtio-net and libslirp: the guest gets a DHCP lease, downloads
16 MiB from an HTTP server on the host's loopback (host=on lets it) and checks its SHA256;
then a host client fetches 16 MiB from an HTTP server in the guest through a hostfwd port
and checks it."""
import hashlib
import http.server
import os
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
blob = os.urandom(16 << 20)
want = hashlib.sha256(blob).hexdigest()
with open(os.path.join(d, "blob"), "wb") as f:
    f.write(blob)


class Quiet(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kw):
        super().__init__(*args, directory=d, **kw)

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
port = srv.server_address[1]
threading.Thread(target=srv.serve_forever, daemon=True).start()
s = socket.socket()
s.bind(("127.0.0.1", 0))
fwd = s.getsockname()[1]
s.close()

script = r"""#!/bin/sh
cat > /tmp/dhcp.sh <<'EOS'
#!/bin/sh
if [ "$1" = bound ]; then
    ip addr add $ip/$mask dev $interface
    ip route add default via $router
    echo "LEASE: $ip router $router dns $dns"
fi
exit 0
EOS
chmod +x /tmp/dhcp.sh
ip link set eth0 up
udhcpc -i eth0 -n -q -t 5 -s /tmp/dhcp.sh
t0=$(cut -d' ' -f1 /proc/uptime)
echo "DOWN: $(wget -q -O - http://10.0.2.2:%(port)d/blob | sha256sum | cut -d' ' -f1)"
t1=$(cut -d' ' -f1 /proc/uptime)
awk "BEGIN { print \"DOWN-TIME:\", $t1 - $t0 }"
mkdir -p /tmp/www
dd if=/dev/urandom of=/tmp/www/up bs=1M count=16 2>/dev/null
echo "UP: $(sha256sum /tmp/www/up | cut -d' ' -f1)"
httpd -p 8080 -h /tmp/www
echo READY-FOR-HOST
read answer
echo "HOST-SAID: $answer"
""" % {"port": port}
initrd = guest.autorun_initrd(a["CORRAL_INITRD"], script, d)
p = guest.spawn([corral, "run", "--kernel", a["CORRAL_KERNEL"], "--initrd", initrd,
                      "--mem", "512M", "--append", "console=ttyS0 quiet",
                      "--net", "user,host=on,hostfwd=tcp:127.0.0.1:%d-:8080" % fwd],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
out = b""
deadline = time.monotonic() + 400


def read_until(marker):
    global out
    while marker not in out and time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 1)
        if r:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
    return marker in out


ready = read_until(b"READY-FOR-HOST")
text = out.decode("utf-8", "replace")
guest.check("LEASE: 10.0.2.15 router 10.0.2.2 dns 10.0.2.3" in text, "the guest gets a DHCP lease")
guest.check(("DOWN: " + want) in text, "16 MiB downloaded from the host arrive intact")
guest.check(ready, "the guest serves its file")
up_sha, got = None, None
for line in text.splitlines():
    if line.startswith("UP: "):
        up_sha = line[4:].strip()
if ready:
    t0 = time.monotonic()
    try:
        got = urllib.request.urlopen("http://127.0.0.1:%d/up" % fwd, timeout=120).read()
    except OSError as e:
        print("host fetch failed: %s" % e)
    dt = time.monotonic() - t0
    guest.check(got is not None and len(got) == 16 << 20 and hashlib.sha256(got).hexdigest() == up_sha,
                "16 MiB fetched from the guest through hostfwd arrive intact")
    if got:
        print("guest -> host: %.1f MiB/s" % (16 / dt))
    p.stdin.write(b"finished\n")
    p.stdin.flush()
read_until(b"reboot: Power down")
try:
    rc = p.wait(60)
except subprocess.TimeoutExpired:
    p.kill()
    rc = p.wait()
text = out.decode("utf-8", "replace")
for line in text.splitlines():
    if line.startswith("DOWN-TIME:"):
        secs = float(line.split()[1])
        print("host -> guest: %.1f MiB/s" % (16 / secs if secs > 0 else 0))
guest.check("HOST-SAID: finished" in text and rc == 0, "the guest powers off and corral exits 0 (rc=%d)" % rc)
if guest._failures:
    print(text[-3000:])
srv.shutdown()
guest.finish()
