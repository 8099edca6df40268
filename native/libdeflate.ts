/**
 * libdeflate's raw DEFLATE decompressor through koffi, when the library is installed
 * (Debian's libdeflate0; scripts/setup.sh installs it). It inflated the query benchmark's
 * container-file blocks at about 1.1 GB/s of output where node:zlib managed 0.6 GB/s on the
 * project's machine, and it writes into a buffer the caller gives, so a block can be inflated
 * straight into the memory that decodes it. Without the library, callers fall back to
 * node:zlib.
 */
import koffi from 'koffi';

/** `enum libdeflate_result` (libdeflate.h). */
const LIBDEFLATE_SUCCESS = 0;
const LIBDEFLATE_BAD_DATA = 1;
const LIBDEFLATE_INSUFFICIENT_SPACE = 3;

interface Binding {
  decompressor: unknown;
  decompress: (
    decompressor: unknown,
    input: Uint8Array,
    inputBytes: number,
    output: Uint8Array,
    outputBytes: number,
    actual: number[],
  ) => number;
}

let binding: Binding | null | undefined;

function load(): Binding | null {
  if (binding !== undefined) return binding;
  try {
    const lib = koffi.load('libdeflate.so.0');
    const alloc = lib.func('void *libdeflate_alloc_decompressor()');
    const decompress = lib.func(
      'int libdeflate_deflate_decompress(void *d, const uint8_t *in, size_t in_nbytes, ' +
        '_Out_ uint8_t *out, size_t out_nbytes_avail, _Out_ size_t *actual_out_nbytes_ret)',
    );
    const decompressor: unknown = alloc();
    binding = decompressor === null ? null : { decompressor, decompress };
  } catch {
    // Not installed: node:zlib serves instead, a little over half as fast.
    binding = null;
  }
  return binding;
}

/** Inflates raw DEFLATE data into caller-owned buffers. One per thread. */
export class RawInflater {
  readonly #binding: Binding;
  readonly #actual = [0];

  private constructor(binding: Binding) {
    this.#binding = binding;
  }

  /** This thread's inflater, or null when libdeflate is not installed. */
  static open(): RawInflater | null {
    const found = load();
    return found === null ? null : new RawInflater(found);
  }

  /**
   * Inflates `input` into `output`; returns the bytes written, or -1 when `output` is too
   * small. Throws a RangeError when the data is not valid DEFLATE.
   */
  inflate(input: Uint8Array, output: Uint8Array): number {
    const { decompressor, decompress } = this.#binding;
    const result = decompress(
      decompressor,
      input,
      input.length,
      output,
      output.length,
      this.#actual,
    );
    if (result === LIBDEFLATE_SUCCESS) return this.#actual[0]!;
    if (result === LIBDEFLATE_INSUFFICIENT_SPACE) return -1;
    throw new RangeError(
      result === LIBDEFLATE_BAD_DATA
        ? 'the deflate data is damaged'
        : `libdeflate_deflate_decompress returned ${result}`,
    );
  }
}
