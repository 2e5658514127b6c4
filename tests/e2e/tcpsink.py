# SPDX-License-Identifier: BSD-3-Clause
"""The test host's end of a guest's TCP transfer in the e2e tests.

usage: python3 tcpsink.py ADDRESS PORT TIMEOUT [PROGRESS]

Accepts one connection on ADDRESS:PORT (waiting TIMEOUT seconds at
most), reads it to its end and prints "<bytes> <md5>", which the test
compares with what the guest says it sent.  With PROGRESS, the bytes
received so far are written to that file after every 64 KiB, so a test
can tell how much of the stream crossed during some phase of its own.
"""
import hashlib
import os
import socket
import sys


def note(path, n):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % n)
    os.replace(tmp, path)


def main():
    addr, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    progress = sys.argv[4] if len(sys.argv) > 4 else None
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(1)
    s.settimeout(timeout)
    c, _ = s.accept()
    c.settimeout(None)
    h, n, noted = hashlib.md5(), 0, 0
    if progress:
        note(progress, 0)
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        h.update(b)
        n += len(b)
        if progress and n - noted >= 1 << 16:
            note(progress, n)
            noted = n
    if progress:
        note(progress, n)
    print(n, h.hexdigest())


if __name__ == "__main__":
    main()
