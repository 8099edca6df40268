/**
 * Tokens of the `--filter` language (see docs/replay.md). Each token keeps its column (from
 * 1) so that every error can name where it is and what was found there.
 */
import { UsageError } from '../../common/errors.js';

export type TokenKind =
  | 'ident'
  | 'string'
  | 'number'
  | 'op'
  | 'lparen'
  | 'rparen'
  | 'comma'
  | 'and'
  | 'or'
  | 'not'
  | 'in'
  | 'null'
  | 'end';

export interface Token {
  kind: TokenKind;
  /** The token as written (for a string: its value without quotes or escapes). */
  text: string;
  column: number;
}

const KEYWORDS: ReadonlyMap<string, TokenKind> = new Map([
  ['and', 'and'],
  ['or', 'or'],
  ['not', 'not'],
  ['in', 'in'],
  ['null', 'null'],
]);

/** Longest first, so `<=` is not read as `<` then `=`. */
const OPERATORS = ['==', '!=', '!~', '<=', '>=', '~', '<', '>'] as const;

const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_.-]/;
const NUMBER = /^-?(0x[0-9a-fA-F]+|\d+(\.\d+)?)/;

export function filterError(source: string, column: number, problem: string): UsageError {
  return new UsageError(`--filter: ${problem} at column ${column} of '${source}'`);
}

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i] as string;
    const column = i + 1;
    if (c === ' ' || c === '\t' || c === '\n') {
      i++;
    } else if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: c === '(' ? 'lparen' : c === ')' ? 'rparen' : 'comma', text: c, column });
      i++;
    } else if (c === '"' || c === "'") {
      const [text, next] = readString(source, i);
      tokens.push({ kind: 'string', text, column });
      i = next;
    } else if (NUMBER.test(source.slice(i)) && (c !== '-' || /\d/.test(source[i + 1] ?? ''))) {
      const text = (NUMBER.exec(source.slice(i)) as RegExpExecArray)[0];
      tokens.push({ kind: 'number', text, column });
      i += text.length;
    } else if (IDENT_START.test(c)) {
      let end = i + 1;
      while (end < source.length && IDENT_PART.test(source[end] as string)) end++;
      const text = source.slice(i, end);
      tokens.push({ kind: KEYWORDS.get(text.toLowerCase()) ?? 'ident', text, column });
      i = end;
    } else {
      const op = OPERATORS.find((o) => source.startsWith(o, i));
      if (op === undefined) throw filterError(source, column, `unexpected character '${c}'`);
      tokens.push({ kind: 'op', text: op, column });
      i += op.length;
    }
  }
  tokens.push({ kind: 'end', text: 'end of expression', column: source.length + 1 });
  return tokens;
}

/** A quoted string from `start` (the quote): its value, and the index after its closing quote. */
function readString(source: string, start: number): [string, number] {
  const quote = source[start];
  let value = '';
  let i = start + 1;
  while (i < source.length) {
    const c = source[i] as string;
    if (c === quote) return [value, i + 1];
    if (c === '\\') {
      const next = source[i + 1];
      if (next === undefined) break;
      // Only a quote or a backslash is escaped; any other backslash stays, so that regular
      // expressions such as "nginx\.conf" read as written.
      value += next === quote || next === '\\' ? next : `\\${next}`;
      i += 2;
    } else {
      value += c;
      i++;
    }
  }
  throw filterError(source, start + 1, `unterminated string ${source.slice(start)}`);
}
