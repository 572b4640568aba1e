#!/usr/bin/env python3
# A stalled worker for the watchdog tests: stops ONE thread of a running process (argv[1]:
# its tid) with PTRACE_SEIZE + PTRACE_INTERRUPT, leaving the others running, prints
# "stopped TID" once it is, and keeps it stopped until it dies (its process is killed) or
# this helper is (the kernel then detaches, and the thread runs on). The thread does not
# beat, exactly as a worker stuck in a loop or blocked would not.
import ctypes
import os
import sys

PTRACE_SEIZE, PTRACE_INTERRUPT = 0x4206, 0x4207
WALL = 0x40000000  # __WALL: wait for a thread of another process too

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
tid = int(sys.argv[1])
for req in (PTRACE_SEIZE, PTRACE_INTERRUPT):
    if libc.ptrace(req, tid, None, None) != 0:
        sys.exit(f"stop-thread: ptrace({req:#x}, {tid}): {os.strerror(ctypes.get_errno())}")
_, status = os.waitpid(tid, WALL)
if not os.WIFSTOPPED(status):
    sys.exit(f"stop-thread: {tid} did not stop (wait status {status:#x})")
print(f"stopped {tid}", flush=True)
# Never resumed: every further stop (a signal for this thread) is left as it is. Returns when
# the thread exits (SIGKILL ends a traced thread too).
while True:
    try:
        _, status = os.waitpid(tid, WALL)
    except ChildProcessError:
        break
    if os.WIFEXITED(status) or os.WIFSIGNALED(status):
        break
