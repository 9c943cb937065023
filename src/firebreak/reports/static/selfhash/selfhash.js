// Hash a file on the person's own device: SHA-256, MD5 and PDQ (per second of video where the browser
// can play it). Nothing here sends anything anywhere: no fetch, no XMLHttpRequest, no beacon, no
// worker that could. The page that uses this decides what to send, and should send only the result.
//
//   import { hashFile } from "./selfhash.js";
//   const result = await hashFile(file);
//   // {kind, mime, size, sha256, md5, pdq: {hash, quality} | null, frames: [{time, hash, quality}] | null,
//   //  framesCapped, width, height, notes: [...]}
//
// The picture is decoded by the browser itself (createImageBitmap / <video>), with no colour
// conversion and with the EXIF orientation applied, and hashed at its full decoded size, which is what
// the pdqhash package does with a decoded picture. See docs/selfhash.md for how well the two agree.

import { pdqFromRGBA } from "./pdq.js";
import { Md5 } from "./md5.js";

export { pdqFromRGBA, pdqFromLuma, hammingDistance, DIHEDRAL_NAMES } from "./pdq.js";
export { Md5, md5Hex } from "./md5.js";

/** What one file may cost the device. */
export const LIMITS = Object.freeze({
  // SHA-256 comes from WebCrypto, which only digests a whole buffer, so the file is read into memory once.
  maxFileBytes: 1024 * 1024 * 1024,
  // Pictures above this are not PDQ-hashed (the float buffers alone would need 8 bytes a pixel);
  // the same limit as Firebreak's server-side decoder.
  maxPixels: 50_000_000,
  // Per-frame PDQ of videos: at most this many frames, one every `frameStep` seconds.
  maxFrames: 120,
  frameStep: 1,
  // How long a video may take to load or to seek to one frame before we give up on frames.
  videoTimeoutMs: 15_000,
  // MD5 runs over slices this large, letting the page breathe (and show progress) in between.
  chunkBytes: 4 * 1024 * 1024,
});

// How long to wait, after a seek, for the browser to present the new frame before drawing anyway.
const FRAME_WAIT_MS = 1000;

const BITMAP_OPTIONS = Object.freeze({
  colorSpaceConversion: "none", // hash the stored pixel values, as the server does (it ignores ICC profiles)
  premultiplyAlpha: "none",
  imageOrientation: "from-image", // apply EXIF orientation: hash the picture as people see it
});

// ---------------------------------------------------------------- what kind of file

const IMAGE_BRANDS = new Set(["heic", "heix", "heim", "heis", "hevc", "mif1", "msf1", "avif", "avis"]);

/** "image", "video" or "other", from the first bytes (the MIME type a browser guesses is only a hint). */
export function sniffKind(head, mime = "") {
  const b = head;
  const ascii = (start, end) => String.fromCharCode(...b.subarray(start, end));
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image"; // JPEG
  if (b.length >= 8 && ascii(1, 4) === "PNG" && b[0] === 0x89) return "image";
  if (b.length >= 6 && ascii(0, 4) === "GIF8") return "image";
  if (b.length >= 2 && ascii(0, 2) === "BM") return "image";
  if (b.length >= 12 && ascii(0, 4) === "RIFF") {
    if (ascii(8, 12) === "WEBP") return "image";
    if (ascii(8, 12) === "AVI ") return "video";
  }
  if (b.length >= 12 && ascii(4, 8) === "ftyp") return IMAGE_BRANDS.has(ascii(8, 12)) ? "image" : "video";
  if (b.length >= 4 && b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return "video"; // WebM, MKV
  if (mime.startsWith("image/")) return "image";
  if (mime.startsWith("video/")) return "video";
  return "other";
}

// ---------------------------------------------------------------- exact hashes

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function nextTask() {
  // Let the page repaint and handle input between slices of work.
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** SHA-256 (WebCrypto) and MD5 (md5.js) of the bytes. */
async function exactHashes(bytes, onProgress) {
  if (!globalThis.crypto || !globalThis.crypto.subtle) {
    // WebCrypto exists only in secure contexts: https, or http on localhost / 127.0.0.1.
    throw new Error("SHA-256 needs a secure context (https or localhost)");
  }
  const sha256 = hex(await crypto.subtle.digest("SHA-256", bytes));
  const md5 = new Md5();
  const view = new Uint8Array(bytes);
  for (let offset = 0; offset < view.length; offset += LIMITS.chunkBytes) {
    md5.update(view.subarray(offset, offset + LIMITS.chunkBytes));
    onProgress({ stage: "md5", done: Math.min(view.length, offset + LIMITS.chunkBytes), total: view.length });
    await nextTask();
  }
  return { sha256, md5: md5.hexdigest() };
}

// ---------------------------------------------------------------- pixels

function canvas2d(width, height) {
  const canvas =
    typeof OffscreenCanvas === "function"
      ? new OffscreenCanvas(width, height)
      : Object.assign(document.createElement("canvas"), { width, height });
  const context = canvas.getContext("2d", { willReadFrequently: true, colorSpace: "srgb" });
  if (!context) throw new Error("this browser gives no 2-D canvas");
  return context;
}

/**
 * RGBA pixels of a drawable (ImageBitmap, <video>) at its natural size. The canvas is painted white
 * first: transparent areas then read back as white, as Firebreak's server composites them, and colours
 * hidden under transparency never reach the hash.
 */
function pixelsOf(source, width, height) {
  const context = canvas2d(width, height);
  context.fillStyle = "#ffffff";
  context.fillRect(0, 0, width, height);
  context.imageSmoothingEnabled = false; // drawn 1:1; never resample
  context.drawImage(source, 0, 0, width, height);
  return context.getImageData(0, 0, width, height).data;
}

function pdqOfDrawable(source, width, height, options) {
  return pdqFromRGBA(pixelsOf(source, width, height), width, height, { dihedral: options.dihedral });
}

// ---------------------------------------------------------------- pictures

async function hashPicture(file, result, options) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, BITMAP_OPTIONS);
  } catch {
    result.notes.push("this browser cannot decode the picture, so it has no PDQ; the exact hashes are complete");
    return;
  }
  try {
    result.width = bitmap.width;
    result.height = bitmap.height;
    if (bitmap.width * bitmap.height > LIMITS.maxPixels) {
      result.notes.push(`the picture has more than ${LIMITS.maxPixels.toLocaleString("en")} pixels: no PDQ`);
      return;
    }
    options.onProgress({ stage: "pdq", done: 0, total: 1 });
    await nextTask();
    result.pdq = pdqOfDrawable(bitmap, bitmap.width, bitmap.height, options);
    options.onProgress({ stage: "pdq", done: 1, total: 1 });
  } finally {
    bitmap.close();
  }
}

// ---------------------------------------------------------------- videos

/** Resolve on `ok`, reject on `error` or after `ms`; always removes its listeners. */
function waitFor(target, ok, ms) {
  return new Promise((resolve, reject) => {
    const done = (fn, value) => {
      clearTimeout(timer);
      target.removeEventListener(ok, onOk);
      target.removeEventListener("error", onError);
      fn(value);
    };
    const onOk = () => done(resolve);
    const onError = () => done(reject, new Error("the browser cannot play this video"));
    const timer = setTimeout(() => done(reject, new Error(`no "${ok}" within ${ms} ms`)), ms);
    target.addEventListener(ok, onOk);
    target.addEventListener("error", onError);
  });
}

async function seek(video, seconds) {
  const seeked = waitFor(video, "seeked", LIMITS.videoTimeoutMs);
  video.currentTime = seconds;
  await seeked;
}

/**
 * Seek, then wait until the frame at the new position is the one a canvas will paint. "seeked" alone is
 * not enough: in Chromium about one seek in sixty still drew the previous position's frame (measured with
 * the tests' five-second clip). requestVideoFrameCallback fires once the new frame is presented; where a
 * browser lacks it, two animation frames usually suffice.
 */
async function seekToFrame(video, seconds) {
  let presented;
  if (typeof video.requestVideoFrameCallback === "function") {
    presented = new Promise((resolve) => {
      const handle = video.requestVideoFrameCallback(() => {
        clearTimeout(timer);
        resolve();
      });
      // The frame may already be on show (seeking to where the video stands): then nothing new is presented.
      const timer = setTimeout(() => {
        video.cancelVideoFrameCallback(handle);
        resolve();
      }, FRAME_WAIT_MS);
    });
  } else {
    presented = Promise.resolve();
  }
  await seek(video, seconds);
  await presented;
  if (typeof video.requestVideoFrameCallback !== "function") {
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  }
}

/**
 * Per-frame PDQ of a video: an off-DOM <video> plays the file from a blob: URL (no network), is moved
 * to 0 s, 1 s, 2 s, ... and each frame is drawn onto a canvas and hashed. Where the browser cannot play
 * the file (a codec it lacks, a broken file), `frames` stays null and a note says why; the exact hashes
 * are still complete.
 */
async function hashVideoFrames(file, result, options) {
  if (typeof document === "undefined") {
    result.notes.push("per-frame PDQ needs a page (a <video> element); only exact hashes here");
    return;
  }
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.preload = "auto";
  const url = URL.createObjectURL(file);
  try {
    const loaded = waitFor(video, "loadeddata", LIMITS.videoTimeoutMs);
    video.src = url;
    try {
      await loaded;
    } catch (error) {
      result.notes.push(`no per-frame PDQ: ${error.message}; the exact hashes are complete`);
      return;
    }
    const width = video.videoWidth;
    const height = video.videoHeight;
    if (!width || !height) {
      result.notes.push("the file has no picture (sound only?): no per-frame PDQ");
      return;
    }
    result.width = width;
    result.height = height;
    if (width * height > LIMITS.maxPixels) {
      result.notes.push(`the video has more than ${LIMITS.maxPixels.toLocaleString("en")} pixels a frame: no PDQ`);
      return;
    }
    let duration = video.duration;
    if (!Number.isFinite(duration)) {
      // Some files (e.g. recorded WebM) state no duration; seeking far past the end makes the browser find it.
      try {
        await seek(video, 1e9);
      } catch {
        // keep the unknown duration: only the first frame below
      }
      duration = video.duration;
    }
    const step = options.frameStep;
    const maxFrames = options.maxFrames;
    const known = Number.isFinite(duration);
    const frames = [];
    for (let i = 0; i < maxFrames; i++) {
      const time = i * step;
      if (i > 0 && (!known || time >= duration)) break;
      try {
        await seekToFrame(video, time);
      } catch (error) {
        result.notes.push(`stopped at ${time} s: ${error.message}`);
        break;
      }
      const { hash, quality } = pdqOfDrawable(video, width, height, { dihedral: false });
      frames.push({ time, hash, quality });
      options.onProgress({ stage: "frames", done: frames.length, total: known ? Math.ceil(duration / step) : 1 });
      await nextTask();
    }
    if (frames.length === 0) {
      result.notes.push("no frame of the video could be drawn: no per-frame PDQ");
      return;
    }
    result.frames = frames;
    result.duration = known ? duration : null;
    result.framesCapped = known && maxFrames * step < duration;
    if (result.framesCapped) {
      result.notes.push(`only the first ${maxFrames} frames (one every ${step} s) were hashed`);
    }
    result.pdq = { hash: frames[0].hash, quality: frames[0].quality }; // as the server: a video's PDQ is its first frame's
  } finally {
    video.removeAttribute("src");
    video.load(); // release the decoder
    URL.revokeObjectURL(url);
  }
}

// ---------------------------------------------------------------- the one entry point

/**
 * Hash one File (or Blob) on this device. Sends nothing.
 *
 * options: {dihedral: false}  also return pdq.dihedral, the eight rotation and mirror hashes (pictures)
 *          {maxFrames, frameStep}  per-frame PDQ of videos (maxFrames can only be lowered)
 *          {onProgress({stage, done, total})}  for a progress bar
 *
 * Returns {kind: "image" | "video" | "other", mime, size, sha256, md5, pdq: {hash, quality} | null,
 * frames: [{time, hash, quality}] | null, framesCapped, duration, width, height, notes: [text, ...]}.
 * Throws only when no hash at all can be computed (file too large, unreadable, no WebCrypto).
 */
export async function hashFile(file, options = {}) {
  // Out-of-range or non-numeric options fall back to the limits; the frame cap can never be raised.
  const maxFrames = Math.floor(Number(options.maxFrames ?? LIMITS.maxFrames));
  const frameStep = Number(options.frameStep ?? LIMITS.frameStep);
  const settings = {
    dihedral: Boolean(options.dihedral),
    maxFrames: Number.isFinite(maxFrames) ? Math.max(1, Math.min(LIMITS.maxFrames, maxFrames)) : LIMITS.maxFrames,
    frameStep: Number.isFinite(frameStep) ? Math.max(0.04, frameStep) : LIMITS.frameStep,
    onProgress: typeof options.onProgress === "function" ? options.onProgress : () => {},
  };
  if (file.size > LIMITS.maxFileBytes) {
    throw new RangeError(`the file is ${file.size} bytes; at most ${LIMITS.maxFileBytes} can be hashed here`);
  }
  const bytes = await file.arrayBuffer();
  const kind = sniffKind(new Uint8Array(bytes, 0, Math.min(32, bytes.byteLength)), file.type || "");
  const result = {
    kind,
    mime: file.type || null,
    size: bytes.byteLength,
    sha256: null,
    md5: null,
    pdq: null,
    frames: null,
    framesCapped: false,
    duration: null,
    width: null,
    height: null,
    notes: [],
  };
  Object.assign(result, await exactHashes(bytes, settings.onProgress));
  if (kind === "image") await hashPicture(file, result, settings);
  else if (kind === "video") await hashVideoFrames(file, result, settings);
  return result;
}
