"""The fastmath flags of the kernels whose loops are long sums (batch-norm statistics, direct
convolutions' dot products).

A strict left-to-right float sum is one long dependency chain that cannot use SIMD; letting
LLVM reassociate it into vector lanes runs 2-3x faster and is, if anything, more accurate
(the partial sums are smaller).  "contract" allows fused multiply-adds.  No NaN/inf flags:
NaNs must still propagate.
"""
SUM_IN_ANY_ORDER = {"reassoc", "contract"}
