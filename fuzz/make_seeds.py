"""Writes the seed corpus of fuzz target checkpoint_reader into seeds/checkpoint_reader/ (run from fuzz/).

Seeds match the fuzz target's fixture graph (v [2,3] f32, s/h [4] f16, s/b [3] bool,
s/i [] i32, p [5,2] f32 in 3 shards), so mutations start from inputs that reach the
planning and value-extraction code.
"""
import json, os, struct

M = (1 << 64) - 1
P1, P2, P3, P4, P5 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5
rotl = lambda x, r: ((x << r) | (x >> (64 - r))) & M
def rnd(acc, x): return (rotl((acc + x * P2) & M, 31) * P1) & M
def merge(acc, v): return (((acc ^ rnd(0, v)) * P1) + P4) & M
def xxh64(b):
    n, i = len(b), 0
    if n >= 32:
        v = [(P1 + P2) & M, P2, 0, (-P1) & M]
        while n - i >= 32:
            for k in range(4):
                v[k] = rnd(v[k], struct.unpack_from('<Q', b, i + 8 * k)[0])
            i += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M
        for x in v: h = merge(h, x)
    else:
        h = P5
    h = (h + n) & M
    while n - i >= 8:
        h ^= rnd(0, struct.unpack_from('<Q', b, i)[0]); h = (rotl(h, 27) * P1 + P4) & M; i += 8
    if n - i >= 4:
        h ^= (struct.unpack_from('<I', b, i)[0] * P1) & M; h = (rotl(h, 23) * P2 + P3) & M; i += 4
    while i < n:
        h ^= (b[i] * P5) & M; h = (rotl(h, 11) * P1) & M; i += 1
    h ^= h >> 33; h = (h * P2) & M; h ^= h >> 29; h = (h * P3) & M; h ^= h >> 32
    return h
assert xxh64(b"abc") == 0x44BC2CF5AD770999

SEEDS = os.path.join("seeds", "checkpoint_reader")

TENSORS = [
    ("v", "F32", "float32", [2, 3], struct.pack('<6f', *[0.5 * i for i in range(6)])),
    ("s/h", "F16", "float16", [4], struct.pack('<4e', 1.0, -2.0, 0.5, 3.0)),
    ("s/b", "BOOL", "bool", [3], bytes([1, 0, 1])),
    ("s/i", "I32", "int32", [], struct.pack('<i', -7)),
    ("p", "F32", "float32", [5, 2], struct.pack('<10f', *range(10))),
]

def write(name, tensors, varscope, extra_meta=None):
    header, off, data, meta = {}, 0, b"", dict(extra_meta or {})
    if varscope:
        meta.update({"varscope.format_version": "1", "varscope.graph_seed": "42", "varscope.checksum": "xxh64"})
    for (n, code, tf, shape, b) in tensors:
        header[n] = {"dtype": code, "shape": shape, "data_offsets": [off, off + len(b)]}
        off += len(b); data += b
        if varscope:
            meta["dtype:" + n] = tf
            meta["checksum:" + n] = "xxh64:%016x" % xxh64(b)
            if n == "p":
                meta["partitioning:p"] = "axis:0;shards:2;offsets:0,3"
    if meta:
        header = {"__metadata__": meta, **header}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(SEEDS, name), "wb") as f:
        f.write(struct.pack('<Q', len(h)) + h + data)

os.makedirs(SEEDS, exist_ok=True)
write("varscope_all", TENSORS, True)
write("foreign_all", TENSORS, False, {"format": "pt"})
write("varscope_renamed", [("old/" + t[0], *t[1:]) for t in TENSORS], True)
write("foreign_bf16", [("v", "BF16", "bfloat16", [2, 3], struct.pack('<6H', *range(0x3f80, 0x3f86)))], False)
write("empty", [], False)
