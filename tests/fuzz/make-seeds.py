#!/usr/bin/env python3
"""Seeds for the pipeline fuzz target from the shipped captures (made by the project's
FrameBuilder): each capture as one input of length-prefixed frames, and each frame alone.
Usage: make-seeds.py OUTDIR tests/data/*.pcap"""
import struct, sys, os

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for path in sys.argv[2:]:
    data = open(path, 'rb').read()
    magic = struct.unpack('<I', data[:4])[0]
    end = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
    off, frames = 24, []
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(end + 'IIII', data[off:off + 16])
        frames.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    name = os.path.splitext(os.path.basename(path))[0]
    blob = b''.join(struct.pack('>H', len(f)) + f for f in frames)
    open(os.path.join(out, name + '-all'), 'wb').write(blob)
    for i, f in enumerate(frames):
        open(os.path.join(out, '%s-%02d' % (name, i + 1)), 'wb').write(struct.pack('>H', len(f)) + f)
