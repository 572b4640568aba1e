#!/usr/bin/env python3
# The service manager's side of sd_notify for the tests: binds a datagram socket at argv[1]
# and appends every message to argv[2], each followed by a "--" line, until killed.
import socket
import sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        log.write(s.recv(4096).decode() + "\n--\n")
