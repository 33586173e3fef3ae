/**
 * Encoding the vector column's pages without an allocation per page: rows are gathered straight
 * into WebAssembly memory and compressed there by one reused ZSTD context, and the compressed
 * bytes wait for their row group in a few reused chunks. Per image that saves three buffers of
 * ~80 KB (the gathered page, zstd's input and output copies), whose churn made V8 run a full
 * garbage collection every few dozen batches (measured: ~0.5 ms of CPU per image, mostly marking).
 *
 * The bytes are zstd's own ZSTD_compress output at the same level (ZSTD_compress is
 * ZSTD_compress_usingDict with no dictionary), so pages copied from earlier files still match.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

interface ZstdWasm {
  HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  _ZSTD_createCCtx(): number;
  _ZSTD_freeCCtx(context: number): number;
  _ZSTD_compressBound(bytes: number): number;
  _ZSTD_compress_usingDict(
    context: number,
    dst: number,
    dstCapacity: number,
    src: number,
    srcSize: number,
    dict: number,
    dictSize: number,
    level: number,
  ): number;
  _ZSTD_isError(code: number): number;
}

const require = createRequire(import.meta.url);

/**
 * The WebAssembly module behind @bokuweb/zstd-wasm's compress(), which tile-writer.ts's loadZstd()
 * initialises. The package exports only its wrappers, each of which allocates and copies; its
 * module file is required by path (the same file, hence the same instance, as the package's
 * entry requires). The package's version is pinned exactly for this.
 */
const zstdModule = (
  require(path.join(path.dirname(require.resolve('@bokuweb/zstd-wasm')), 'module.js')) as { Module: ZstdWasm }
).Module;
const zstd = () => zstdModule;

/**
 * One ZSTD context and its input and output buffers in WebAssembly memory, reused for every page
 * of one writer; release() frees them.
 */
export class ZstdPageCompressor {
  private context = 0;
  private src = 0;
  private dst = 0;
  private capacity = 0;
  private bound = 0;

  constructor(private readonly level: number) {}

  /**
   * Compresses rows from…to−1 of `vectors` (each `width` bytes) as one page. The result is a view
   * into WebAssembly memory, valid until the next call into the zstd module (any compressor, or
   * the package's own compress/decompress): copy it before anything else runs.
   */
  compressRows(vectors: readonly Uint8Array[], from: number, to: number, width: number): Uint8Array {
    const m = zstd();
    const size = (to - from) * width;
    this.reserve(m, size);
    // HEAPU8 is re-read after every call that may grow the memory (a grown memory is a new buffer).
    const heap = m.HEAPU8;
    for (let r = from; r < to; r++) heap.set(vectors[r]!, this.src + (r - from) * width);
    const written = m._ZSTD_compress_usingDict(this.context, this.dst, this.bound, this.src, size, 0, 0, this.level);
    if (m._ZSTD_isError(written)) throw new Error(`zstd failed to compress a vector page (code ${written})`);
    return m.HEAPU8.subarray(this.dst, this.dst + written);
  }

  release(): void {
    const m = zstd();
    if (this.context) m._ZSTD_freeCCtx(this.context);
    if (this.src) m._free(this.src);
    if (this.dst) m._free(this.dst);
    this.context = this.src = this.dst = this.capacity = this.bound = 0;
  }

  private reserve(m: ZstdWasm, size: number): void {
    if (!this.context) this.context = m._ZSTD_createCCtx();
    if (!this.context) throw new Error('zstd could not create a compression context');
    if (size <= this.capacity) return;
    if (this.src) m._free(this.src);
    if (this.dst) m._free(this.dst);
    this.src = this.dst = this.capacity = 0;
    this.bound = m._ZSTD_compressBound(size);
    this.src = m._malloc(size);
    this.dst = m._malloc(this.bound);
    if (!this.src || !this.dst)
      throw new Error(`zstd could not allocate ${size + this.bound} bytes of WebAssembly memory`);
    this.capacity = size;
  }
}

/**
 * Bytes kept until their row group is written, in reused chunks: copy() returns a view that
 * stays valid until reset().
 */
export class PageArena {
  private readonly chunks: Uint8Array[] = [];
  private index = 0;
  private offset = 0;

  constructor(private readonly chunkBytes = 4 << 20) {}

  copy(bytes: Uint8Array): Uint8Array {
    const view = this.take(bytes.byteLength);
    view.set(bytes);
    return view;
  }

  /** Gathers rows from…to−1 of `vectors` (each `width` bytes) into one view. */
  gather(vectors: readonly Uint8Array[], from: number, to: number, width: number): Uint8Array {
    const view = this.take((to - from) * width);
    for (let r = from; r < to; r++) view.set(vectors[r]!, (r - from) * width);
    return view;
  }

  /** `size` bytes of the current chunk (the next one when they do not fit; their own when larger than a chunk). */
  private take(size: number): Uint8Array {
    if (size > this.chunkBytes) return new Uint8Array(size);
    let chunk = this.chunks[this.index];
    if (chunk && this.offset + size > chunk.byteLength) {
      this.index++;
      this.offset = 0;
      chunk = this.chunks[this.index];
    }
    if (!chunk) this.chunks.push((chunk = new Uint8Array(this.chunkBytes)));
    const view = chunk.subarray(this.offset, this.offset + size);
    this.offset += size;
    return view;
  }

  /** Every view handed out may be overwritten from now on. */
  reset(): void {
    this.index = 0;
    this.offset = 0;
  }
}
