// MD5 (RFC 1321), incremental, for hashing files in the browser.
//
// WebCrypto offers SHA-256 but not MD5, and many hash lists (NCMEC's, older industry sets) still carry
// MD5, so Firebreak computes it here. MD5 is broken for collision resistance; it is used only to find
// known files, never to prove anything. No dependencies, no network.
//
// Use:
//   const md5 = new Md5();
//   md5.update(bytes1);      // Uint8Array, any length, as many times as needed
//   md5.update(bytes2);
//   md5.hexdigest();         // 32 lowercase hex characters; the object cannot be updated after this

// T[i] = floor(2^32 * |sin(i + 1)|), written out (RFC 1321, section 3.4) so that no floating-point
// library can change them.
const T = new Int32Array([
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
  0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
  0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
  0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
]);

// Left-rotation amounts, four per round.
const S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

export class Md5 {
  constructor() {
    // Chaining variables A, B, C, D (RFC 1321, section 3.3).
    this._state = new Int32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]);
    this._block = new Uint8Array(64); // bytes waiting for a full block
    this._blockWords = new Int32Array(16);
    this._pending = 0; // how many bytes of _block are filled
    this._length = 0; // bytes seen; a double counts exactly to 2^53, far beyond any file
    this._done = false;
  }

  /** Add bytes (a Uint8Array, or an ArrayBuffer). Returns this, for chaining. */
  update(data) {
    if (this._done) throw new Error("Md5: update() after hexdigest()");
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    let offset = 0;
    this._length += bytes.length;
    if (this._pending > 0) {
      const take = Math.min(64 - this._pending, bytes.length);
      this._block.set(bytes.subarray(0, take), this._pending);
      this._pending += take;
      offset = take;
      if (this._pending < 64) return this;
      this._compress(this._block, 0);
      this._pending = 0;
    }
    for (; offset + 64 <= bytes.length; offset += 64) this._compress(bytes, offset);
    if (offset < bytes.length) {
      this._block.set(bytes.subarray(offset), 0);
      this._pending = bytes.length - offset;
    }
    return this;
  }

  /** Finish: pad with 0x80, zeros and the length in bits (64-bit little-endian). */
  hexdigest() {
    if (this._done) throw new Error("Md5: hexdigest() called twice");
    const bits = this._length * 8;
    const padLength = ((this._pending < 56 ? 56 : 120) - this._pending);
    const tail = new Uint8Array(padLength + 8);
    tail[0] = 0x80;
    // Split the bit count into two 32-bit halves without bitwise operators, which would cut it to 32 bits.
    const low = bits % 0x100000000;
    const high = Math.floor(bits / 0x100000000);
    for (let i = 0; i < 4; i++) {
      tail[padLength + i] = (low >>> (8 * i)) & 0xff;
      tail[padLength + 4 + i] = (high >>> (8 * i)) & 0xff;
    }
    this._length -= tail.length; // padding is not message
    this.update(tail);
    this._done = true;
    let hex = "";
    for (const word of this._state) {
      for (let i = 0; i < 4; i++) hex += ((word >>> (8 * i)) & 0xff).toString(16).padStart(2, "0");
    }
    return hex;
  }

  /** One 64-byte block (RFC 1321, section 3.4), read little-endian from bytes[offset..offset+63]. */
  _compress(bytes, offset) {
    const x = this._blockWords;
    for (let i = 0; i < 16; i++) {
      const o = offset + 4 * i;
      x[i] = bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24);
    }
    const state = this._state;
    let a = state[0];
    let b = state[1];
    let c = state[2];
    let d = state[3];
    for (let i = 0; i < 64; i++) {
      const round = i >> 4;
      let f;
      let g;
      if (round === 0) {
        f = (b & c) | (~b & d); // F
        g = i;
      } else if (round === 1) {
        f = (d & b) | (~d & c); // G
        g = (5 * i + 1) & 15;
      } else if (round === 2) {
        f = b ^ c ^ d; // H
        g = (3 * i + 5) & 15;
      } else {
        f = c ^ (b | ~d); // I
        g = (7 * i) & 15;
      }
      // "| 0" keeps every sum in 32-bit two's complement, as the RFC's unsigned words wrap.
      const sum = (a + f + T[i] + x[g]) | 0;
      const s = S[(round << 2) | (i & 3)];
      a = d;
      d = c;
      c = b;
      b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
    }
    state[0] = (state[0] + a) | 0;
    state[1] = (state[1] + b) | 0;
    state[2] = (state[2] + c) | 0;
    state[3] = (state[3] + d) | 0;
  }
}

/** MD5 of one buffer, as 32 lowercase hex characters. */
export function md5Hex(data) {
  return new Md5().update(data).hexdigest();
}
