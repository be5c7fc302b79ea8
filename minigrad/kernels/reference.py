"""Slow, obvious versions of every kernel: written to be read, used as test oracles.

Each function here computes exactly what its fast twin in another file of this
package computes, with the same signature and output layout, but as plain
loops and simple NumPy, straight from the formula in its docstring. When a
fast kernel and its twin disagree, trust this file.

`conv2d_direct` is the teaching version of a convolution: the defining sum,
evaluated one output pixel at a time, with no im2col at all.
"""
import numpy as np

from .._args import pair


def _pad(x, pad_h, pad_w):
    return np.pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)))


def conv2d_direct(x, w, b=None, stride=1, padding=0):
    """Convolution by its definition (cross-correlation, as in every DL library).

    x: (N, C, H, W), w: (O, C, kh, kw), b: (O,) or None; stride, padding: int
    or pair. With xpad = x zero-padded by `padding` on each side:

        y[n, o, oh, ow] = b[o] + sum_{c, i, j} w[o, c, i, j] * xpad[n, c, oh*sh + i, ow*sw + j]

    Returns y: (N, O, OH, OW), OH = (H + 2*ph - kh) // sh + 1, in x's dtype.
    """
    (sh, sw), (ph, pw) = pair(stride, "stride"), pair(padding, "padding")
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    xp = _pad(x, ph, pw)
    OH, OW = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    y = np.zeros((N, O, OH, OW), x.dtype)
    for n in range(N):
        for o in range(O):
            for oh in range(OH):
                for ow in range(OW):
                    window = xp[n, :, oh * sh:oh * sh + kh, ow * sw:ow * sw + kw]
                    y[n, o, oh, ow] = np.sum(window * w[o]) + (0 if b is None else b[o])
    return y


def im2col(x, kh, kw, stride=1, pad_h=0, pad_w=0):
    """Patches as rows: cols[(n*OH + oh)*OW + ow, (c*kh + i)*kw + j] = xpad[n, c, oh*sh + i, ow*sw + j].

    x: (N, C, H, W) -> cols: (N*OH*OW, C*kh*kw). Row r holds the receptive
    field of output pixel (n, oh, ow), flattened in the same (c, i, j) order as
    w.reshape(O, -1), so cols @ w.reshape(O, -1).T is the convolution in
    channels-last (NHWC) order.
    """
    sh, sw = pair(stride, "stride")
    N, C, H, W = x.shape
    xp = _pad(x, pad_h, pad_w)
    OH, OW = (H + 2 * pad_h - kh) // sh + 1, (W + 2 * pad_w - kw) // sw + 1
    cols = np.zeros((N * OH * OW, C * kh * kw), x.dtype)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                patch = xp[n, :, oh * sh:oh * sh + kh, ow * sw:ow * sw + kw]
                cols[(n * OH + oh) * OW + ow] = patch.reshape(-1)
    return cols


def col2im(gcols, x_shape, kh, kw, stride=1, pad_h=0, pad_w=0):
    """Adjoint of im2col: scatter each row back onto its patch, summing overlaps.

    gcols: (N*OH*OW, C*kh*kw) -> gx: x_shape = (N, C, H, W). Because im2col
    copies xpad[n, c, h, w] into every row whose window covers (h, w), its
    gradient is the sum of gcols over those places; whatever lands on the
    padding is cropped away.
    """
    sh, sw = pair(stride, "stride")
    N, C, H, W = x_shape
    OH, OW = (H + 2 * pad_h - kh) // sh + 1, (W + 2 * pad_w - kw) // sw + 1
    gxp = np.zeros((N, C, H + 2 * pad_h, W + 2 * pad_w), gcols.dtype)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                patch = gcols[(n * OH + oh) * OW + ow].reshape(C, kh, kw)
                gxp[n, :, oh * sh:oh * sh + kh, ow * sw:ow * sw + kw] += patch
    return gxp[:, :, pad_h:pad_h + H, pad_w:pad_w + W].copy()


def max_pool2d_forward(x, k, stride=None, padding=0):
    """y[n, c, oh, ow] = max of the k x k window at (oh*s - p, ow*s - p); argmax = h*W + w of the winner.

    x: (N, C, H, W) -> y, argmax: (N, C, OH, OW), OH = (H + 2p - k)//s + 1
    (floor mode). The padding is -inf, so it never beats a real pixel, and
    with p <= k/2 every window has one: the max is that of the window clipped
    to the image. Ties: first maximum in row-major order (np.argmax); a NaN
    wins its window.
    """
    s = k if stride is None else stride
    N, C, H, W = x.shape
    OH, OW = (H + 2 * padding - k) // s + 1, (W + 2 * padding - k) // s + 1
    y = np.zeros((N, C, OH, OW), x.dtype)
    argmax = np.zeros((N, C, OH, OW), np.int32)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    h0, w0 = max(oh * s - padding, 0), max(ow * s - padding, 0)
                    window = x[n, c, h0:oh * s - padding + k, w0:ow * s - padding + k]
                    i, j = np.unravel_index(int(np.argmax(window)), window.shape)  # the first NaN, if any
                    y[n, c, oh, ow] = window[i, j]
                    argmax[n, c, oh, ow] = (h0 + i) * W + (w0 + j)
    return y, argmax


def max_pool2d_backward(gy, argmax, x_shape, k, stride=None, padding=0):
    """gx = 0 except at each window's winner, which gets gy (summed if it wins several windows)."""
    N, C, H, W = x_shape
    gx = np.zeros((N, C, H * W), gy.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(gy.shape[2]):
                for ow in range(gy.shape[3]):
                    gx[n, c, argmax[n, c, oh, ow]] += gy[n, c, oh, ow]
    return gx.reshape(x_shape)


def _avg_pool_divisors(H, W, OH, OW, k, s, padding, count_include_pad):
    """d[oh, ow]: k*k, or the number of real (unpadded) pixels in window (oh, ow)."""
    real = _pad(np.ones((1, 1, H, W)), padding, padding)[0, 0]
    d = np.zeros((OH, OW))
    for oh in range(OH):
        for ow in range(OW):
            d[oh, ow] = k * k if count_include_pad else real[oh * s:oh * s + k, ow * s:ow * s + k].sum()
    return d


def avg_pool2d_forward(x, k, stride=None, padding=0, count_include_pad=True):
    """y[n, c, oh, ow] = sum of the k x k window of xpad at (oh*s, ow*s) / d[oh, ow].

    xpad: x zero-padded by p; d = k*k (count_include_pad) or the number of
    real pixels in the window. OH = (H + 2p - k)//s + 1 (floor mode).
    """
    s = k if stride is None else stride
    N, C, H, W = x.shape
    OH, OW = (H + 2 * padding - k) // s + 1, (W + 2 * padding - k) // s + 1
    xp = _pad(x, padding, padding)
    d = _avg_pool_divisors(H, W, OH, OW, k, s, padding, count_include_pad)
    y = np.zeros((N, C, OH, OW), x.dtype)
    for oh in range(OH):
        for ow in range(OW):
            y[:, :, oh, ow] = xp[:, :, oh * s:oh * s + k, ow * s:ow * s + k].sum(axis=(2, 3)) / d[oh, ow]
    return y


def avg_pool2d_backward(gy, x_shape, k, stride=None, padding=0, count_include_pad=True):
    """gxpad[window (oh, ow)] += gy[:, :, oh, ow] / d[oh, ow]; the padding's share is cropped away."""
    s = k if stride is None else stride
    N, C, H, W = x_shape
    OH, OW = gy.shape[2:]
    d = _avg_pool_divisors(H, W, OH, OW, k, s, padding, count_include_pad)
    gxp = np.zeros((N, C, H + 2 * padding, W + 2 * padding), gy.dtype)
    for oh in range(OH):
        for ow in range(OW):
            gxp[:, :, oh * s:oh * s + k, ow * s:ow * s + k] += (gy[:, :, oh, ow] / d[oh, ow])[:, :, None, None]
    return gxp[:, :, padding:padding + H, padding:padding + W].copy()


def batch_norm_forward_train(x3, weight, bias, eps=1e-5, relu=False):
    """Normalise each channel with its batch statistics, then scale and shift.

    x3: (N, C, L); statistics over axes (0, 2), M = N*L values per channel:
        mean = sum(x)/M,  var = sum((x - mean)^2)/M  (biased),
        invstd = 1/sqrt(var + eps),  y = weight * (x - mean) * invstd + bias.
    Returns y3 (N, C, L), mean (C,), invstd (C,), all in x3's dtype.
    """
    C = x3.shape[1]
    weight = np.ones(C) if weight is None else weight
    bias = np.zeros(C) if bias is None else bias
    x = x3.astype(np.float64)
    mean = x.mean(axis=(0, 2))
    var = ((x - mean[:, None]) ** 2).mean(axis=(0, 2))
    invstd = 1.0 / np.sqrt(var + eps)
    y = weight[:, None] * (x - mean[:, None]) * invstd[:, None] + bias[:, None]
    if relu:
        y = np.maximum(y, 0.0)
    return y.astype(x3.dtype), mean.astype(x3.dtype), invstd.astype(x3.dtype)


def batch_norm_forward_eval(x3, running_mean, running_var, weight, bias, eps=1e-5, relu=False):
    """Evaluation: y = weight * (x - running_mean) / sqrt(running_var + eps) + bias per channel
    (then max(y, 0) with ``relu``).  x3: (N, C, L) -> y3 (N, C, L) in x3's dtype."""
    C = x3.shape[1]
    weight = np.ones(C) if weight is None else weight
    bias = np.zeros(C) if bias is None else bias

    def f(a):  # a (C,) per-channel vector, as float64 broadcastable against (N, C, L)
        return np.asarray(a, np.float64).reshape(1, -1, 1)

    y = f(weight) * (x3 - f(running_mean)) / np.sqrt(f(running_var) + eps) + f(bias)
    return (np.maximum(y, 0.0) if relu else y).astype(x3.dtype)


def batch_norm_backward(gy3, x3, mean, invstd, weight, y3=None):
    """Backward of batch norm by the chain rule, one node of the forward graph at a time.

    Forward graph per channel: d = x - mean, var = mean(d^2), invstd = (var+eps)^-1/2,
    xhat = d*invstd, y = weight*xhat + bias. Walking it backwards (means over M = N*L):
        g      = gy * (y3 > 0 if y3 is given, i.e. fused ReLU)
        gbias  = sum g,   gweight = sum g*xhat,   gxhat = g*weight
        ginv   = sum gxhat*d,  gvar = ginv * (-1/2) * invstd^3
        gd     = gxhat*invstd + gvar * 2d/M
        gx     = gd - mean(gd)            (the mean subtracts from every x)
    This is deliberately not the fused three-term formula of norm.py, so the
    test compares two independent derivations.
    """
    C = x3.shape[1]
    weight = np.ones(C) if weight is None else weight

    def f(a):  # a (C,) per-channel vector, as float64 broadcastable against (N, C, L)
        return np.asarray(a, np.float64).reshape(1, -1, 1)

    g = gy3.astype(np.float64) * (1.0 if y3 is None else (y3 > 0))
    M = x3.shape[0] * x3.shape[2]
    d = x3.astype(np.float64) - f(mean)
    istd = f(invstd)
    xhat = d * istd
    gbias = g.sum(axis=(0, 2))
    gweight = (g * xhat).sum(axis=(0, 2))
    gxhat = g * f(weight)
    ginv = (gxhat * d).sum(axis=(0, 2), keepdims=True)
    gvar = ginv * -0.5 * istd ** 3
    gd = gxhat * istd + gvar * 2.0 * d / M
    gx = gd - gd.mean(axis=(0, 2), keepdims=True)
    dt = x3.dtype
    return gx.astype(dt), gweight.astype(dt), gbias.astype(dt)


# ---------------------------------------------------------------- Winograd F(m x m, r x r)
# Twins of winograd.py and winograd6.py: one tile at a time, with the matrices B^T and A^T of
# ``t``, a winograd.Transforms (its input tiles a x a, a = m + r - 1, m apart).

def _winograd_tiles(N, TH, TW):
    """(t, n, ti, tj) for every tile, t = (n*TH + ti)*TW + tj."""
    return [((n * TH + ti) * TW + tj, n, ti, tj) for n in range(N) for ti in range(TH) for tj in range(TW)]


def winograd_input_transform(x, pad, TH, TW, t):
    """V[:, c, t] = (B^T d B).ravel() for the a x a tile d at padded rows m*ti.., columns m*tj.."""
    m, a = t.m, t.BT.shape[0]
    N, C, H, W = x.shape
    xp = np.zeros((N, C, m * TH + a - m, m * TW + a - m), x.dtype)
    xp[:, :, pad:pad + H, pad:pad + W] = x
    V = np.zeros((a * a, C, N * TH * TW), x.dtype)
    for k, n, ti, tj in _winograd_tiles(N, TH, TW):
        for c in range(C):
            d = xp[n, c, m * ti:m * ti + a, m * tj:m * tj + a]
            V[:, c, k] = (t.BT @ d @ t.BT.T).ravel()
    return V


def winograd_input_adjoint(dV, N, H, W, pad, TH, TW, t):
    """dx: each tile's B dV B^T added back where its a x a input tile came from."""
    m, a = t.m, t.BT.shape[0]
    C = dV.shape[1]
    dxp = np.zeros((N, C, m * TH + a - m, m * TW + a - m), dV.dtype)
    for k, n, ti, tj in _winograd_tiles(N, TH, TW):
        for c in range(C):
            dxp[n, c, m * ti:m * ti + a, m * tj:m * tj + a] += t.BT.T @ dV[:, c, k].reshape(a, a) @ t.BT
    return dxp[:, :, pad:pad + H, pad:pad + W].astype(dV.dtype)


def winograd_output_transform(M, bias, N, OH, OW, TH, TW, t):
    """y: A^T M[:, o, t] A as each tile's m x m outputs (cropped at the edges), plus bias."""
    m, a = t.m, t.BT.shape[0]
    O = M.shape[1]
    y = np.zeros((N, O, m * TH, m * TW), M.dtype)
    for k, n, ti, tj in _winograd_tiles(N, TH, TW):
        for o in range(O):
            y[n, o, m * ti:m * ti + m, m * tj:m * tj + m] = t.AT @ M[:, o, k].reshape(a, a) @ t.AT.T
    if bias.shape[0] == O:
        y += bias[None, :, None, None]
    return y[:, :, :OH, :OW].astype(M.dtype)


def winograd_output_adjoint(gy, TH, TW, t):
    """dM[:, o, t] = (A g A^T).ravel() for each tile's m x m block g of gy (zero-padded)."""
    m, a = t.m, t.BT.shape[0]
    N, O, OH, OW = gy.shape
    g = np.zeros((N, O, m * TH, m * TW), gy.dtype)
    g[:, :, :OH, :OW] = gy
    dM = np.zeros((a * a, O, N * TH * TW), gy.dtype)
    for k, n, ti, tj in _winograd_tiles(N, TH, TW):
        for o in range(O):
            dM[:, o, k] = (t.AT.T @ g[n, o, m * ti:m * ti + m, m * tj:m * tj + m] @ t.AT).ravel()
    return dM


def direct_conv2d_forward(x, w, b, stride, pad_h, pad_w):
    """Grouped convolution by its definition: G = C / w.shape[1] groups, each an ordinary
    convolution of its C/G input channels with its O/G filters.  x (N, C, H, W),
    w (O, C/G, kh, kw), b (O,) or None.  Depthwise: w (C*m, 1, kh, kw)."""
    C, Cg, O = x.shape[1], w.shape[1], w.shape[0]
    G = C // Cg
    Og = O // G
    return np.concatenate([conv2d_direct(x[:, g * Cg:(g + 1) * Cg], w[g * Og:(g + 1) * Og],
                                         None if b is None else b[g * Og:(g + 1) * Og], stride, (pad_h, pad_w))
                           for g in range(G)], axis=1)


def direct_conv2d_backward(gy, x, w, stride, pad_h, pad_w, need_x=True, need_w=True):
    """(gx, gw) of direct_conv2d_forward: each gy[n, o, oh, ow] sent back along its window to the
    input channels of o's group."""
    s = stride if np.isscalar(stride) else stride[0]
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    Og = O // (C // Cg)
    xp = _pad(x, pad_h, pad_w)
    gxp, gw = np.zeros_like(xp), np.zeros_like(w)
    for n in range(N):
        for o in range(O):
            c0 = (o // Og) * Cg
            for oh in range(gy.shape[2]):
                for ow in range(gy.shape[3]):
                    window = (n, slice(c0, c0 + Cg), slice(oh * s, oh * s + kh), slice(ow * s, ow * s + kw))
                    gxp[window] += gy[n, o, oh, ow] * w[o]
                    gw[o] += gy[n, o, oh, ow] * xp[window]
    gx = gxp[:, :, pad_h:pad_h + H, pad_w:pad_w + W]
    return (gx if need_x else None), (gw if need_w else None)


def adam_update(w, g, m, v, lr, beta1, beta2, eps, t, weight_decay=0.0, decoupled=False):
    """Adam's t-th step in place, in NumPy (PyTorch's formulation).  With d = g (+ weight_decay * w
    for L2, or w shrunk by 1 - lr * weight_decay first when ``decoupled``, AdamW):

        m = b1 * m + (1 - b1) * d
        v = b2 * v + (1 - b2) * d**2
        w -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)
    """
    if weight_decay and decoupled:
        w *= 1 - lr * weight_decay
    elif weight_decay:
        g = g + weight_decay * w
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * g * g
    w -= lr / (1 - beta1 ** t) * m / (np.sqrt(v) / np.sqrt(1 - beta2 ** t) + eps)


def dropout_random_bits(seed, n):
    """r(seed, i) for i < n (see dropout.py): splitmix64's output function of seed + (i + 1) * golden,
    top 24 bits, in NumPy's wrapping uint64 arithmetic."""
    z = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (z ^ (z >> np.uint64(31))) >> np.uint64(40)


def _dropout_threshold_and_scale(p, dtype):
    return min(round(p * 2 ** 24), 2 ** 24), np.dtype(dtype).type(0.0 if p >= 1 else 1.0 / (1.0 - p))


def dropout_forward(x, p, seed):
    """keep = r(seed, i) >= round(p * 2**24) over x's flat elements; y = x * keep * 1/(1 - p)."""
    threshold, scale = _dropout_threshold_and_scale(p, x.dtype)
    keep = (dropout_random_bits(seed, x.size) >= threshold).reshape(x.shape)
    return x * keep * scale, keep.astype(np.uint8)


def dropout_backward(gy, keep, p):
    """gx = gy * keep * 1/(1 - p)."""
    return gy * keep * _dropout_threshold_and_scale(p, gy.dtype)[1]


def max_pool2x2_dropout_forward(x, p, seed):
    """2x2 max-pooling then dropout_forward of the pooled array; code = the winner's place in its
    window (0-3, row-major) where kept, 4 where dropped."""
    pooled, argmax = max_pool2d_forward(x, 2)
    y, keep = dropout_forward(pooled, p, seed)
    W, OW = x.shape[3], pooled.shape[3]
    ow = np.arange(OW)
    oh = np.arange(pooled.shape[2])[:, None]
    place = 2 * (argmax // W - 2 * oh) + (argmax % W - 2 * ow)
    return y, np.where(keep == 1, place, 4).astype(np.uint8)


def max_pool2x2_dropout_backward(gy, code, x_shape, p):
    """Each kept window's winner gets gy / (1 - p); every other pixel 0."""
    N, C, H, W = x_shape
    scale = _dropout_threshold_and_scale(p, gy.dtype)[1]
    gx = np.zeros(x_shape, gy.dtype)
    for oh in range(gy.shape[2]):
        for ow in range(gy.shape[3]):
            for place in range(4):
                chosen = code[:, :, oh, ow] == place
                gx[:, :, 2 * oh + place // 2, 2 * ow + place % 2] += np.where(chosen, gy[:, :, oh, ow] * scale, 0)
    return gx
