"""2-D convolution as a matrix product: im2col, a BLAS GEMM, and col2im for the way back.

A convolution of x (N, C, H, W) with w (O, C, kh, kw) at stride s and padding
(ph, pw) computes, for every output position,

    y[n, o, p, q] = b[o] + sum_{c, i, j} w[o, c, i, j] * xpad[n, c, s*p + i, s*q + j].

``im2col`` copies every receptive field into one row of a matrix
``cols`` (N*OH*OW, C*kh*kw) (column index c*kh*kw + i*kw + j, the order of
``w.reshape(O, -1)``'s columns), which turns the sum into one matrix product::

    Y = W2 @ cols^T            W2 = w.reshape(O, C*kh*kw),  Y: (O, N*OH*OW)

and backward into two more, plus the adjoint of im2col:

    dW2   = dY @ cols           (O, C*kh*kw)
    dcols = dY^T @ W2           (N*OH*OW, C*kh*kw)   then  dx = col2im(dcols)
    db    = dY summed over batch and positions.

Why ``W2 @ cols^T`` rather than ``cols @ W2^T``: both are one BLAS call (BLAS reads a
transposed operand for free), but the first leaves the result as (O, N, OH*OW), so
turning it into NCHW only moves whole contiguous rows of OH*OW values (and adds the
bias on the way), while the second gives NHWC, whose conversion is an element-by-
element transpose, up to twice as slow for the large early layers.

Memory.  ``cols`` is kh*kw times larger than x: 170 MB for the seed CNN's second
layer at batch 128.  Two choices keep that down:

* Backward rebuilds ``cols`` from x instead of keeping it from forward.  Keeping all
  four layers' matrices would hold about 330 MB for the whole step, to save an im2col
  that costs a few per cent of the GEMMs' time.
* The batch is processed in chunks of whole images, each chunk's ``cols`` (and GEMM
  output) at most ``CHUNK_BYTES`` (32 MB): the seed CNN at batch 128 then runs in 2-6
  chunks a layer, each GEMM still hundreds of columns wide, so BLAS runs at the same
  speed, and the peak memory of a training step drops by about 110 MB.  Not smaller:
  each chunk hands the cores from numba's thread pool (im2col, col2im) to BLAS's and
  back (:mod:`minigrad.runtime` says what that costs).
"""
import numpy as np

from .._args import pair, shape_text
from ..autograd import Function
from ..dispatch import conv2d_algorithm, for_layout, kernel

#: Bytes of im2col matrix (or of GEMM output) per chunk of images; see the module docstring.
CHUNK_BYTES = 32 * 2**20

def image_chunks(N, bytes_per_image):
    """Split images 0..N-1 into nearly equal consecutive chunks of at most CHUNK_BYTES each."""
    if N == 0:
        return []
    per_chunk = max(1, CHUNK_BYTES // max(1, bytes_per_image))
    count = -(-N // per_chunk)
    size = -(-N // count)
    return [(start, min(start + size, N)) for start in range(0, N, size)]


def conv2d_geometry(x_shape, w_shape, stride, padding):
    """Check the arguments of a convolution and return ((sh, sw), pad_h, pad_w, OH, OW).

    ``stride`` is an int or a pair (sh, sw); ``padding`` an int, a pair (pad_h, pad_w),
    ``"valid"`` (0) or ``"same"`` (stride 1 and odd kernel sizes only, where it means
    k // 2 on each side and keeps H and W, as in PyTorch).
    """
    sh, sw = pair(stride, "stride", "conv2d")
    if sh < 1 or sw < 1:
        raise ValueError(f"conv2d: stride must be at least 1, got {stride}")
    kh, kw = w_shape[2], w_shape[3]
    if isinstance(padding, str):
        if padding == "valid":
            pad_h = pad_w = 0
        elif padding == "same":
            if (sh, sw) != (1, 1) or kh % 2 == 0 or kw % 2 == 0:
                raise ValueError(
                    f"conv2d: padding='same' needs stride 1 and odd kernel sizes, got stride {stride} "
                    f"and kernel {kh}x{kw}; give the padding as numbers instead")
            pad_h, pad_w = kh // 2, kw // 2
        else:
            raise ValueError(f"conv2d: padding must be an int, a pair of ints, 'same' or 'valid', got {padding!r}")
    else:
        pad_h, pad_w = pair(padding, "padding", "conv2d")
        if pad_h < 0 or pad_w < 0:
            raise ValueError(f"conv2d: padding must not be negative, got {padding}")
    H, W = x_shape[2], x_shape[3]
    OH = (H + 2 * pad_h - kh) // sh + 1
    OW = (W + 2 * pad_w - kw) // sw + 1
    if OH < 1 or OW < 1:
        raise ValueError(
            f"conv2d: kernel {kh}x{kw} is larger than the padded input {H + 2 * pad_h}x{W + 2 * pad_w} "
            f"(x {tuple(x_shape)}, padding ({pad_h},{pad_w}))")
    return (sh, sw), pad_h, pad_w, OH, OW


def _check_conv_inputs(x, w, b, groups=1):
    """The shapes and dtypes of a convolution's arrays, as PyTorch's rule: x (N, C, H, W),
    w (O, C // groups, kh, kw) with O a multiple of groups, b (O,) or None."""
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d: expected x (N,C,H,W) and w (O,C,kh,kw), got x {shape_text(x)}, w {shape_text(w)}")
    if x.shape[1] != w.shape[1] * groups:
        per_group = f" in {groups} groups" if groups > 1 else ""
        raise ValueError(f"conv2d: input has {x.shape[1]} channels but weight expects {w.shape[1] * groups}"
                         f"{per_group} (x {shape_text(x)}, w {shape_text(w)})")
    if w.shape[0] % groups:
        raise ValueError(f"conv2d: the weight's {w.shape[0]} output channels do not split into {groups} groups "
                         f"(x {shape_text(x)}, w {shape_text(w)})")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"conv2d: bias has shape {shape_text(b)} but the weight has {w.shape[0]} output "
                         f"channels, so the bias must be ({w.shape[0]},) (w {shape_text(w)})")
    dtypes = {a.dtype for a in (x, w, b) if a is not None}
    if len(dtypes) > 1 or not np.issubdtype(x.dtype, np.floating):
        names = ", ".join(f"{n} {a.dtype}" for n, a in (("x", x), ("w", w), ("b", b)) if a is not None)
        raise TypeError(f"conv2d: x, w and b must share one floating dtype, got {names}")


class Conv2d(Function):
    """y = conv2d(x, w) + b (cross-correlation, as in PyTorch), by im2col and a GEMM per chunk of images.

    Shapes: x (N, C, H, W), w (O, C, kh, kw), b (O,) or None -> y (N, O, OH, OW) with
    OH = (H + 2*pad_h - kh) // sh + 1, OW = (W + 2*pad_w - kw) // sw + 1.

    Forward:   y[n,o,p,q] = b[o] + sum_{c,i,j} w[o,c,i,j] * xpad[n,c,sh*p+i,sw*q+j]
    Gradients: dw[o,c,i,j] = sum_{n,p,q} gy[n,o,p,q] * xpad[n,c,sh*p+i,sw*q+j]
               dx = col2im(gy2^T @ w2), i.e. each gy[n,o,p,q] * w[o] added back over its window
               db[o] = sum_{n,p,q} gy[n,o,p,q]
    """

    @staticmethod
    def forward(ctx, x, w, b, stride, padding):
        im2col = kernel("conv", "im2col")

        _check_conv_inputs(x, w, b)
        stride, pad_h, pad_w, OH, OW = conv2d_geometry(x.shape, w.shape, stride, padding)
        (N, C), (O, _, kh, kw) = x.shape[:2], w.shape
        L, K = OH * OW, C * kh * kw
        x = np.ascontiguousarray(x)
        w2 = w.reshape(O, K)
        y = np.empty((N, O, L), dtype=x.dtype)
        chunks = image_chunks(N, max(K, O) * L * x.itemsize)
        for n0, n1 in chunks:
            cols = im2col(x[n0:n1], kh, kw, stride, pad_h, pad_w)      # (B*L, K)
            yt = (w2 @ cols.T).reshape(O, n1 - n0, L)                  # the GEMM
            # (O, B, L) -> (B, O, L) moves contiguous rows of L values; the bias rides along.
            if b is not None:
                np.add(yt.transpose(1, 0, 2), b[:, None], out=y[n0:n1])
            else:
                np.copyto(y[n0:n1], yt.transpose(1, 0, 2))
        ctx.geometry = (kh, kw, stride, pad_h, pad_w)
        ctx.chunks, ctx.x_shape, ctx.has_bias = chunks, x.shape, b is not None
        # dw needs x (to rebuild cols), dx needs w: keep only what a requested gradient uses.
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w)
        return y.reshape(N, O, OH, OW)

    @staticmethod
    def backward(ctx, gy):
        col2im = kernel("conv", "col2im")
        im2col = kernel("conv", "im2col")

        x, w = ctx.saved_tensors
        kh, kw, stride, pad_h, pad_w = ctx.geometry
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        need_b = need_b and ctx.has_bias
        N, C, H, W = ctx.x_shape
        O, L = w.shape[0], gy.shape[2] * gy.shape[3]
        w2 = w.reshape(O, -1)
        gy3 = gy.reshape(N, O, L)
        gx = np.empty(ctx.x_shape, gy.dtype) if need_x and len(ctx.chunks) != 1 else None
        gw = np.zeros(w2.shape, gy.dtype) if need_w else None
        gb = np.zeros(O, gy.dtype) if need_b else None
        for n0, n1 in ctx.chunks:
            # dY of these images as (O, B*L): forward's row shuffle in reverse.
            gyt = np.empty((O, n1 - n0, L), gy.dtype)
            np.copyto(gyt, gy3[n0:n1].transpose(1, 0, 2))
            gyt = gyt.reshape(O, -1)
            if need_b:
                gb += gyt.sum(axis=1)
            if need_w:
                gw += gyt @ im2col(x[n0:n1], kh, kw, stride, pad_h, pad_w)
            if need_x:
                gcols = gyt.T @ w2                                       # (B*L, K)
                gx_chunk = col2im(gcols, (n1 - n0, C, H, W), kh, kw, stride, pad_h, pad_w)
                if gx is None:
                    gx = gx_chunk                                        # one chunk: no copy
                else:
                    gx[n0:n1] = gx_chunk
        return gx, (gw.reshape(w.shape) if need_w else None), gb, None, None


def conv2d(x, w, b=None, stride=1, padding=0, groups=1, algorithm="auto", relu=False):
    """2-D convolution (PyTorch's ``F.conv2d``): x (N, C, H, W), w (O, C // groups, kh, kw),
    b (O,) or None.

    ``stride`` is an int or a pair (sh, sw); ``padding`` an int, a pair (pad_h, pad_w), or
    ``"same"`` (stride 1, odd kernel) which keeps H and W.  Returns (N, O, OH, OW) with
    OH = (H + 2*pad_h - kh) // sh + 1, OW = (W + 2*pad_w - kw) // sw + 1.

    ``groups``: the channels are split into ``groups`` equal groups, each convolved with its
    own O // groups filters; ``groups == C`` is a depthwise convolution.

    ``algorithm``: ``"im2col"`` (any convolution: :class:`Conv2d`), ``"winograd"`` (3x3 or
    5x5, stride 1, equal padding: :mod:`minigrad.ops.winograd`), ``"direct"`` (equal strides:
    :mod:`minigrad.ops.direct`), or ``"auto"``: :func:`minigrad.dispatch.conv2d_algorithm`
    picks by the shapes (and states the rule).  All give the same values and gradients to rounding.

    ``relu=True`` returns ``relu(conv2d(...))``: Winograd applies it in its output pass,
    the other algorithms right after.
    """
    _check_groups(x, w, groups)
    algorithm = conv2d_algorithm(x.shape, w.shape, stride, padding, groups, algorithm)
    return ALGORITHMS[algorithm](x, w, b, stride, padding, groups, relu)


def _check_groups(x, w, groups):
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    x_shape, w_shape = tuple(x.shape), tuple(w.shape)
    if groups > 1 and (len(x_shape) != 4 or len(w_shape) != 4 or x_shape[1] != w_shape[1] * groups
                       or w_shape[0] % groups):
        raise ValueError(f"conv2d: groups={groups} needs x (N, C, H, W) and w (O, C/groups, kh, kw) with C "
                         f"and O multiples of groups, got x {x_shape}, w {w_shape}")


def _then_relu(y, relu):
    """relu(y), in place when no gradient is recorded (y is a fresh array nothing else holds)."""
    if not relu:
        return y
    if y.requires_grad:
        from .activation import relu as relu_op

        return relu_op(y)
    np.maximum(y.data, 0, out=y.data)
    return y


def _im2col(x, w, b, stride, padding, groups, relu):
    if groups == 1:
        return _then_relu(Conv2d.apply(x, w, b, stride, padding), relu)
    from .shape import concatenate

    c, o = x.shape[1] // groups, w.shape[0] // groups   # one im2col convolution per group
    y = concatenate([Conv2d.apply(x[:, g * c:(g + 1) * c], w[g * o:(g + 1) * o],
                                  None if b is None else b[g * o:(g + 1) * o], stride, padding)
                     for g in range(groups)], axis=1)
    return _then_relu(y, relu)


def _winograd(x, w, b, stride, padding, groups, relu):
    from .winograd import WinogradConv2d

    return WinogradConv2d.apply(x, w, b, padding, relu=relu)    # the ReLU in its output pass


def _direct(x, w, b, stride, padding, groups, relu):
    from .direct import DirectConv2d

    return _then_relu(for_layout(DirectConv2d, x).apply(x, w, b, stride, padding, groups), relu)


def _pointwise(x, w, b, stride, padding, groups, relu):
    from .direct import PointwiseConv2d

    return _then_relu(for_layout(PointwiseConv2d, x).apply(x, w, b, stride, padding), relu)


#: conv2d's algorithms by the name :func:`minigrad.dispatch.conv2d_algorithm` returns.
ALGORITHMS = {"im2col": _im2col, "winograd": _winograd, "direct": _direct, "pointwise": _pointwise}


def conv2d_max_pool2x2(x, w, b=None, stride=1, padding=0, groups=1, relu=False):
    """``max_pool2d(conv2d(x, w, b, stride, padding, groups, relu=relu), 2)`` for evaluation
    without gradients (``nn.fused.ConvBatchNormReLUMaxPool2d`` uses it): where conv2d would pick
    Winograd, one pass does it all (:func:`~minigrad.ops.winograd.winograd_conv2d_max_pool`),
    and so does the direct kernel at stride 1 (a network's first layer); elsewhere the two ops
    run one after the other."""
    from ..autograd import is_grad_enabled
    from ..kernels.direct import direct_conv2d_forward
    from ..tensor import Tensor
    from .pool import max_pool2d
    from .winograd import winograd_conv2d_max_pool

    tensors = [t for t in (x, w, b) if isinstance(t, Tensor)]
    if is_grad_enabled() and any(t.requires_grad for t in tensors):
        raise RuntimeError("conv2d_max_pool2x2 has no backward: call it under minigrad.no_grad()")
    algorithm = conv2d_algorithm(x.shape, w.shape, stride, padding, groups)
    arrays = [t.data if isinstance(t, Tensor) else t for t in (x, w, b)]
    if algorithm == "winograd":
        return Tensor(winograd_conv2d_max_pool(*arrays, padding, relu), _copy=False)
    if algorithm == "direct" and stride in (1, (1, 1), [1, 1]):
        _check_conv_inputs(*arrays, groups)
        _, pad_h, pad_w, _, _ = conv2d_geometry(x.shape, w.shape, 1, padding)
        return Tensor(direct_conv2d_forward(*arrays, 1, pad_h, pad_w, relu, pool=True), _copy=False)
    return max_pool2d(conv2d(x, w, b, stride, padding, groups, relu=relu), 2)
