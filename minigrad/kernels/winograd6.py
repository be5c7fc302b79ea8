"""Winograd with 6x6 input tiles: F(2x2, 5x5) and F(4x4, 3x3).

The same algorithm as winograd.py (read that file first) with a larger tile: each
m x m block of outputs of an r x r filter comes from a 6x6 input tile (m + r - 1 = 6),

    Y = A^T [ (G g G^T) * (B^T d B) ] A

with 36 multiplications per channel pair where the direct sum needs m*m*r*r:

    F(2x2, 5x5)   36 for 4 outputs (direct: 100): the 36 GEMMs do 36% of im2col's work;
    F(4x4, 3x3)   36 for 16 outputs (direct: 144): 25% of im2col's work, 56% of F(2x2, 3x3)'s,
                  when the output is a whole number of 4x4 tiles (20x20, 24x24: yes; 5x5: no).

Both come from evaluating polynomials at the points 0, 1, -1, 2, -2 and infinity (Lavin &
Gray, 2015), so they share B^T, which interpolates; A^T evaluates the m-tap output
polynomial there and G the r-tap filter polynomial (scaled by 1/4, -1/6, -1/6, 1/24,
1/24, 1 so that B^T is integer).  With the points at most 2 in size, float32 rounding
stays within about 1e-6 (F(2x2, 5x5)) and 1e-5 (F(4x4, 3x3)) of the outputs' scale.

    B^T = [[4,  0, -5,  0, 1, 0],   A^T (m = 2) = [[1, 1,  1, 1,  1, 0],
           [0, -4, -4,  1, 1, 0],                  [0, 1, -1, 2, -2, 1]]
           [0,  4, -4, -1, 1, 0],
           [0, -2, -1,  2, 1, 0],   A^T (m = 4) = [[1, 1,  1, 1,  1, 0],
           [0,  2, -1, -2, 1, 0],                  [0, 1, -1, 2, -2, 0],
           [0,  4,  0, -5, 0, 1]]                  [0, 1,  1, 4,  4, 0],
                                                   [0, 1, -1, 8, -8, 1]]

Layouts as in winograd.py with tiles m apart: tile t = (n*TH + ti)*TW + tj covers
outputs m*ti.. and m*tj.., so its input tile starts at padded row m*ti and overlaps the
next by 6 - m rows and columns; V and M are (36, C or O, T).  The output transform and
its adjoint are winograd.py's m x m tile kernels.
"""
import numpy as np
from numba import njit, prange

from .winograd import Transforms

BT = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
               [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=np.float64)
_POINTS = (0, 1, -1, 2, -2)
_SCALES = np.diag([1 / 4, -1 / 6, -1 / 6, 1 / 24, 1 / 24, 1])


def _evaluation(taps):
    """(6, taps): a polynomial of ``taps`` coefficients evaluated at the five points, and its
    leading coefficient (the point at infinity)."""
    return np.array([[p ** k for k in range(taps)] for p in _POINTS] + [[0] * (taps - 1) + [1]], dtype=np.float64)


@njit(parallel=True, cache=True)
def input_transform(x, pad, TH, TW, m):
    """V[xi, c, t] = (B^T d B)[xi] for every 6x6 input tile d, m apart: x (N, C, H, W) -> (36, C, N*TH*TW)."""
    N, C, H, W = x.shape
    Hb, Wb = m * TH + 6 - m, m * TW + 6 - m             # >= H + 2*pad: the image always fits
    V = np.empty((36, C, N * TH * TW), x.dtype)
    two, four, five = x.dtype.type(2), x.dtype.type(4), x.dtype.type(5)   # a bare 4 would compute in float64
    for c in prange(C):
        buf = np.zeros((Hb, Wb), x.dtype)
        r = np.empty((6, Wb), x.dtype)
        for n in range(N):
            buf[pad:pad + H, pad:pad + W] = x[n, c]
            for ti in range(TH):
                d = buf[m * ti:m * ti + 6]
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
                        a0, a1, a2 = r[i, m * tj], r[i, m * tj + 1], r[i, m * tj + 2]
                        a3, a4, a5 = r[i, m * tj + 3], r[i, m * tj + 4], r[i, m * tj + 5]
                        V[6 * i + 0, c, t0 + tj] = four * a0 - five * a2 + a4
                        V[6 * i + 1, c, t0 + tj] = a4 + a3 - four * (a1 + a2)
                        V[6 * i + 2, c, t0 + tj] = a4 - a3 + four * (a1 - a2)
                        V[6 * i + 3, c, t0 + tj] = a4 - a2 + two * (a3 - a1)
                        V[6 * i + 4, c, t0 + tj] = a4 - a2 - two * (a3 - a1)
                        V[6 * i + 5, c, t0 + tj] = four * a1 - five * a3 + a5
    return V


@njit(parallel=True, cache=True)
def input_adjoint(dV, N, H, W, pad, TH, TW, m):
    """The adjoint of input_transform: dx (N, C, H, W) gets B dV[t] B^T added at each tile."""
    C = dV.shape[1]
    Hb, Wb = m * TH + 6 - m, m * TW + 6 - m
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
                for i in range(6):                      # r = dV B^T, tiles overlapping by 6 - m columns
                    for tj in range(TW):
                        v0, v1, v2 = dV[6 * i + 0, c, t0 + tj], dV[6 * i + 1, c, t0 + tj], dV[6 * i + 2, c, t0 + tj]
                        v3, v4, v5 = dV[6 * i + 3, c, t0 + tj], dV[6 * i + 4, c, t0 + tj], dV[6 * i + 5, c, t0 + tj]
                        j = m * tj
                        r[i, j + 0] += four * v0
                        r[i, j + 1] += four * (v2 - v1 + v5) + two * (v4 - v3)
                        r[i, j + 2] -= five * v0 + four * (v1 + v2) + v3 + v4
                        r[i, j + 3] += v1 - v2 + two * (v3 - v4) - five * v5
                        r[i, j + 4] += v0 + v1 + v2 + v3 + v4
                        r[i, j + 5] += v5
                d = buf[m * ti:m * ti + 6]
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


def _with_step(m):
    """input_transform and input_adjoint for tiles m apart, with winograd.py's signatures."""
    return (lambda x, pad, TH, TW: input_transform(x, pad, TH, TW, m),
            lambda dV, N, H, W, pad, TH, TW: input_adjoint(dV, N, H, W, pad, TH, TW, m))


F2x2_5x5 = Transforms("F(2x2, 5x5)", 2, 5, BT, _SCALES @ _evaluation(5), _evaluation(2).T, *_with_step(2))
F4x4_3x3 = Transforms("F(4x4, 3x3)", 4, 3, BT, _SCALES @ _evaluation(3), _evaluation(4).T, *_with_step(4))
