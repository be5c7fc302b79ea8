"""Winograd F(2x2, 3x3): the tile transforms of a 3x3, stride-1 convolution.

A 3x3 convolution computes each 2x2 block of outputs from a 4x4 tile of input.
Done directly that costs 2*2*9 = 36 multiplications per channel pair; Winograd's
minimal filtering algorithm (Lavin & Gray, 2015) does it with 16:

    Y = A^T [ (G g G^T) * (B^T d B) ] A          (* element-wise)

with d the 4x4 input tile, g the 3x3 filter and

    B^T = [[1, 0, -1,  0],     G = [[1,    0,   0 ],     A^T = [[1, 1,  1,  0],
           [0, 1,  1,  0],          [1/2, 1/2, 1/2],            [0, 1, -1, -1]]
           [0, -1, 1,  0],          [1/2, -1/2, 1/2],
           [0, 1,  0, -1]]          [0,    0,   1 ]]

Summed over input channels the element-wise product becomes, for each of the 16
positions xi of a 4x4 tile, one matrix product over channels:

    M[xi] = U[xi] @ V[xi]      U[xi]: (O, C) transformed filters,
                               V[xi]: (C, T) transformed input tiles (T tiles)

so a convolution is 16 GEMMs that together do 4/9 of the work of im2col's one
GEMM, plus the cheap transforms in this file.  Backward is the same algorithm differentiated:
the adjoint of each transform (``*_adjoint``) and 16 GEMMs for each of dU and dV.

Layouts.  Tile t of image n covers output rows 2*ti, 2*ti+1 and columns 2*tj,
2*tj+1; t = (n*TH + ti)*TW + tj with TH = ceil(OH/2), TW = ceil(OW/2).  Its input
tile starts at padded row 2*ti (input row 2*ti - pad).  V and M are (16, C or O, T)
so that each xi's matrix is contiguous for BLAS.  Pixels outside the image read
as zero and outputs past an odd edge are dropped.  Each kernel splits its work
over channels with ``prange``: a channel's planes, in every image, are handled by
one thread, which writes its rows of V or M in order, and the scatter-adds of
``input_adjoint`` never race.  The 4x4 transforms are written out as sums and
differences: the transforms need no multiplications.

The output transform and its adjoint are written once for any m x m output tile
(``output_transform_tiles``, ``output_adjoint_tiles``, from the matrix A^T kron A^T:
F(2x2, 5x5) uses them too; F(4x4, 3x3), whose matrix is 16 x 36, has hand-written ones
in winograd6.py), and a :class:`Transforms` object bundles one algorithm's matrices and
kernels for ``ops/winograd.py``: this file's is ``F2x2_3x3``.
"""
import numpy as np
from numba import njit, prange

# The transform matrices, for the NumPy side (filters) and the reference twins.
BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)


@njit(parallel=True, cache=True)
def input_transform(x, pad, TH, TW):
    """V[xi, c, t] = (B^T d B)[xi] for every 4x4 input tile d: x (N, C, H, W) -> (16, C, N*TH*TW)."""
    N, C, H, W = x.shape
    Hb, Wb = 2 * TH + 2, 2 * TW + 2                     # >= H + 2*pad: the image always fits
    V = np.empty((16, C, N * TH * TW), x.dtype)
    for c in prange(C):
        buf = np.zeros((Hb, Wb), x.dtype)
        r = np.empty((4, Wb), x.dtype)
        for n in range(N):
            buf[pad:pad + H, pad:pad + W] = x[n, c]
            for ti in range(TH):
                d = buf[2 * ti:2 * ti + 4]
                for j in range(Wb):                     # r = B^T d, for a whole row of tiles
                    r[0, j] = d[0, j] - d[2, j]
                    r[1, j] = d[1, j] + d[2, j]
                    r[2, j] = d[2, j] - d[1, j]
                    r[3, j] = d[1, j] - d[3, j]
                t0 = (n * TH + ti) * TW
                for i in range(4):                      # V = r B, tile by tile
                    for tj in range(TW):
                        a0, a1, a2, a3 = r[i, 2 * tj], r[i, 2 * tj + 1], r[i, 2 * tj + 2], r[i, 2 * tj + 3]
                        V[4 * i + 0, c, t0 + tj] = a0 - a2
                        V[4 * i + 1, c, t0 + tj] = a1 + a2
                        V[4 * i + 2, c, t0 + tj] = a2 - a1
                        V[4 * i + 3, c, t0 + tj] = a1 - a3
    return V


@njit(parallel=True, cache=True)
def input_adjoint(dV, N, H, W, pad, TH, TW):
    """The adjoint of input_transform: dx (N, C, H, W) gets B dV[t] B^T added at each tile."""
    C = dV.shape[1]
    Hb, Wb = 2 * TH + 2, 2 * TW + 2
    dx = np.empty((N, C, H, W), dV.dtype)
    for c in prange(C):
        buf = np.empty((Hb, Wb), dV.dtype)
        r = np.empty((4, Wb), dV.dtype)
        for n in range(N):
            buf[:] = 0
            for ti in range(TH):
                t0 = (n * TH + ti) * TW
                r[:] = 0
                for i in range(4):                      # r = dV B^T, tiles overlapping by 2 columns
                    for tj in range(TW):
                        v0, v1 = dV[4 * i + 0, c, t0 + tj], dV[4 * i + 1, c, t0 + tj]
                        v2, v3 = dV[4 * i + 2, c, t0 + tj], dV[4 * i + 3, c, t0 + tj]
                        r[i, 2 * tj + 0] += v0
                        r[i, 2 * tj + 1] += v1 - v2 + v3
                        r[i, 2 * tj + 2] += v1 + v2 - v0
                        r[i, 2 * tj + 3] -= v3
                d = buf[2 * ti:2 * ti + 4]
                for j in range(Wb):                     # d += B r, for the whole row of tiles
                    d[0, j] += r[0, j]
                    d[1, j] += r[1, j] - r[2, j] + r[3, j]
                    d[2, j] += r[1, j] + r[2, j] - r[0, j]
                    d[3, j] -= r[3, j]
            dx[n, c] = buf[pad:pad + H, pad:pad + W]
    return dx


@njit(cache=True)
def place_tiles(q, y, o, relu, pool, m, OH, OW, TH, TW):
    """Write output channel o of y from q[m*a + b, t], output (a, b) of tile t (the output
    transform's result for that channel): max(q, 0) first if ``relu``; with ``pool`` (m
    even, so every 2x2 window lies inside one tile) only each window's maximum, to y
    (N, O, OH // 2, OW // 2).  Outputs past the edge are dropped."""
    N = y.shape[0]
    if relu:
        zero = q.dtype.type(0)
        for r in range(m * m):
            for t in range(q.shape[1]):
                q[r, t] = max(q[r, t], zero)
    if pool:                                            # window (p, pq) = outputs 2p.., 2pq..
        h, PH, PW = m // 2, y.shape[2], y.shape[3]
        for n in range(N):
            for ti in range(TH):
                t0 = (n * TH + ti) * TW
                for a in range(min(h, PH - h * ti)):
                    for tj in range(TW):
                        for j in range(min(h, PW - h * tj)):
                            k, t = 2 * a * m + 2 * j, t0 + tj
                            y[n, o, h * ti + a, h * tj + j] = max(max(q[k, t], q[k + 1, t]),
                                                                  max(q[k + m, t], q[k + m + 1, t]))
        return
    plane = np.empty((m * TH, m * TW), q.dtype)
    for n in range(N):
        for ti in range(TH):
            t0 = (n * TH + ti) * TW
            for a in range(m):
                out = plane[m * ti + a]
                for tj in range(TW):
                    for j in range(m):
                        out[m * tj + j] = q[m * a + j, t0 + tj]
        y[n, o] = plane[:OH, :OW]


@njit(cache=True)
def gather_tiles(gy, o, m, TH, TW):
    """The adjoint's first step for output channel o: q[m*a + b, t] = gy[n, o, m ti + a,
    m tj + b] for tile t = (n*TH + ti)*TW + tj, zero past the edge: (m*m, N*TH*TW)."""
    N, _, OH, OW = gy.shape
    g = np.zeros((m * TH, m * TW), gy.dtype)            # one plane, zero-padded to whole tiles
    q = np.empty((m * m, N * TH * TW), gy.dtype)
    for n in range(N):
        g[:OH, :OW] = gy[n, o]
        for ti in range(TH):
            t0 = (n * TH + ti) * TW
            for a in range(m):
                row = g[m * ti + a]
                for tj in range(TW):
                    for j in range(m):
                        q[m * a + j, t0 + tj] = row[m * tj + j]
    return q


def output_shape(N, O, OH, OW, pool):
    """The output transform's result: (N, O, OH, OW), or (N, O, OH // 2, OW // 2) pooled."""
    return (N, O, OH // 2, OW // 2) if pool else (N, O, OH, OW)


@njit(parallel=True, cache=True)
def output_transform_tiles(M, coef, bias, relu, pool, m, OH, OW, TH, TW, y):
    """The output transform of any Winograd F(m x m, r x r), into y: coef = A^T kron A^T,
    (m*m, K) for K rows of M; tile t covers outputs m*ti.., m*tj..

    Output (a, b) of a tile is sum over k of coef[m*a + b, k] M[k]: per output channel,
    m*m accumulations over M's contiguous rows (vectorisable), into q, then each tile's
    values put in place (place_tiles, which also applies a ReLU or a 2x2 max-pool while q
    is in cache: with pooling only the window maxima are written, a quarter of the output)."""
    O = M.shape[1]
    for o in prange(O):
        b = bias[o] if bias.shape[0] == O else 0.0
        q = np.empty((m * m, M.shape[2]), M.dtype)      # q[m*a + b, t]: output (a, b) of tile t
        for r in range(m * m):
            q[r] = b
            for k in range(coef.shape[1]):
                c, row = coef[r, k], M[k, o]
                if c != 0:
                    for t in range(M.shape[2]):
                        q[r, t] += c * row[t]
        place_tiles(q, y, o, relu, pool, m, OH, OW, TH, TW)


@njit(parallel=True, cache=True)
def output_adjoint_tiles(gy, coef, m, TH, TW):
    """The adjoint of output_transform_tiles: coef = A kron A, (K, m*m).

    For speed the work is split in two passes per output channel: gather each tile's m*m
    gradients into contiguous rows (q), then build each of the K rows of dM as one
    contiguous run, vectorisable loops over all the tiles."""
    N, O = gy.shape[:2]
    T = N * TH * TW
    dM = np.empty((coef.shape[0], O, T), gy.dtype)
    for o in prange(O):
        q = gather_tiles(gy, o, m, TH, TW)
        for k in range(coef.shape[0]):
            out = dM[k, o]
            if m == 2:                                  # F(2x2, .): one pass of four terms
                c0, c1, c2, c3 = coef[k, 0], coef[k, 1], coef[k, 2], coef[k, 3]
                for t in range(T):
                    out[t] = c0 * q[0, t] + c1 * q[1, t] + c2 * q[2, t] + c3 * q[3, t]
                continue
            out[:] = 0
            for j in range(m * m):
                c = coef[k, j]
                if c != 0:
                    for t in range(T):
                        out[t] += c * q[j, t]
    return dM


class Transforms:
    """One Winograd algorithm F(m x m, r x r) as ``ops/winograd.py`` uses it: its matrices,
    K = (m + r - 1)^2 GEMMs, and the six transforms with the signatures of this file's
    F(2x2, 3x3) functions (``input_transform`` and ``input_adjoint`` are given so)."""

    def __init__(self, name, m, r, BT, G, AT, input_transform, input_adjoint, output_kernels=None):
        self.name, self.m, self.r, self.BT, self.G, self.AT = name, m, r, BT, G, AT
        # hand-written output transform and adjoint, (M, bias, relu, pool, OH, OW, TH, TW, y)
        # and (gy, TH, TW); None: the kernels for any tile size with A^T kron A^T's coefficients
        self._output_kernels = output_kernels
        self.K = BT.shape[0] ** 2
        # vec(G g G^T) = (G kron G) vec(g) for row-major vec: the filter transform as a (K, r*r)
        # matrix; likewise each tile's m*m outputs from its K values, (m*m, K), and the adjoint
        self._GG, self._out = np.kron(G, G), np.kron(AT, AT)
        self._out_adjoint = np.ascontiguousarray(self._out.T)
        self._input_transform, self._input_adjoint = input_transform, input_adjoint

    def __repr__(self):
        return f"Transforms({self.name})"

    def tile_counts(self, OH, OW):
        """Tiles per image along each axis: ceil(OH / m), ceil(OW / m)."""
        return -(-OH // self.m), -(-OW // self.m)

    def filter_transform(self, w):
        """U = G g G^T for every filter: w (O, C, r, r) -> U (K, O, C), in w's dtype."""
        O, C = w.shape[:2]
        return np.ascontiguousarray((w.reshape(O * C, -1) @ self._GG.T.astype(w.dtype)).T).reshape(-1, O, C)

    def filter_adjoint(self, dU):
        """The adjoint of filter_transform: dU (K, O, C) -> dw = G^T dU G, (O, C, r, r)."""
        K, O, C = dU.shape
        return (dU.reshape(K, O * C).T @ self._GG.astype(dU.dtype)).reshape(O, C, self.r, self.r)

    def input_transform(self, x, pad, TH, TW):
        return self._input_transform(x, pad, TH, TW)

    def input_adjoint(self, dV, N, H, W, pad, TH, TW):
        return self._input_adjoint(dV, N, H, W, pad, TH, TW)

    def output_transform(self, M, bias, N, OH, OW, TH, TW, relu=False, pool=False, out=None):
        """y[n, o] = A^T M[t] A for every tile, plus bias[o] (``bias`` may be empty), then
        max(y, 0) if ``relu`` and a 2x2 max-pool if ``pool``: M (K, O, N*TH*TW) ->
        y (N, O, OH, OW), or (N, O, OH // 2, OW // 2) pooled; written into ``out`` if given."""
        y = np.empty(output_shape(N, M.shape[1], OH, OW, pool), M.dtype) if out is None else out
        if self._output_kernels is None:
            output_transform_tiles(M, self._out.astype(M.dtype), bias, relu, pool, self.m, OH, OW, TH, TW, y)
        else:
            self._output_kernels[0](M, bias, relu, pool, OH, OW, TH, TW, y)
        return y

    def output_adjoint(self, gy, TH, TW):
        """The adjoint of output_transform (without bias, ReLU or pooling): dM[t] = A g A^T
        for each tile's m x m block g of gy (zero past the edge): gy -> dM (K, O, N*TH*TW)."""
        if self._output_kernels is None:
            return output_adjoint_tiles(gy, self._out_adjoint.astype(gy.dtype), self.m, TH, TW)
        return self._output_kernels[1](gy, TH, TW)


F2x2_3x3 = Transforms("F(2x2, 3x3)", 2, 3, BT, G, AT, input_transform, input_adjoint)
