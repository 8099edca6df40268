/**
 * Zstandard compression from the system's libzstd.so.1 (zstd.h; ZSTD_compress2 and the
 * parameter API since zstd 1.4.0). dpkg, apt and systemd link against it, so it is on every
 * host that runs them; Node 20's zlib has no zstd.
 *
 * One call compresses one buffer into one whole frame, on one of libuv's threads. A file may
 * hold many frames one after the other and `zstd -d` reads them as one stream, so a core is
 * stored as the frames of its chunks.
 */
import koffi, { type LibraryHandle } from 'koffi';

import { PidstreamError } from '../common/errors.js';

const LIBRARY = 'libzstd.so.1';

function bind(lib: LibraryHandle) {
  return {
    createCCtx: lib.func('void *ZSTD_createCCtx()'),
    freeCCtx: lib.func('size_t ZSTD_freeCCtx(void *cctx)'),
    setParameter: lib.func('size_t ZSTD_CCtx_setParameter(void *cctx, int param, int value)'),
    compress2: lib.func(
      'size_t ZSTD_compress2(void *cctx, void *dst, size_t dstCapacity, ' +
        'const void *src, size_t srcSize)',
    ),
    compressBound: lib.func('size_t ZSTD_compressBound(size_t srcSize)'),
    isError: lib.func('unsigned int ZSTD_isError(size_t code)'),
    getErrorName: lib.func('const char *ZSTD_getErrorName(size_t code)'),
  };
}

let calls: ReturnType<typeof bind> | null = null;

/** The library, loaded on first use: an agent that stores no cores runs without it. */
function zstd(): ReturnType<typeof bind> {
  if (calls !== null) return calls;
  try {
    calls = bind(koffi.load(LIBRARY));
  } catch (err) {
    throw new PidstreamError(
      'PIDSTREAM_ERR_CORE',
      `storing cores needs ${LIBRARY} (package libzstd1): ${(err as Error).message}`,
      { cause: err },
    );
  }
  return calls;
}

/** Throws, naming the library and its package, when this host cannot load it. */
export function requireZstd(): void {
  zstd();
}

/** `ZSTD_cParameter` values, zstd.h. */
const ZSTD_c_compressionLevel = 100;
const ZSTD_c_checksumFlag = 201;

/** A size_t result: the value, or the error zstd names for it. */
function checked(ret: number | bigint, what: string): number {
  const c = zstd();
  if (c.isError(ret) !== 0) {
    throw new PidstreamError('PIDSTREAM_ERR_CORE', `${what}: ${c.getErrorName(ret) as string}`);
  }
  return Number(ret);
}

/** The most bytes one frame of `srcBytes` can take. */
export function zstdCompressBound(srcBytes: number): number {
  return checked(zstd().compressBound(srcBytes), `ZSTD_compressBound(${srcBytes})`);
}

/** One compression context: one frame at a time, reused from frame to frame. */
export class ZstdContext {
  #cctx: unknown;
  #busy = false;

  /** Frames at `level`, each with its content checksum (XXH64, checked by `zstd -d`). */
  constructor(level: number) {
    const c = zstd();
    const cctx: unknown = c.createCCtx();
    if (cctx === null) throw new PidstreamError('PIDSTREAM_ERR_CORE', 'ZSTD_createCCtx failed');
    this.#cctx = cctx;
    try {
      checked(c.setParameter(cctx, ZSTD_c_compressionLevel, level), `zstd level ${level}`);
      checked(c.setParameter(cctx, ZSTD_c_checksumFlag, 1), 'zstd checksum flag');
    } catch (err) {
      this.free();
      throw err;
    }
  }

  /**
   * Compresses `src` into one frame at the start of `dst` (at least `zstdCompressBound` bytes)
   * on a libuv thread; `done` gets the frame's size. Neither buffer may change until then.
   */
  compress(src: Buffer, dst: Buffer, done: (err: Error | null, bytes: number) => void): void {
    if (this.#busy) throw new Error('a zstd context compresses one frame at a time');
    this.#busy = true;
    zstd().compress2.async(
      this.#cctx,
      dst,
      dst.length,
      src,
      src.length,
      (err: unknown, ret: number | bigint) => {
        this.#busy = false;
        if (err) return done(err instanceof Error ? err : new Error(String(err)), 0);
        let bytes: number;
        try {
          bytes = checked(ret, `ZSTD_compress2(${src.length} bytes)`);
        } catch (failure) {
          return done(failure as Error, 0);
        }
        done(null, bytes);
      },
    );
  }

  /** Frees the context; it must not be compressing. */
  free(): void {
    if (this.#cctx === null) return;
    if (this.#busy) throw new Error('a zstd context was freed while it compressed');
    zstd().freeCCtx(this.#cctx);
    this.#cctx = null;
  }
}
