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
next by 6 - m rows and columns; V and M are (36, C or O, T).  F(2x2, 5x5)'s output
transform and adjoint are winograd.py's kernels for any tile; F(4x4, 3x3)'s are written
out below as two separable passes of sums and differences, a third of the arithmetic.
"""
import numpy as np
from numba import njit, prange

from .winograd import Transforms, gather_tiles, place_tiles

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


@njit(parallel=True, cache=True)
def output_transform_4x4(M, bias, relu, pool, OH, OW, TH, TW, y):
    """F(4x4, 3x3)'s output transform, y = A^T M[t] A per tile, as two passes of sums and
    differences: R = A^T M (each column of the 6x6 tile), then R A (each row of R).

    With s = m1 + m2, d = m1 - m2, S = m3 + m4, D = m3 - m4, A^T's four rows applied to
    m0..m5 are m0 + s + S, d + 2D, s + 4S and d + 8D + m5: 10 operations for 6 values, so
    100 a tile where the matrix A^T kron A^T (the generic kernel) costs 324."""
    O, T = M.shape[1], M.shape[2]
    two, four, eight = M.dtype.type(2), M.dtype.type(4), M.dtype.type(8)
    for o in prange(O):
        b = bias[o] if bias.shape[0] == O else M.dtype.type(0)
        R = np.empty((24, T), M.dtype)                  # R[6a + j]: row a of A^T M, column j
        for j in range(6):
            m0, m1, m2, m3, m4, m5 = M[j, o], M[6 + j, o], M[12 + j, o], M[18 + j, o], M[24 + j, o], M[30 + j, o]
            r0, r1, r2, r3 = R[j], R[6 + j], R[12 + j], R[18 + j]
            for t in range(T):
                s, d, S, D = m1[t] + m2[t], m1[t] - m2[t], m3[t] + m4[t], m3[t] - m4[t]
                r0[t], r1[t], r2[t], r3[t] = m0[t] + s + S, d + two * D, s + four * S, d + eight * D + m5[t]
        q = np.empty((16, T), M.dtype)                  # q[4a + b]: output (a, b) of each tile
        for a in range(4):
            m0, m1, m2, m3, m4, m5 = R[6 * a], R[6 * a + 1], R[6 * a + 2], R[6 * a + 3], R[6 * a + 4], R[6 * a + 5]
            q0, q1, q2, q3 = q[4 * a], q[4 * a + 1], q[4 * a + 2], q[4 * a + 3]
            for t in range(T):
                s, d, S, D = m1[t] + m2[t], m1[t] - m2[t], m3[t] + m4[t], m3[t] - m4[t]
                q0[t], q1[t], q2[t], q3[t] = m0[t] + s + S + b, d + two * D + b, s + four * S + b, d + eight * D + m5[t] + b
        place_tiles(q, y, o, relu, pool, 4, OH, OW, TH, TW)


@njit(parallel=True, cache=True)
def output_adjoint_4x4(gy, TH, TW):
    """The adjoint of output_transform_4x4, dM[t] = A g A^T per 4x4 block g of gy, as two
    passes: Z = g A^T (each row of g), then A Z (each column of Z).

    A's six rows applied to g0..g3 are g0, e + f, e - f, E + F, E - F, g3 with e = g0 + g2,
    f = g1 + g3, E = g0 + 4 g2, F = 2 g1 + 8 g3."""
    N, O = gy.shape[:2]
    T = N * TH * TW
    two, four, eight = gy.dtype.type(2), gy.dtype.type(4), gy.dtype.type(8)
    dM = np.empty((36, O, T), gy.dtype)
    for o in prange(O):
        q = gather_tiles(gy, o, 4, TH, TW)              # q[4a + b]: gradient of output (a, b)
        Z = np.empty((24, T), gy.dtype)                 # Z[6a + j]: row a of g A^T, column j
        for a in range(4):
            g0, g1, g2, g3 = q[4 * a], q[4 * a + 1], q[4 * a + 2], q[4 * a + 3]
            z0, z1, z2, z3, z4, z5 = Z[6 * a], Z[6 * a + 1], Z[6 * a + 2], Z[6 * a + 3], Z[6 * a + 4], Z[6 * a + 5]
            for t in range(T):
                e, f, E, F = g0[t] + g2[t], g1[t] + g3[t], g0[t] + four * g2[t], two * g1[t] + eight * g3[t]
                z0[t], z1[t], z2[t], z3[t], z4[t], z5[t] = g0[t], e + f, e - f, E + F, E - F, g3[t]
        for j in range(6):
            g0, g1, g2, g3 = Z[j], Z[6 + j], Z[12 + j], Z[18 + j]
            z0, z1, z2, z3, z4, z5 = dM[j, o], dM[6 + j, o], dM[12 + j, o], dM[18 + j, o], dM[24 + j, o], dM[30 + j, o]
            for t in range(T):
                e, f, E, F = g0[t] + g2[t], g1[t] + g3[t], g0[t] + four * g2[t], two * g1[t] + eight * g3[t]
                z0[t], z1[t], z2[t], z3[t], z4[t], z5[t] = g0[t], e + f, e - f, E + F, E - F, g3[t]
    return dM


def _with_step(m):
    """input_transform and input_adjoint for tiles m apart, with winograd.py's signatures."""
    return (lambda x, pad, TH, TW: input_transform(x, pad, TH, TW, m),
            lambda dV, N, H, W, pad, TH, TW: input_adjoint(dV, N, H, W, pad, TH, TW, m))


F2x2_5x5 = Transforms("F(2x2, 5x5)", 2, 5, BT, _SCALES @ _evaluation(5), _evaluation(2).T, *_with_step(2))
F4x4_3x3 = Transforms("F(4x4, 3x3)", 4, 3, BT, _SCALES @ _evaluation(3), _evaluation(4).T, *_with_step(4),
                    output_kernels=(output_transform_4x4, output_adjoint_4x4))
