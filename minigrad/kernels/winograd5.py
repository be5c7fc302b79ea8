"""Winograd F(2x2, 5x5): the tile transforms of a 5x5, stride-1 convolution.

The same algorithm as winograd.py (read that file first) with a larger filter: each
2x2 block of outputs comes from a 6x6 input tile, and

    Y = A^T [ (G g G^T) * (B^T d B) ] A

does with 36 multiplications per channel pair what the direct sum does with
2*2*25 = 100, so the 36 GEMMs do 36% of im2col's work.  The matrices come from
evaluating polynomials at the points 0, 1, -1, 2, -2 and infinity (Lavin & Gray,
2015): A^T evaluates the 2-tap output polynomial there, G the 5-tap filter
polynomial (scaled by 1/4, -1/6, -1/6, 1/24, 1/24, 1 so that B^T is integer), and
B^T interpolates.  These six points and this B^T are also those of the common
F(4x4, 3x3); with five of the points at most 2 in size float32 rounding stays
within about 1e-6 of the values' scale.

    B^T = [[4,  0, -5,  0, 1, 0],   A^T = [[1, 1,  1, 1,  1, 0],
           [0, -4, -4,  1, 1, 0],          [0, 1, -1, 2, -2, 1]]
           [0,  4, -4, -1, 1, 0],
           [0, -2, -1,  2, 1, 0],
           [0,  2, -1, -2, 1, 0],
           [0,  4,  0, -5, 0, 1]]

Layouts as in winograd.py: tile t = (n*TH + ti)*TW + tj covers outputs 2*ti, 2*ti+1
and 2*tj, 2*tj+1, so its input tile starts at padded row 2*ti and overlaps the next
by 4 rows and columns; V and M are (36, C or O, T).  The output transform and its
adjoint are winograd.py's 2x2-tile kernels with this A^T.
"""
import numpy as np
from numba import njit, prange

from .winograd import filter_adjoint_with, filter_transform_with, output_adjoint_2x2, output_transform_2x2
from .winograd import tile_counts  # noqa: F401  (the same 2x2 tiles)

BT = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
               [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=np.float64)
_POINTS = (0, 1, -1, 2, -2)
G = np.diag([1 / 4, -1 / 6, -1 / 6, 1 / 24, 1 / 24, 1]) @ np.array(
    [[p ** k for k in range(5)] for p in _POINTS] + [[0, 0, 0, 0, 1]], dtype=np.float64)
AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 1]], dtype=np.float64)

#: Rows of V and M: one GEMM each.
TILE = 36

_GG = np.kron(G, G)
_AT_KRON_AT = np.kron(AT, AT)
_A_KRON_A = np.ascontiguousarray(_AT_KRON_AT.T)


def filter_transform(w):
    """U = G g G^T for every filter: w (O, C, 5, 5) -> U (36, O, C), in w's dtype."""
    return filter_transform_with(w, _GG)


def filter_adjoint(dU):
    """The adjoint of filter_transform: dU (36, O, C) -> dw = G^T dU G, (O, C, 5, 5)."""
    return filter_adjoint_with(dU, _GG)


def output_transform(M, bias, N, OH, OW, TH, TW):
    """y[n, o] = A^T M[t] A for every tile, plus bias[o]: M (36, O, N*TH*TW) -> y (N, O, OH, OW)."""
    return output_transform_2x2(M, _AT_KRON_AT.astype(M.dtype), bias, N, OH, OW, TH, TW)


def output_adjoint(gy, TH, TW):
    """The adjoint of output_transform (without the bias): gy (N, O, OH, OW) -> dM (36, O, N*TH*TW)."""
    return output_adjoint_2x2(gy, _A_KRON_A.astype(gy.dtype), TH, TW)


@njit(parallel=True, cache=True)
def input_transform(x, pad, TH, TW):
    """V[xi, c, t] = (B^T d B)[xi] for every 6x6 input tile d: x (N, C, H, W) -> (36, C, N*TH*TW)."""
    N, C, H, W = x.shape
    Hb, Wb = 2 * TH + 4, 2 * TW + 4                     # >= H + 2*pad: the image always fits
    V = np.empty((36, C, N * TH * TW), x.dtype)
    two, four, five = x.dtype.type(2), x.dtype.type(4), x.dtype.type(5)   # a bare 4 would compute in float64
    for c in prange(C):
        buf = np.zeros((Hb, Wb), x.dtype)
        r = np.empty((6, Wb), x.dtype)
        for n in range(N):
            buf[pad:pad + H, pad:pad + W] = x[n, c]
            for ti in range(TH):
                d = buf[2 * ti:2 * ti + 6]
                for j in range(Wb):                     # r = B^T d, for a whole row of tiles
                    d0, d1, d2, d3, d4, d5 = d[0, j], d[1, j], d[2, j], d[3, j], d[4, j], d[5, j]
                    r[0, j] = four * d0 - five * d2 + d4
                    r[1, j] = d4 + d3 - four * (d1 + d2)
                    r[2, j] = d4 - d3 + four * (d1 - d2)
                    r[3, j] = d4 - d2 + two * (d3 - d1)
                    r[4, j] = d4 - d2 - two * (d3 - d1)
                    r[5, j] = four * d1 - five * d3 + d5
                t0 = (n * TH + ti) * TW
                for i in range(6):                      # V = r B, tile by tile
                    for tj in range(TW):
                        a0, a1, a2 = r[i, 2 * tj], r[i, 2 * tj + 1], r[i, 2 * tj + 2]
                        a3, a4, a5 = r[i, 2 * tj + 3], r[i, 2 * tj + 4], r[i, 2 * tj + 5]
                        V[6 * i + 0, c, t0 + tj] = four * a0 - five * a2 + a4
                        V[6 * i + 1, c, t0 + tj] = a4 + a3 - four * (a1 + a2)
                        V[6 * i + 2, c, t0 + tj] = a4 - a3 + four * (a1 - a2)
                        V[6 * i + 3, c, t0 + tj] = a4 - a2 + two * (a3 - a1)
                        V[6 * i + 4, c, t0 + tj] = a4 - a2 - two * (a3 - a1)
                        V[6 * i + 5, c, t0 + tj] = four * a1 - five * a3 + a5
    return V


@njit(parallel=True, cache=True)
def input_adjoint(dV, N, H, W, pad, TH, TW):
    """The adjoint of input_transform: dx (N, C, H, W) gets B dV[t] B^T added at each tile."""
    C = dV.shape[1]
    Hb, Wb = 2 * TH + 4, 2 * TW + 4
    dx = np.empty((N, C, H, W), dV.dtype)
    two, four, five = dV.dtype.type(2), dV.dtype.type(4), dV.dtype.type(5)
    for c in prange(C):
        buf = np.empty((Hb, Wb), dV.dtype)
        r = np.empty((6, Wb), dV.dtype)
        for n in range(N):
            buf[:] = 0
            for ti in range(TH):
                t0 = (n * TH + ti) * TW
                r[:] = 0
                for i in range(6):                      # r = dV B^T, tiles overlapping by 4 columns
                    for tj in range(TW):
                        v0, v1, v2 = dV[6 * i + 0, c, t0 + tj], dV[6 * i + 1, c, t0 + tj], dV[6 * i + 2, c, t0 + tj]
                        v3, v4, v5 = dV[6 * i + 3, c, t0 + tj], dV[6 * i + 4, c, t0 + tj], dV[6 * i + 5, c, t0 + tj]
                        j = 2 * tj
                        r[i, j + 0] += four * v0
                        r[i, j + 1] += four * (v2 - v1 + v5) + two * (v4 - v3)
                        r[i, j + 2] -= five * v0 + four * (v1 + v2) + v3 + v4
                        r[i, j + 3] += v1 - v2 + two * (v3 - v4) - five * v5
                        r[i, j + 4] += v0 + v1 + v2 + v3 + v4
                        r[i, j + 5] += v5
                d = buf[2 * ti:2 * ti + 6]
                for j in range(Wb):                     # d += B r, for the whole row of tiles
                    v0, v1, v2, v3, v4, v5 = r[0, j], r[1, j], r[2, j], r[3, j], r[4, j], r[5, j]
                    d[0, j] += four * v0
                    d[1, j] += four * (v2 - v1 + v5) + two * (v4 - v3)
                    d[2, j] -= five * v0 + four * (v1 + v2) + v3 + v4
                    d[3, j] += v1 - v2 + two * (v3 - v4) - five * v5
                    d[4, j] += v0 + v1 + v2 + v3 + v4
                    d[5, j] += v5
            dx[n, c] = buf[pad:pad + H, pad:pad + W]
    return dx
