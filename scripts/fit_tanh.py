#!/usr/bin/env python3
"""Fits the rational float32 tanh of Note [float tanh] (autograd/detail/float_tanh.hpp).

tanh x ~ x P(x^2) / Q(x^2) on [0, 9]: iteratively reweighted linear least squares on the
relative error (a Lawson-style push toward minimax), in float64, in the scaled variable
u = (x / 9)^2 for conditioning. Then each candidate's coefficients are rounded to float32 and
evaluated in float32 arithmetic (Horner, as the kernel does) against float64 tanh on a dense
sweep: the max ulp error is what the kernel's test bounds. Needs numpy: /usr/bin/python3.
The kernel uses the [9/8] row.
"""
import numpy as np
C = 9.0
def fit(np_, nq, iters=200):
    x = np.concatenate([np.linspace(1e-5, 0.05, 4000), np.linspace(0.05, C, 60000)])
    u = (x / C) ** 2
    t = np.tanh(x)
    w = np.ones_like(x); qprev = np.ones_like(x)
    for it in range(iters):
        A = np.empty((x.size, np_ + nq))
        for k in range(np_): A[:, k] = x * u**k
        for k in range(1, nq + 1): A[:, np_ + k - 1] = -t * u**k
        scale = w / (t * qprev)
        sol, *_ = np.linalg.lstsq(A * scale[:, None], t * scale, rcond=None)
        p = sol[:np_]; q = np.concatenate([[1.0], sol[np_:]])
        P = sum(p[k] * u**k for k in range(np_)) * x
        Q = sum(q[k] * u**k for k in range(nq + 1))
        err = (P / Q - t) / t
        qprev = Q
        w = w * (np.abs(err) / np.abs(err).max()) ** 0.3 + 1e-15; w /= w.max()
    # back to coefficients in s = x^2: u^k = s^k / C^(2k)
    ps = np.array([p[k] / C ** (2 * k) for k in range(np_)]); qs = np.array([q[k] / C ** (2 * k) for k in range(nq + 1)])
    return ps, qs, np.abs(err).max(), Q.min()

def eval32(p, q, x):
    x = np.clip(x.astype(np.float32), np.float32(-C), np.float32(C))
    s = x * x
    P = np.float32(p[-1])
    for c in p[-2::-1]: P = P * s + np.float32(c)
    Q = np.float32(q[-1])
    for c in q[-2::-1]: Q = Q * s + np.float32(c)
    return (x * P) / Q

xs = np.concatenate([np.linspace(-12, 12, 2_000_001).astype(np.float32),
                     (np.float32(10) ** np.linspace(-30, 1, 200001)).astype(np.float32)])
ref = np.tanh(xs.astype(np.float64))
ulp = np.spacing(np.abs(ref.astype(np.float32))).astype(np.float64)
for np_, nq in [(5, 4), (6, 3), (6, 4), (7, 3), (5, 3)]:
    p, q, e, qmin = fit(np_, nq)
    got = eval32(p.astype(np.float32), q.astype(np.float32), xs).astype(np.float64)
    ulps = np.abs(got - ref) / ulp
    print(f"[{2*np_-1}/{2*nq}] rel {e:.3g} Qmin {qmin:.3g}; f32 max ulp {ulps.max():.2f} at x={xs[ulps.argmax()]:.4g}, >1: {(np.abs(got)>1).sum()}")
    print("  p =", [float(v) for v in p.astype(np.float32)]); print("  q =", [float(v) for v in q.astype(np.float32)])
