import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type koffi from 'koffi';

/**
 * JPEG decoding through libjpeg-turbo's TurboJPEG API, called directly: ~0.3 ms of CPU per 256²
 * photo where a libvips pipeline through sharp costs ~1.5–1.9 ms, most of it pipeline set-up. With
 * a model as cheap as a GPU makes it, decoding was the feed path's largest cost.
 *
 * It gives the very pixels sharp gives (and PIL, the notebook's decoder): the accurate integer
 * IDCT and fancy upsampling are libjpeg's defaults in all three; test/unit/jpeg-turbo.test.ts holds
 * it to that (also checked once on PIL-written 4:1:1, 4:2:2, 4:2:0, 4:4:4 and restart-marker files
 * and TurboJPEG-written 4:4:0 ones). It takes only the plain case — a baseline or progressive
 * 8-bit YCbCr or grayscale JPEG already at the model's size with no ICC profile — and declines
 * everything else (another format or size, CMYK, an embedded profile, which sharp converts to
 * sRGB; any decoder warning or error), which sharp then decodes, refuses or reports exactly as
 * before.
 *
 * The library is the one @julusian/jpeg-turbo ships prebuilt (libjpeg-turbo 3.1); its own binding
 * is not used because it forces the fast, inexact DCT. Where no such build exists for the platform,
 * or TESSERA_JPEG_DECODER=sharp, every image goes through sharp.
 */
export interface JpegTurbo {
  /** Which build decodes, for the extraction key: e.g. `libjpeg-turbo 3.1.2 (@julusian/jpeg-turbo 2.3.0)`. */
  version: string;
  /**
   * Decodes `bytes` as RGB uint8 HWC into `target` at `offset` when it is the plain case at
   * `size` × `size`; false (nothing written that matters) when sharp must decode it instead.
   */
  decodeInto(bytes: Uint8Array, size: number, target: Uint8Array, offset: number): Promise<boolean>;
  /** `decodeInto` on this thread, blocking it (a decode thread's way: no round trip to libuv's pool). */
  decodeIntoBlocking(bytes: Uint8Array, size: number, target: Uint8Array, offset: number): boolean;
}

const TJPF_RGB = 0;
const TJCS_YCbCr = 1;
const TJCS_GRAY = 2;
/** A warning (a truncated or corrupt stream libjpeg would patch over) fails the call: sharp decides. */
const TJFLAG_STOPONWARNING = 0x2000;
const TJFLAG_ACCURATEDCT = 0x1000;

let loaded: JpegTurbo | null | undefined;

/** The decoder that makes a plain JPEG's pixels in this process, as extraction keys name it. */
export function jpegDecoderName(): string {
  return jpegTurbo()?.version ?? 'libvips';
}

/**
 * The process's decoder, or null where it cannot be used (then sharp decodes every image). Loaded
 * on first use (koffi and the library: ~70 ms), not by every process that imports this module.
 */
export function jpegTurbo(): JpegTurbo | null {
  loaded ??= process.env.TESSERA_JPEG_DECODER === 'sharp' ? null : loadJpegTurbo();
  return loaded;
}

/** The prebuilt library for this platform and the package's version, or null where it has none. */
function prebuiltLibrary(): { file: string; packageVersion: string } | null {
  if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) return null;
  const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header
    ?.glibcVersionRuntime;
  const folder = `jpeg-turbo-linux-${process.arch}${glibc ? '' : '-musl'}`;
  const packageJson = createRequire(import.meta.url).resolve('@julusian/jpeg-turbo/package.json');
  const { version } = JSON.parse(fs.readFileSync(packageJson, 'utf8')) as { version: string };
  return {
    file: path.join(path.dirname(packageJson), 'prebuilds', folder, 'libturbojpeg.so.0'),
    packageVersion: version,
  };
}

/** The TurboJPEG functions tessera calls, bound through koffi, and the build they are from. */
interface TurboJpegLibrary {
  version: string;
  init: koffi.KoffiFunction;
  destroy: koffi.KoffiFunction;
  header: koffi.KoffiFunction;
  decompress: koffi.KoffiFunction;
}

const HEADER_SIGNATURE =
  'int tjDecompressHeader3(void *handle, const uint8_t *jpeg, unsigned long size, ' +
  '_Out_ int *width, _Out_ int *height, _Out_ int *subsampling, _Out_ int *colorspace)';
const DECOMPRESS_SIGNATURE =
  'int tjDecompress2(void *handle, const uint8_t *jpeg, unsigned long size, ' +
  'uint8_t *rgb, int width, int pitch, int height, int pixelFormat, int flags)';

/** The prebuilt library's functions, or null where there is no build for this platform. */
function bindTurboJpeg(): TurboJpegLibrary | null {
  try {
    const prebuilt = prebuiltLibrary();
    if (!prebuilt) return null;
    // Required here, not imported: a platform koffi has no build for falls back to sharp.
    const ffi = createRequire(import.meta.url)('koffi') as typeof koffi;
    const lib = ffi.load(prebuilt.file);
    // The library's own banner (JVERSION) names the decoder that made the pixels.
    const banner = /libjpeg-turbo version ([0-9][0-9.]*)/.exec(fs.readFileSync(prebuilt.file).toString('latin1'));
    return {
      version: `libjpeg-turbo ${banner?.[1] ?? 'unknown'} (@julusian/jpeg-turbo ${prebuilt.packageVersion})`,
      init: lib.func('void *tjInitDecompress()'),
      destroy: lib.func('int tjDestroy(void *handle)'),
      header: lib.func(HEADER_SIGNATURE),
      decompress: lib.func(DECOMPRESS_SIGNATURE),
    };
  } catch {
    return null; // no build for this platform: sharp decodes, with the same pixels, only slower
  }
}

const FLAGS = TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING;

/**
 * `decode(handle, rgb)` once the header shows the plain case at size × size; false otherwise.
 * A failed call (not the image's fault) leaves the image to sharp rather than to errors.csv.
 */
function whenPlain<R>(
  { init, destroy, header }: TurboJpegLibrary,
  bytes: Uint8Array,
  size: number,
  target: Uint8Array,
  offset: number,
  decode: (handle: unknown, rgb: Uint8Array) => R,
): R | false {
  if (!isPlainJpeg(bytes)) return false;
  const handle: unknown = init();
  if (!handle) return false;
  let result: R | false = false;
  try {
    const width = [0];
    const height = [0];
    const subsampling = [0];
    const colorspace = [0];
    if (header(handle, bytes, bytes.length, width, height, subsampling, colorspace) !== 0) return false;
    if (width[0] !== size || height[0] !== size) return false;
    if (colorspace[0] !== TJCS_YCbCr && colorspace[0] !== TJCS_GRAY) return false;
    const rgb = target.subarray(offset, offset + 3 * size * size);
    if (rgb.length !== 3 * size * size) throw new RangeError(`no room for a ${size}×${size} image at ${offset}`);
    result = decode(handle, rgb);
    return result;
  } finally {
    // An async decode destroys its handle when it has finished with it.
    if (!(result instanceof Promise)) destroy(handle);
  }
}

function loadJpegTurbo(): JpegTurbo | null {
  const lib = bindTurboJpeg();
  if (!lib) return null;
  const { destroy, decompress } = lib;
  return {
    version: lib.version,
    async decodeInto(bytes, size, target, offset) {
      // On a libuv thread: decoding takes every core there is, as sharp's did.
      const decoding = whenPlain(
        lib,
        bytes,
        size,
        target,
        offset,
        (handle, rgb) =>
          new Promise<boolean>((resolve) => {
            try {
              decompress.async(
                handle,
                bytes,
                bytes.length,
                rgb,
                size,
                0,
                size,
                TJPF_RGB,
                FLAGS,
                (error: unknown, result: number) => {
                  destroy(handle);
                  resolve(!error && result === 0);
                },
              );
            } catch {
              destroy(handle); // the call never started: no callback will
              resolve(false);
            }
          }),
      );
      return decoding === false ? false : decoding;
    },
    decodeIntoBlocking(bytes, size, target, offset) {
      return whenPlain(
        lib,
        bytes,
        size,
        target,
        offset,
        (handle, rgb) => decompress(handle, bytes, bytes.length, rgb, size, 0, size, TJPF_RGB, FLAGS) === 0,
      );
    },
  };
}

const ICC_PROFILE = Buffer.from('ICC_PROFILE\0', 'latin1');

/**
 * A JPEG (SOI) whose segments before the first scan hold no ICC profile (APP2 "ICC_PROFILE"):
 * sharp converts an image with a profile to sRGB through it, which a plain decode would not.
 * Anything unexpected in the segment structure also answers false.
 */
export function isPlainJpeg(bytes: Uint8Array): boolean {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return false;
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return false;
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (marker === 0xda) return true; // start of scan: every header segment has been seen
    if (marker === 0xd9 || (marker >= 0xd0 && marker <= 0xd8) || marker === 0x01) return false;
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (length < 2) return false;
    if (
      marker === 0xe2 &&
      Buffer.from(bytes.buffer, bytes.byteOffset + at + 4, Math.min(ICC_PROFILE.length, bytes.length - at - 4)).equals(
        ICC_PROFILE,
      )
    )
      return false;
    at += 2 + length;
  }
  return false;
}
