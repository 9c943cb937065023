// PDQ, Meta's 256-bit perceptual image hash, computed in the browser.
//
// A port of the reference C++ (facebook/ThreatExchange, pdq/cpp: hashing/pdqhashing.cpp,
// downscaling/downscaling.cpp, hashing/torben.cpp) as the `pdqhash` Python package carries it. The
// goal is bit-for-bit agreement with that package on the same pixels, so every step keeps the
// reference's arithmetic: the C++ works in 32-bit floats, and JavaScript numbers are 64-bit, so each
// float operation here is rounded back with Math.fround (for one +, -, * or / that gives exactly the
// float result, because a double holds more than twice a float's precision).
//
// The steps:
//   1. luma = 0.299 R + 0.587 G + 0.114 B per pixel (transparency composited on white first);
//   2. a "Jarosz" blur: two passes of a box filter along rows then columns, window ceil(dim / 128),
//      which together approximate a tent filter one 64th of the picture wide;
//   3. decimation to 64 x 64 by sampling the blurred picture at the centre of each cell;
//   4. quality (0-100) from the sum of the 64 x 64 picture's gradients;
//   5. a 2-D DCT keeping the 16 x 16 lowest frequencies except the constant one;
//   6. one bit per coefficient: 1 where it is above the median of the 256.
//
// No dependencies, no build step, no network. Exports plain functions on typed arrays.

// ---------------------------------------------------------------- constants of the reference

const LUMA_R = 0.299;
const LUMA_G = 0.587;
const LUMA_B = 0.114;

// Pictures smaller than this in either direction get the all-zero hash and quality 0.
const MIN_HASHABLE_DIM = 5;

// Two row-then-column box passes make the tent filter.
const JAROSZ_PASSES = 2;

const f32 = Math.fround;

// The 16 x 64 DCT-II matrix (rows 1..16 of the 64-point DCT; row 0, the mean, carries no pattern).
// The reference multiplies a float scale by a double cosine and stores the product as float; so do we.
const DCT_MATRIX = (() => {
  const scale = f32(Math.sqrt(2.0 / 64));
  const matrix = new Float32Array(16 * 64);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 64; j++) {
      matrix[i * 64 + j] = scale * Math.cos((Math.PI / 2.0 / 64) * (i + 1) * (2 * j + 1));
    }
  }
  return matrix;
})();

// ---------------------------------------------------------------- step 1: luma

/**
 * Float luma of RGBA pixels (row-major, 4 bytes a pixel, as canvas getImageData gives them, not
 * premultiplied). A pixel that is not opaque is first composited on white, as Firebreak's server-side
 * decoder does, so colours hidden under transparency never reach the hash.
 *
 * The pdqhash package computes the weighted sum in double precision and then stores it as float32;
 * this does the same, so grey pictures come out exactly as there.
 */
export function lumaFromRGBA(rgba, width, height) {
  const n = width * height;
  if (rgba.length < n * 4) throw new RangeError(`expected ${n * 4} bytes of RGBA, got ${rgba.length}`);
  const luma = new Float32Array(n);
  for (let p = 0, q = 0; p < n; p++, q += 4) {
    let r = rgba[q];
    let g = rgba[q + 1];
    let b = rgba[q + 2];
    const a = rgba[q + 3];
    if (a !== 255) {
      // out = c * a/255 + 255 * (1 - a/255), rounded to a byte as an 8-bit compositor would.
      const under = 255 * (255 - a);
      r = Math.round((r * a + under) / 255);
      g = Math.round((g * a + under) / 255);
      b = Math.round((b * a + under) / 255);
    }
    luma[p] = r * LUMA_R + g * LUMA_G + b * LUMA_B; // stored as float32 by the typed array
  }
  return luma;
}

// ---------------------------------------------------------------- step 2: the Jarosz blur

/**
 * Half-window per pass: a 1024-pixel side maps 16 pixels onto one output cell, and two passes of a
 * window of 8 reach across all 16. In general ceil(oldDim / (2 * newDim)).
 */
export function jaroszWindowSize(oldDimension, newDimension) {
  return Math.floor((oldDimension + 2 * newDimension - 1) / (2 * newDimension));
}

/**
 * One box-filter pass along a line of `length` values spaced `stride` apart, from `input` at `start`
 * into `output` at the same offsets. The window is centred (for an even window, one more value on the
 * right) and shrinks at both ends, so each output is the mean of the values it actually covers.
 *
 * Like the reference it keeps a running float sum (add the value entering on the right, subtract the
 * one leaving on the left) rather than summing each window afresh; the rounding of that running sum is
 * part of the result, so the order of operations matters and is kept.
 */
function box1D(input, output, start, length, stride, window) {
  const half = Math.floor((window + 2) / 2); // 7 -> 4, 8 -> 5
  const phase1 = half - 1; // fill the left half of the first window, write nothing
  const phase2 = window - half + 1; // first writes, window still growing
  const phase3 = length - window; // full window sliding along
  const phase4 = half - 1; // last writes, window shrinking on the right
  let left = start;
  let right = start;
  let out = start;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < phase1; i++) {
    sum = f32(sum + input[right]);
    count++;
    right += stride;
  }
  for (let i = 0; i < phase2; i++) {
    sum = f32(sum + input[right]);
    count++;
    output[out] = sum / count;
    right += stride;
    out += stride;
  }
  for (let i = 0; i < phase3; i++) {
    sum = f32(sum + input[right]);
    sum = f32(sum - input[left]);
    output[out] = sum / count;
    left += stride;
    right += stride;
    out += stride;
  }
  for (let i = 0; i < phase4; i++) {
    sum = f32(sum - input[left]);
    count--;
    output[out] = sum / count;
    left += stride;
    out += stride;
  }
}

/**
 * Blur `buffer1` in place (ending there), using `buffer2` as scratch: per pass, rows into buffer2, then
 * columns back into buffer1. `rowWindow` is the window along each row (from the width).
 */
function jaroszFilter(buffer1, buffer2, rows, cols, rowWindow, colWindow, passes) {
  for (let pass = 0; pass < passes; pass++) {
    for (let i = 0; i < rows; i++) box1D(buffer1, buffer2, i * cols, cols, 1, rowWindow);
    for (let j = 0; j < cols; j++) box1D(buffer2, buffer1, j, rows, cols, colWindow);
  }
}

// ---------------------------------------------------------------- step 3: decimation

/** Sample the blurred picture at the centre of each of the 64 x 64 cells. */
function decimateTo64(input, rows, cols) {
  const out = new Float32Array(64 * 64);
  for (let oi = 0; oi < 64; oi++) {
    const ii = Math.floor(((oi + 0.5) * rows) / 64);
    for (let oj = 0; oj < 64; oj++) {
      const ij = Math.floor(((oj + 0.5) * cols) / 64);
      out[oi * 64 + oj] = input[ii * cols + ij];
    }
  }
  return out;
}

// ---------------------------------------------------------------- step 4: quality

/**
 * The reference's heuristic: count significant gradients between neighbouring cells (each difference
 * scaled to 0..100 and truncated to a whole number, so faint ones add nothing), divide by 90, cap at 100.
 * A flat or featureless picture scores low and its hash should not be trusted for matching.
 */
function qualityOf(block64) {
  let gradientSum = 0;
  for (let i = 0; i < 63; i++) {
    for (let j = 0; j < 64; j++) {
      const d = Math.trunc(f32(f32(f32(block64[i * 64 + j] - block64[(i + 1) * 64 + j]) * 100) / 255));
      gradientSum += Math.abs(d);
    }
  }
  for (let i = 0; i < 64; i++) {
    for (let j = 0; j < 63; j++) {
      const d = Math.trunc(f32(f32(f32(block64[i * 64 + j] - block64[i * 64 + j + 1]) * 100) / 255));
      gradientSum += Math.abs(d);
    }
  }
  return Math.min(100, Math.floor(gradientSum / 90));
}

// ---------------------------------------------------------------- step 5: the DCT

/**
 * B = D A D^T with D the 16 x 64 matrix above: only the 16 x 16 coefficients the hash uses. Sums run
 * in float, in the reference's order (k = 0..63), each product rounded before it is added.
 */
function dct64To16(block64) {
  const temp = new Float32Array(16 * 64); // D A
  for (let i = 0; i < 16; i++) {
    const d = i * 64;
    for (let j = 0; j < 64; j++) {
      let sum = 0;
      for (let k = 0; k < 64; k++) sum = f32(sum + f32(DCT_MATRIX[d + k] * block64[k * 64 + j]));
      temp[i * 64 + j] = sum;
    }
  }
  const out = new Float32Array(16 * 16); // (D A) D^T
  for (let i = 0; i < 16; i++) {
    const t = i * 64;
    for (let j = 0; j < 16; j++) {
      const d = j * 64;
      let sum = 0;
      for (let k = 0; k < 64; k++) sum = f32(sum + f32(temp[t + k] * DCT_MATRIX[d + k]));
      out[i * 16 + j] = sum;
    }
  }
  return out;
}

// ---------------------------------------------------------------- step 6: bits

/**
 * Median by Torben Mogensen's method (as the reference uses it; it does not reorder its input and,
 * for an even count, returns the lower middle value). Kept exactly, since which coefficient counts as
 * "the median" decides the bits of the coefficients equal to it.
 */
function torbenMedian(m) {
  const n = m.length;
  let min = m[0];
  let max = m[0];
  for (let i = 1; i < n; i++) {
    if (m[i] < min) min = m[i];
    if (m[i] > max) max = m[i];
  }
  const halfCount = Math.floor((n + 1) / 2);
  let less;
  let greater;
  let equal;
  let guess;
  let maxLessThanGuess;
  let minGreaterThanGuess;
  for (;;) {
    guess = f32((min + max) / 2);
    less = 0;
    greater = 0;
    equal = 0;
    maxLessThanGuess = min;
    minGreaterThanGuess = max;
    for (let i = 0; i < n; i++) {
      const v = m[i];
      if (v < guess) {
        less++;
        if (v > maxLessThanGuess) maxLessThanGuess = v;
      } else if (v > guess) {
        greater++;
        if (v < minGreaterThanGuess) minGreaterThanGuess = v;
      } else {
        equal++;
      }
    }
    if (less <= halfCount && greater <= halfCount) break;
    if (less > greater) max = maxLessThanGuess;
    else min = minGreaterThanGuess;
  }
  if (less >= halfCount) return maxLessThanGuess;
  if (less + equal >= halfCount) return guess;
  return minGreaterThanGuess;
}

/**
 * The hash as 64 hex characters, in the reference's layout: bit k is coefficient (k >> 4, k & 15),
 * and the first hex digit holds bits 255..252 (what numpy.packbits gives for pdqhash's bit vector and
 * what the C++ tool prints), so values compare directly with every other PDQ implementation.
 */
function bitsToHex(coefficients) {
  const median = torbenMedian(coefficients);
  let hex = "";
  for (let byte = 0; byte < 32; byte++) {
    let value = 0;
    for (let t = 0; t < 8; t++) {
      const k = 255 - 8 * byte - t; // most significant bit first
      if (coefficients[k] > median) value |= 0x80 >> t;
    }
    hex += value.toString(16).padStart(2, "0");
  }
  return hex;
}

// ---------------------------------------------------------------- the eight rotations and mirrors

// A rotation or mirror of the picture only transposes the DCT and flips the sign of odd frequencies,
// so the seven other hashes come from the same 16 x 16 coefficients for almost nothing. Each entry:
// [transpose?, sign for (i, j)], in the order of pdqhash.compute_dihedral.
const DIHEDRAL = [
  ["original", false, () => 1],
  ["rotate90", true, (i, j) => (j & 1 ? 1 : -1)],
  ["rotate180", false, (i, j) => ((i + j) & 1 ? -1 : 1)],
  ["rotate270", true, (i) => (i & 1 ? 1 : -1)],
  ["flip_x", false, (i) => (i & 1 ? 1 : -1)],
  ["flip_y", false, (i, j) => (j & 1 ? 1 : -1)],
  ["flip_plus1", true, () => 1],
  ["flip_minus1", true, (i, j) => ((i + j) & 1 ? -1 : 1)],
];

export const DIHEDRAL_NAMES = DIHEDRAL.map(([name]) => name);

function dihedralHexes(coefficients) {
  return DIHEDRAL.map(([, transpose, sign]) => {
    const out = new Float32Array(256);
    for (let i = 0; i < 16; i++) {
      for (let j = 0; j < 16; j++) {
        out[transpose ? j * 16 + i : i * 16 + j] = sign(i, j) * coefficients[i * 16 + j];
      }
    }
    return bitsToHex(out);
  });
}

// ---------------------------------------------------------------- entry points

const ZERO_HASH = "0".repeat(64);

/** Steps 2-5 on a float luma plane; `luma` is overwritten (it becomes the blurred picture). */
function coefficientsFromLuma(luma, width, height, { shortcut64 }) {
  let block64;
  if (shortcut64 && width === 64 && height === 64) {
    // The reference skips the blur for pictures already 64 x 64 (video frames scaled by ffmpeg).
    block64 = Float32Array.from(luma);
  } else {
    const scratch = new Float32Array(width * height);
    jaroszFilter(
      luma,
      scratch,
      height,
      width,
      jaroszWindowSize(width, 64),
      jaroszWindowSize(height, 64),
      JAROSZ_PASSES,
    );
    block64 = decimateTo64(luma, height, width);
  }
  return { quality: qualityOf(block64), coefficients: dct64To16(block64) };
}

/**
 * PDQ of a float luma plane (row-major, width x height). The plane is used as working memory and is
 * changed. Returns {hash, quality} and, with {dihedral: true}, `dihedral`: the eight hashes of the
 * picture's rotations and mirrors, original first, in DIHEDRAL_NAMES order.
 */
export function pdqFromLuma(luma, width, height, { dihedral = false } = {}) {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new RangeError(`impossible dimensions ${width} x ${height}`);
  }
  if (luma.length !== width * height) {
    throw new RangeError(`expected ${width * height} luma values, got ${luma.length}`);
  }
  if (width < MIN_HASHABLE_DIM || height < MIN_HASHABLE_DIM) {
    const result = { hash: ZERO_HASH, quality: 0 };
    if (dihedral) result.dihedral = DIHEDRAL.map(() => ZERO_HASH);
    return result;
  }
  if (dihedral && width === 64 && height === 64) {
    // The reference's dihedral path never takes the 64 x 64 shortcut, and the blur, even with a window
    // of one, rounds a little; compute both ways so each output matches its reference function.
    const plain = pdqFromLuma(Float32Array.from(luma), width, height);
    const { coefficients } = coefficientsFromLuma(luma, width, height, { shortcut64: false });
    return { ...plain, dihedral: dihedralHexes(coefficients) };
  }
  const { quality, coefficients } = coefficientsFromLuma(luma, width, height, { shortcut64: !dihedral });
  const result = { hash: bitsToHex(coefficients), quality };
  if (dihedral) result.dihedral = dihedralHexes(coefficients);
  return result;
}

/** PDQ of RGBA pixels (as from canvas getImageData). See pdqFromLuma for the result. */
export function pdqFromRGBA(rgba, width, height, options = {}) {
  return pdqFromLuma(lumaFromRGBA(rgba, width, height), width, height, options);
}

/** Bits that differ between two 64-hex hashes. */
export function hammingDistance(a, b) {
  if (a.length !== 64 || b.length !== 64) throw new RangeError("PDQ hashes are 64 hex characters");
  let distance = 0;
  for (let i = 0; i < 64; i += 8) {
    let x = (parseInt(a.slice(i, i + 8), 16) ^ parseInt(b.slice(i, i + 8), 16)) >>> 0;
    while (x) {
      x &= x - 1;
      distance++;
    }
  }
  return distance;
}
