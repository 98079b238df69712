"""The user network keeps a guest off the host's loopback: with an HTTP server on the host's
127.0.0.1, `wget http://10.0.2.2:PORT/` fails in a guest started with plain `user` (and
the server sees no request) and works in one started with `user,host=on`. The default
guest still gets its DHCP lease and still serves the host through a hostfwd port."""
import http.server
import os
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
with open(os.path.join(d, "hello"), "w") as f:
    f.write("hello from the host\n")
hits = []


class Quiet(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kw):
        super().__init__(*args, directory=d, **kw)

    def log_message(self, *args):
        hits.append(self.path)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
port = srv.server_address[1]
threading.Thread(target=srv.serve_forever, daemon=True).start()
s = socket.socket()
s.bind(("127.0.0.1", 0))
fwd = s.getsockname()[1]
s.close()

SCRIPT = r"""#!/bin/sh
cat > /tmp/dhcp.sh <<'EOS'
#!/bin/sh
if [ "$1" = bound ]; then
    ip addr add $ip/$mask dev $interface
    ip route add default via $router
    echo "LEASE: $ip"
fi
exit 0
EOS
chmod +x /tmp/dhcp.sh
ip link set eth0 up
udhcpc -i eth0 -n -q -t 5 -s /tmp/dhcp.sh
if wget -q -T 10 -O /tmp/got http://10.0.2.2:%(port)d/hello; then
    echo "WGET-HOST: ok $(cat /tmp/got)"
else
    echo "WGET-HOST: failed"
fi
mkdir -p /tmp/www
echo "hello from the guest" > /tmp/www/index.html
httpd -p 8080 -h /tmp/www
echo READY-FOR-HOST
read answer
""" % {"port": port}


def start(name, net):
    sub = os.path.join(d, name)
    os.makedirs(sub)
    initrd = guest.autorun_initrd(a["CORRAL_INITRD"], SCRIPT, sub)
    p = guest.spawn([corral, "run", "--kernel", a["CORRAL_KERNEL"], "--initrd", initrd,
                     "--mem", "256M", "--append", "console=ttyS0 quiet", "--net", net],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = []
    threading.Thread(target=lambda: [out.append(c) for c in iter(
        lambda: os.read(p.stdout.fileno(), 65536), b"")], daemon=True).start()
    return p, out


def text(out):
    return b"".join(out).decode("utf-8", "replace")


def wait_for(out, marker, until):
    while time.monotonic() < until and marker not in text(out):
        time.sleep(0.2)
    return marker in text(out)


deadline = time.monotonic() + 400
# one after the other: they share the host's 127.0.0.1 server, whose log tells who got in
p, out = start("default", "user,hostfwd=tcp:127.0.0.1:%d-:8080" % fwd)
ready = wait_for(out, "READY-FOR-HOST", deadline)
guest.check("LEASE: 10.0.2.15" in text(out), "the default guest gets its DHCP lease")
guest.check("WGET-HOST: failed" in text(out) and not hits,
            "by default the guest cannot reach a server on the host's 127.0.0.1 (requests: %s)" % hits)
got = None
if ready:
    try:
        got = urllib.request.urlopen("http://127.0.0.1:%d/" % fwd, timeout=60).read()
    except OSError as e:
        print("host fetch failed: %s" % e)
guest.check(got == b"hello from the guest\n", "hostfwd still brings the host to the guest")
p.stdin.write(b"finished\n")
p.stdin.flush()
rc = p.wait(120)
guest.check(rc == 0, "the default guest powers off and corral exits 0 (rc=%d)" % rc)
if guest._failures:
    print(text(out)[-3000:])

p, out = start("host-on", "user,host=on")
wait_for(out, "READY-FOR-HOST", deadline)
guest.check("WGET-HOST: ok hello from the host" in text(out) and hits == ["/hello"],
            "with host=on the guest reaches the host's 127.0.0.1 (requests: %s)" % hits)
p.stdin.write(b"finished\n")
p.stdin.flush()
rc = p.wait(120)
guest.check(rc == 0, "the host=on guest powers off and corral exits 0 (rc=%d)" % rc)
if guest._failures:
    print(text(out)[-3000:])
srv.shutdown()
guest.finish()
