"""Independent float64 interpreter for the QONNX fixture models.

This is a second implementation of the operator semantics, written from the
QONNX operator definitions (not from qonnx's code), used to cross-check the
reference outputs that ``qonnx.core.onnx_exec.execute_onnx`` produces in
float32.  Every fixture is designed so that all float32 arithmetic inside the
reference is exact; this module proves it per fixture:

* every tensor is evaluated in float64 (53-bit significand) and compared with
  the float32 reference;
* for every accumulating op (MatMul, Gemm, Conv, BatchNormalization, Add,
  AveragePool, GlobalAveragePool, Mul) it computes the *magnitude bound* of
  all partial sums (sum of |terms|) and the *grid* (largest power of two that
  divides every term).  If bound / grid < 2**24, every partial sum in any
  summation order is an integer multiple of the grid below 2**24 grid units,
  hence exactly representable in float32, hence float32 accumulation is exact
  whatever order onnxruntime uses.  The largest such ratio, in bits, is
  reported as ``max_significant_bits``.

Only the operators used by python/make_qonnx_fixtures.py are implemented.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from onnx import numpy_helper

QONNX_DOMAIN = "qonnx.custom_op.general"


class NotExact(Exception):
    pass


# ---------------------------------------------------------------- helpers


def grid_exponent(a) -> int | None:
    """Largest e such that every element of a is an integer multiple of 2**e.
    None when all elements are zero."""
    a = np.abs(np.asarray(a, dtype=np.float64)).ravel()
    a = a[a != 0]
    if a.size == 0:
        return None
    m, e = np.frexp(a)  # a = m * 2**e, 0.5 <= m < 1
    mi = (m * 2.0**53).astype(np.int64)  # exact 53-bit integer significand
    low = mi & -mi
    tz = np.log2(low.astype(np.float64)).astype(np.int64)
    return int((e.astype(np.int64) - 53 + tz).min())


def min_grid(*gs):
    gs = [g for g in gs if g is not None]
    return min(gs) if gs else None


def round_mode(v: np.ndarray, mode: str) -> np.ndarray:
    """Mathematically exact rounding of float64 values to integers."""
    mode = mode.upper()
    s = np.sign(v)
    a = np.abs(v)
    f = np.floor(a)
    frac = a - f  # exact in float64 for our magnitudes
    if mode in ("ROUND", "HALF_EVEN"):
        up = (frac > 0.5) | ((frac == 0.5) & (np.mod(f, 2) == 1))
        return s * (f + up)
    if mode == "CEIL":
        return np.ceil(v)
    if mode == "FLOOR":
        return np.floor(v)
    if mode == "UP":  # away from zero
        return s * np.ceil(a)
    if mode == "DOWN":  # toward zero
        return s * f
    if mode == "HALF_UP":  # ties away from zero
        return s * (f + (frac >= 0.5))
    if mode == "HALF_DOWN":  # ties toward zero
        return s * (f + (frac > 0.5))
    raise ValueError(f"unknown rounding mode {mode}")


def int_range(signed: int, narrow: int, bits: int) -> tuple[int, int]:
    if signed:
        lo = -(2 ** (bits - 1)) + (1 if narrow else 0)
        hi = 2 ** (bits - 1) - 1
    else:
        lo = 0
        hi = 2**bits - 1 - (1 if narrow else 0)
    return lo, hi


def attrs_of(node) -> dict:
    out = {}
    for a in node.attribute:
        if a.type == a.INT:
            out[a.name] = a.i
        elif a.type == a.FLOAT:
            out[a.name] = a.f
        elif a.type == a.STRING:
            out[a.name] = a.s.decode()
        elif a.type == a.INTS:
            out[a.name] = list(a.ints)
        elif a.type == a.FLOATS:
            out[a.name] = list(a.floats)
    return out


# ---------------------------------------------------------------- interpreter


class Ref64:
    def __init__(self, model):
        self.model = model
        self.inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.domain_opset = {o.domain: o.version for o in model.opset_import}
        self.max_bits = 0.0  # largest bound/grid ratio seen, log2
        # coverage counters: exact rounding ties seen by Quant/Trunc, values
        # saturated by Quant/Trunc clamps, MultiThreshold inputs equal to a threshold
        self.stats = {"ties": 0, "clamped": 0, "threshold_hits": 0}

    def _count(self, v, lo=None, hi=None, r=None):
        if self._const_input:  # weights and biases: not data-dependent
            return
        a = np.abs(v)
        self.stats["ties"] += int(np.count_nonzero(a - np.floor(a) == 0.5))
        if r is not None:
            self.stats["clamped"] += int(np.count_nonzero((r < lo) | (r > hi)))

    # exactness bookkeeping: terms grid g, bound b (absolute value)
    def _budget(self, bound, grid, what):
        if grid is None:
            return
        b = float(np.max(bound)) if np.size(bound) else 0.0
        if b == 0:
            return
        bits = np.log2(b) - grid
        self.max_bits = max(self.max_bits, bits)
        if bits >= 24:
            raise NotExact(f"{what}: partial sums need {bits:.2f} significant bits (>= 24)")

    def run(self, x: np.ndarray) -> tuple[np.ndarray, dict]:
        g = self.model.graph
        ctx = dict(self.inits)
        ctx[g.input[0].name] = np.asarray(x, dtype=np.float64)
        for node in g.node:
            ins = [ctx[n] if n else None for n in node.input]
            outs = self._exec(node, ins)
            for name, val in zip(node.output, outs):
                ctx[name] = val
        return ctx[g.output[0].name], ctx

    def _exec(self, node, ins):
        op = node.op_type
        at = attrs_of(node)
        self._const_input = node.input[0] in self.inits
        f = getattr(self, "op_" + op, None)
        if f is None:
            raise NotImplementedError(op)
        r = f(ins, at, node)
        return r if isinstance(r, tuple) else (r,)

    # ---- QONNX ops
    def op_Quant(self, ins, at, node):
        x, scale, zp, bits = (np.asarray(t, np.float64) for t in ins)
        bits = int(bits)
        signed, narrow = at.get("signed", 1), at.get("narrow", 0)
        mode = at.get("rounding_mode", "ROUND")
        v = x / scale + zp
        if bits == 1 and signed:
            q = np.where(v >= 0, 1.0, -1.0)
        else:
            lo, hi = int_range(signed, narrow, bits)
            r = round_mode(v, mode)
            self._count(v, lo, hi, r)
            q = np.clip(r, lo, hi)
        return (q - zp) * scale

    def op_BipolarQuant(self, ins, at, node):
        x, scale = (np.asarray(t, np.float64) for t in ins)
        return np.where(x >= 0, 1.0, -1.0) * scale

    def op_Trunc(self, ins, at, node):
        version = self.domain_opset.get(QONNX_DOMAIN, 1)
        mode = at.get("rounding_mode", "FLOOR")
        x, scale, zp = (np.asarray(t, np.float64) for t in ins[:3])
        self._count(x / scale + zp)
        v = round_mode(x / scale + zp, "ROUND")
        if version >= 2:
            out_scale, out_bits = np.asarray(ins[4], np.float64), int(ins[5])
            shift = np.round(np.log2(out_scale / scale))
            lo, hi = int_range(at.get("signed", 1), at.get("narrow", 0), out_bits)
            r = round_mode(v / 2.0**shift, mode)
            self._count(v / 2.0**shift, lo, hi, r)
            q = np.clip(r, lo, hi)
            return (q - zp / 2.0**shift) * out_scale
        in_bits, out_bits = int(ins[3]), int(ins[4])
        self._count(v / 2.0 ** (in_bits - out_bits))
        q = round_mode(v / 2.0 ** (in_bits - out_bits), mode)
        return (q - zp) * scale

    def op_MultiThreshold(self, ins, at, node):
        v, th = np.asarray(ins[0], np.float64), np.asarray(ins[1], np.float64)
        layout = at.get("data_layout", "")
        if not layout:
            layout = {2: "NC", 3: "NWC", 4: "NCHW"}[v.ndim]
        cdim = layout.index("C")
        vm = np.moveaxis(v, cdim, -1)[..., None]  # [..., C, 1]
        t = th[0][None, :] if th.shape[0] == 1 else th
        cnt = (vm >= t).sum(-1)
        self.stats["threshold_hits"] += int(np.count_nonzero(vm == t))
        cnt = np.moveaxis(cnt.astype(np.float64), -1, cdim)
        return at.get("out_scale", 1.0) * cnt + at.get("out_bias", 0.0)

    # ---- standard ops
    def op_MatMul(self, ins, at, node):
        a, b = ins
        ga, gb = grid_exponent(a), grid_exponent(b)
        g = ga + gb if ga is not None and gb is not None else None
        self._budget(np.abs(a) @ np.abs(b), g, node.name or "MatMul")
        return a @ b

    def op_Gemm(self, ins, at, node):
        a, b = ins[0], ins[1]
        c = ins[2] if len(ins) > 2 and ins[2] is not None else 0.0
        if at.get("transA", 0):
            a = a.T
        if at.get("transB", 0):
            b = b.T
        alpha, beta = at.get("alpha", 1.0), at.get("beta", 1.0)
        assert alpha == 1.0 and beta == 1.0
        ga, gb, gc = grid_exponent(a), grid_exponent(b), grid_exponent(c)
        g = min_grid(ga + gb if ga is not None and gb is not None else None, gc)
        self._budget(np.abs(a) @ np.abs(b) + np.abs(c), g, node.name or "Gemm")
        return a @ b + c

    def op_Add(self, ins, at, node):
        a, b = ins
        self._budget(np.abs(a) + np.abs(b), min_grid(grid_exponent(a), grid_exponent(b)), "Add")
        return a + b

    def op_Mul(self, ins, at, node):
        a, b = ins
        ga, gb = grid_exponent(a), grid_exponent(b)
        if ga is not None and gb is not None:
            self._budget(np.abs(a * b), ga + gb, "Mul")
        return a * b

    def op_Relu(self, ins, at, node):
        return np.maximum(ins[0], 0.0)

    def op_Flatten(self, ins, at, node):
        x = ins[0]
        ax = at.get("axis", 1)
        return x.reshape(int(np.prod(x.shape[:ax])), -1)

    def op_Reshape(self, ins, at, node):
        return ins[0].reshape([int(s) for s in ins[1]])

    def op_Concat(self, ins, at, node):
        return np.concatenate(ins, axis=at["axis"])

    def op_Transpose(self, ins, at, node):
        return np.transpose(ins[0], at.get("perm"))

    def op_Identity(self, ins, at, node):
        return ins[0]

    def op_BatchNormalization(self, ins, at, node):
        x, gamma, beta, mean, var = ins
        eps = at.get("epsilon", 1e-5)
        shp = (1, -1) + (1,) * (x.ndim - 2)
        a = gamma / np.sqrt(var + eps)
        if not np.all(a.astype(np.float32) == a):
            raise NotExact("BatchNormalization: gamma/sqrt(var+eps) is not a float32 value")
        a = a.reshape(shp)
        mean, beta = mean.reshape(shp), beta.reshape(shp)
        # onnxruntime may compute x*a + (beta - mean*a) or (x-mean)*a + beta:
        # bound both forms on the common grid.
        g = min_grid(grid_exponent(x), grid_exponent(mean))
        g = min_grid(g + grid_exponent(a) if g is not None else None, grid_exponent(beta))
        bound = (np.abs(x) + np.abs(mean)) * np.abs(a) + np.abs(beta)
        self._budget(bound, g, "BatchNormalization")
        return (x - mean) * a + beta

    def _spatial(self, x, at, kshape, pad_value):
        nd = len(kshape)
        strides = at.get("strides", [1] * nd)
        dil = at.get("dilations", [1] * nd)
        pads = at.get("pads", [0] * (2 * nd))
        assert at.get("auto_pad", "NOTSET") == "NOTSET"
        assert not at.get("ceil_mode", 0)
        pw = [(0, 0), (0, 0)] + [(pads[i], pads[i + nd]) for i in range(nd)]
        xp = np.pad(x, pw, constant_values=pad_value)
        span = [(k - 1) * d + 1 for k, d in zip(kshape, dil)]
        win = sliding_window_view(xp, span, axis=tuple(range(2, 2 + nd)))
        # win: N, C, O1..Ond, span1..spannd -> apply dilation and stride
        sl = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides) + tuple(
            slice(None, None, d) for d in dil
        )
        return win[sl]  # N, C, O..., K...

    def op_Conv(self, ins, at, node):
        x, w = ins[0], ins[1]
        b = ins[2] if len(ins) > 2 and ins[2] is not None else None
        nd = w.ndim - 2
        grp = at.get("group", 1)
        win = self._spatial(x, at, w.shape[2:], 0.0)
        n, c = x.shape[:2]
        o = w.shape[0]
        cg, og = c // grp, o // grp
        outs, bounds = [], []
        letters = "hijk"[:nd]
        kl = "pqrs"[:nd]
        eq = f"nc{letters}{kl},oc{kl}->no{letters}"
        for gi in range(grp):
            xs = win[:, gi * cg:(gi + 1) * cg]
            ws = w[gi * og:(gi + 1) * og]
            outs.append(np.einsum(eq, xs, ws))
            bounds.append(np.einsum(eq, np.abs(xs), np.abs(ws)))
        y, bound = np.concatenate(outs, 1), np.concatenate(bounds, 1)
        gx, gw = grid_exponent(x), grid_exponent(w)
        g = gx + gw if gx is not None and gw is not None else None
        if b is not None:
            shp = (1, -1) + (1,) * nd
            y = y + b.reshape(shp)
            bound = bound + np.abs(b).reshape(shp)
            g = min_grid(g, grid_exponent(b))
        self._budget(bound, g, node.name or "Conv")
        return y

    def op_MaxPool(self, ins, at, node):
        k = at["kernel_shape"]
        win = self._spatial(ins[0], at, k, -np.inf)
        return win.max(axis=tuple(range(-len(k), 0)))

    def op_AveragePool(self, ins, at, node):
        k = at["kernel_shape"]
        assert not any(at.get("pads", [])), "padded AveragePool not used by the fixtures"
        cnt = int(np.prod(k))
        assert cnt & (cnt - 1) == 0, "AveragePool kernel must have a power-of-two size"
        win = self._spatial(ins[0], at, k, 0.0)
        s = win.sum(axis=tuple(range(-len(k), 0)))
        self._budget(np.abs(win).sum(axis=tuple(range(-len(k), 0))), grid_exponent(ins[0]), "AveragePool")
        return s / cnt

    def op_GlobalAveragePool(self, ins, at, node):
        x = ins[0]
        ax = tuple(range(2, x.ndim))
        cnt = int(np.prod(x.shape[2:]))
        assert cnt & (cnt - 1) == 0, "GlobalAveragePool size must be a power of two"
        self._budget(np.abs(x).sum(axis=ax), grid_exponent(x), "GlobalAveragePool")
        return x.sum(axis=ax, keepdims=True) / cnt
