#!/usr/bin/env python3
"""Write (and read) cpio archives in the "newc" format the Linux initramfs unpacker reads.

As a program: cpio.py OUT.cpio [--base BASE.cpio] DEST=SRC ...
writes BASE (if given) followed by a second archive holding each SRC file at DEST
(mode 0755), which the kernel unpacks over the first: the way tests add /autorun.
"""
import sys


class Writer:
    def __init__(self):
        self.out = bytearray()
        self.ino = 1

    def _entry(self, name, mode, data=b"", rdev=(0, 0), nlink=1):
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join("%08X" % v for v in (
            self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1],
            len(name_b), 0))
        self.ino += 1
        self.out += hdr.encode() + name_b
        self.out += b"\0" * (-len(self.out) % 4)
        self.out += data
        self.out += b"\0" * (-len(self.out) % 4)

    def add_dir(self, name, mode=0o755):
        self._entry(name, 0o040000 | mode, nlink=2)

    def add_file(self, name, data, mode=0o644):
        self._entry(name, 0o100000 | mode, data)

    def add_symlink(self, name, target):
        self._entry(name, 0o120000 | 0o777, target.encode())

    def add_char_dev(self, name, major, minor, mode=0o600):
        self._entry(name, 0o020000 | mode, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        self.out += b"\0" * (-len(self.out) % 512)
        return bytes(self.out)


def read(data):
    """The members of a "newc" archive (or of several, one after another): {name: (mode,
    data)}; a later member of the same name replaces an earlier one, as in the kernel."""
    out, pos = {}, 0
    while pos + 110 <= len(data):
        if data[pos:pos + 6] != b"070701":
            pos += 4 if data[pos:pos + 4] == b"\0\0\0\0" else len(data)   # padding, or the end
            continue
        mode, size, namesize = (int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in (1, 6, 11))
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        start = pos + 110 + namesize
        start += -start % 4
        pos = start + size + (-(start + size) % 4)
        if name != "TRAILER!!!":
            out[name] = (mode, data[start:start + size])
    return out


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    out, args, base = argv[1], argv[2:], b""
    if args[:1] == ["--base"]:
        if len(args) < 2:
            print("cpio.py: --base needs a file", file=sys.stderr)
            return 2
        base = open(args[1], "rb").read()
        args = args[2:]
    w = Writer()
    for a in args:
        if "=" not in a:
            print("cpio.py: expected DEST=SRC, got %s" % a, file=sys.stderr)
            return 2
        dest, src = a.split("=", 1)
        w.add_file(dest.lstrip("/"), open(src, "rb").read(), 0o755)
    with open(out, "wb") as f:
        f.write(base + w.finish())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
