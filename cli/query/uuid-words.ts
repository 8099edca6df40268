/**
 * A UUID as DuckDB's UUID vectors hold it: a 128-bit integer (lower 64 bits, then upper 64),
 * the UUID's 16 bytes read big-endian with the top bit flipped, so that the signed integers sort
 * as the UUIDs' text does.
 */

const HEX_DIGITS = 32;

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * Writes the UUID in the text `text` (32 hex digits, with or without hyphens) as four
 * little-endian words into `words[at…at+3]`; false when the text is not a UUID.
 */
export function writeUuid(text: Uint8Array, words: Int32Array, at: number): boolean {
  // Digits from the most significant; word 3 takes the first eight, word 0 the last eight.
  let digits = 0;
  let word = 0;
  for (let i = 0; i < text.length; i++) {
    const byte = text[i]!;
    if (byte === 0x2d && (i === 8 || i === 13 || i === 18 || i === 23)) continue;
    const value = hexValue(byte);
    if (value < 0 || digits === HEX_DIGITS) return false;
    word = (word << 4) | value;
    digits++;
    if (digits % 8 === 0) {
      words[at + 4 - digits / 8] = digits === 8 ? word ^ 0x80000000 : word;
      word = 0;
    }
  }
  return digits === HEX_DIGITS;
}
