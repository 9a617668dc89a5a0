#!/usr/bin/env python3
"""Derives the constants of varscope's truncated normal (core/src/random.rs,
`truncated_unit`; shaders/philox.wgsl, `truncated_unit`) and checks them.

z = x * P(y), x = s * E, y = -ln((1 - x)(1 + x)) - 1.25, s uniform in (-1, 1):
E is erf(sqrt 2) rounded down to f32 and P (degree 6) approximates
sqrt(2) * erfinv(x) / x as a function of y, fitted by iteratively reweighted least
squares on the relative error. Prints the f32 bit patterns and, emulating the f32
evaluation over every one of the 2^23 positive inputs (numpy's log stands in for the
Cephes log of the real code), the largest relative error and the largest z.

Needs numpy, scipy and mpmath (a virtual environment; never needed by `cargo test`):
    python3 -m venv /tmp/fit && /tmp/fit/bin/pip install numpy scipy mpmath
    /tmp/fit/bin/python scripts/fit_truncated_normal.py
"""
import mpmath as mp
import numpy as np
from scipy.special import erfinv

DEGREE = 6
CENTER = 1.25
mp.mp.dps = 40

bound = mp.erf(mp.sqrt(2))
E = np.float32(float(bound))
if float(E) > bound:
    E = np.nextafter(E, np.float32(0))
w_max = float(-mp.log(1 - mp.mpf(float(E)) ** 2))


def target(w):
    """sqrt(2) erfinv(x) / x at w = -ln(1 - x^2)."""
    if w == 0:
        return float(mp.sqrt(2) * mp.sqrt(mp.pi) / 2)
    x = mp.sqrt(1 - mp.exp(-mp.mpf(w)))
    return float(mp.sqrt(2) * mp.erfinv(x) / x)


ws = np.linspace(0.0, w_max, 4000)
fs = np.array([target(w) for w in ws])
V = np.vander(ws - CENTER, DEGREE + 1)
weight = 1 / fs
coef = np.linalg.lstsq(V * weight[:, None], fs * weight, rcond=None)[0]
for _ in range(30):
    err = np.abs(V @ coef - fs) / fs
    weight = weight * (1 + 30 * err / err.max())
    coef = np.linalg.lstsq(V * weight[:, None], fs * weight, rcond=None)[0]
c32 = coef.astype(np.float32)

f32 = np.float32
k = np.arange(1 << 23, 1 << 24, dtype=np.int64)
s = ((2 * k + 1 - (1 << 24)).astype(f32) * f32(2.0**-24)).astype(f32)
x = (s * E).astype(f32)
t = ((f32(1) - x).astype(f32) * (f32(1) + x).astype(f32)).astype(f32)
y = ((-np.log(t.astype(np.float64))).astype(f32) - f32(CENTER)).astype(f32)
p = np.full_like(y, c32[0])
for c in c32[1:]:
    p = ((p * y).astype(f32) + c).astype(f32)
z = (p * x).astype(f32)
ref = np.sqrt(2) * erfinv(x.astype(np.float64))
rel = np.abs(z - ref) / np.abs(ref)

print(f"E = {float(E)!r} bits {E.view(np.uint32):#010x}; -ln(1 - E^2) = {w_max:.4f}")
print("P, highest degree first:", ", ".join(f"{c.view(np.uint32):#010x}" for c in c32))
print(f"max relative error {rel.max():.3e}; max z {float(z.max())!r} (< 2: {bool(z.max() < 2)})")
