# SPDX-License-Identifier: BSD-3-Clause
"""The test host's end of a guest's TCP transfer in the e2e tests.

usage: python3 tcpsink.py ADDRESS PORT TIMEOUT

Accepts one connection on ADDRESS:PORT (waiting TIMEOUT seconds at
most), reads it to its end and prints "<bytes> <md5>", which the test
compares with what the guest says it sent.
"""
import hashlib
import socket
import sys


def main():
    addr, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(1)
    s.settimeout(timeout)
    c, _ = s.accept()
    h, n = hashlib.md5(), 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        h.update(b)
        n += len(b)
    print(n, h.hexdigest())


if __name__ == "__main__":
    main()
