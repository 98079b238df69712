"""Drive the interactive console through a pseudo-terminal: wait for the shell prompt,
type commands, read the answers, use the Ctrl-A escapes, and check that corral puts the
terminal back the way it found it."""
import os
import pty
import select
import sys
import termios
import time
import guest

corral = sys.argv[1]
a = guest.assets()

master, slave = pty.openpty()
before = termios.tcgetattr(slave)
pid = os.fork()
if pid == 0:
    os.setsid()
    os.dup2(slave, 0)
    os.dup2(slave, 1)
    os.dup2(slave, 2)
    os.close(master)
    os.execv(corral, [corral, "run", "--kernel", a["CORRAL_KERNEL"], "--initrd",
                      a["CORRAL_INITRD"], "--mem", "256M", "--append", "console=ttyS0 quiet"])
    os._exit(127)

out = bytearray()


def expect(pattern, timeout):
    """Read until PATTERN (bytes) shows up after everything read so far; True if it did."""
    start = len(out)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.find(pattern, start) >= 0:
            return True
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                out.extend(os.read(master, 4096))
            except OSError:
                break
    return out.find(pattern, start) >= 0


def show():
    print("---- terminal output (tail) ----")
    print(out[-1500:].decode("utf-8", "replace"))
    print("----")


ok = expect(b"corral:~# ", 180)
guest.check(ok, "the shell prompt appears on the terminal")
raw = termios.tcgetattr(slave)
guest.check(not (raw[3] & termios.ICANON) and not (raw[3] & termios.ECHO),
            "corral puts the terminal in raw mode while the guest runs")
os.write(master, b"echo $((6*7))answer\r")
ok = expect(b"42answer", 30)
guest.check(ok, "a typed command is answered")
os.write(master, b"cat /proc/version\r")
ok = expect(b"Linux version", 30)
guest.check(ok, "a second command is answered")
os.write(master, b"\x01h")
ok = expect(b"Ctrl-A", 10)
guest.check(ok, "Ctrl-A h prints the escape help")
os.write(master, b"\x03")  # Ctrl-C goes to the guest, not to corral
time.sleep(0.5)
os.write(master, b"echo still-$((1+1))\r")
ok = expect(b"still-2", 30)
guest.check(ok, "Ctrl-C reaches the guest and corral keeps running")
os.write(master, b"\x01x")
deadline = time.monotonic() + 20
status = None
while time.monotonic() < deadline:
    p, st = os.waitpid(pid, os.WNOHANG)
    if p:
        status = st
        break
    r, _, _ = select.select([master], [], [], 0.2)
    if r:
        try:
            out.extend(os.read(master, 4096))
        except OSError:
            pass
guest.check(status is not None, "Ctrl-A x ends corral")
if status is None:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
else:
    guest.check(os.WIFEXITED(status), "corral exits normally on Ctrl-A x (status %r)" % status)
after = termios.tcgetattr(slave)
guest.check(after == before, "the terminal settings are restored on exit")
if guest._failures:
    show()
guest.finish()
