"""Compiled bit kernels (numba, one core, the GIL released): the hardware popcount, which the matching layer's
Hamming index uses too, and the descriptor matcher of `keypoints.verify`.

Descriptors are ``(n, 4)`` ``uint64`` rows here: an ORB descriptor's 32 bytes read as four words (the popcount of an
XOR does not care how the bytes are grouped).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt
from numba.core import types
from numba.extending import intrinsic

# llvmlite's IR builder carries no type information; it is only used to emit one instruction.
ir: Any = importlib.import_module("llvmlite.ir")

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F = TypeVar("F", bound=Callable[..., object])


def jit(fn: F) -> F:
    return cast(F, numba.njit(cache=True, nogil=True)(fn))


def _popcount_codegen(typingctx: Any, x: Any) -> Any:
    sig = types.uint64(types.uint64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        fn = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(fn, args)

    return sig, codegen


# Hardware popcount: numba does not expose it, LLVM has it. `matching._hamming`'s kernels inline it, and numba's
# on-disk cache keys a kernel on its own file only: a change here must also touch `_hamming.py`, or its cached
# kernels keep the old code.
popcount = cast(Callable[[np.uint64], np.uint64], intrinsic(_popcount_codegen))

# Larger than any distance between two 256-bit descriptors: "no second neighbour".
_FAR = 1 << 30


@jit
def ratio_pairs(query: U64, reference: U64, max_distance: float, ratio: float) -> tuple[I64, I64]:
    """Lowe's pairs, each reference row used once: (query rows, reference rows).

    For each query row, its nearest reference row by Hamming distance, kept when that distance is at most
    `max_distance` and under `ratio` times the second nearest's (with one reference row there is no second, and
    no test). A reference row claimed by several queries goes to the nearest (the first in query order on a
    tie). Pairs come in the order their reference row was first claimed: the order OpenCV's brute-force
    `knnMatch` and a dictionary gave before, so RANSAC draws from the same sequence.
    """
    n, m = query.shape[0], reference.shape[0]
    owner = np.full(m, -1, np.int64)
    owner_distance = np.zeros(m, np.int64)
    claimed = np.empty(m, np.int64)
    count = 0
    for i in range(n):
        q0, q1, q2, q3 = query[i, 0], query[i, 1], query[i, 2], query[i, 3]
        first, second, nearest = np.int64(_FAR), np.int64(_FAR), -1
        for j in range(m):
            distance = np.int64(popcount(q0 ^ reference[j, 0]) + popcount(q1 ^ reference[j, 1])
                                + popcount(q2 ^ reference[j, 2]) + popcount(q3 ^ reference[j, 3]))
            if distance < first:
                second, first, nearest = first, distance, j
            elif distance < second:
                second = distance
        if nearest < 0 or first > max_distance or (second < _FAR and first >= ratio * second):
            continue
        if owner[nearest] < 0:
            owner[nearest] = i
            owner_distance[nearest] = first
            claimed[count] = nearest
            count += 1
        elif first < owner_distance[nearest]:
            owner[nearest] = i
            owner_distance[nearest] = first
    references = claimed[:count].copy()
    return owner[references], references


def descriptor_words(descriptors: npt.NDArray[np.uint8]) -> U64:
    """A ``(n, 32)`` uint8 descriptor array as ``(n, 4)`` uint64 rows (a view where it can be)."""
    return np.ascontiguousarray(descriptors, dtype=np.uint8).view(np.uint64).reshape(-1, 4)
