/**
 * Compiles a parsed `--filter` expression into a predicate over decoded events. Every value
 * is checked against its field's type here, once, so that a bad signal name or regular
 * expression is a usage error naming its column, never a surprise in the middle of a replay.
 */
import type { EventName } from '../../schemas/index.js';
import type { EventRecord } from './event-record.js';
import { FieldSpec, FILTER_FIELDS, signalNumber } from './filter-fields.js';
import { filterError } from './filter-lexer.js';
import { FilterNode, Operator, parseFilter, Value } from './filter-parser.js';
import { parseTimeUs } from './time-range.js';

export type Predicate = (name: EventName, record: EventRecord) => boolean;

export interface CompiledFilter {
  test: Predicate;
  /** False when every field used comes from the stamp: the body need not be decoded. */
  needsBody: boolean;
}

type Literal = string | number | null;

export function compileFilter(source: string): CompiledFilter {
  const tree = parseFilter(source);
  let needsBody = false;
  const field = (token: { text: string; column: number }): FieldSpec => {
    const spec = FILTER_FIELDS.get(token.text);
    if (spec === undefined) {
      const known = [...FILTER_FIELDS.keys()].join(', ');
      throw filterError(source, token.column, `unknown field '${token.text}' (fields: ${known})`);
    }
    needsBody ||= spec.needsBody;
    return spec;
  };

  const build = (node: FilterNode): Predicate => {
    switch (node.kind) {
      case 'and': {
        const [left, right] = [build(node.left), build(node.right)];
        return (n, r) => left(n, r) && right(n, r);
      }
      case 'or': {
        const [left, right] = [build(node.left), build(node.right)];
        return (n, r) => left(n, r) || right(n, r);
      }
      case 'not': {
        const operand = build(node.operand);
        return (n, r) => !operand(n, r);
      }
      case 'in': {
        const spec = field(node.field);
        const set = new Set(node.values.map((v) => literal(source, spec, v)));
        return node.negated
          ? (n, r) => !set.has(spec.get(n, r))
          : (n, r) => set.has(spec.get(n, r));
      }
      case 'compare':
        return comparison(source, field(node.field), node.op, node.value);
    }
  };
  return { test: build(tree), needsBody };
}

function comparison(source: string, spec: FieldSpec, op: Operator, value: Value): Predicate {
  if (op === '~' || op === '!~') {
    if (value.kind !== 'string' || spec.type !== 'string') {
      throw filterError(
        source,
        value.column,
        `'${op}' needs a text field and a "quoted" regular expression`,
      );
    }
    let re: RegExp;
    try {
      re = new RegExp(value.text);
    } catch (err) {
      throw filterError(
        source,
        value.column,
        `bad regular expression "${value.text}": ${(err as Error).message}`,
      );
    }
    const matches = (n: EventName, r: EventRecord): boolean => {
      const v = spec.get(n, r);
      return typeof v === 'string' && re.test(v);
    };
    return op === '~' ? matches : (n, r) => !matches(n, r);
  }
  const want = literal(source, spec, value);
  switch (op) {
    case '==':
      return (n, r) => spec.get(n, r) === want;
    case '!=':
      return (n, r) => spec.get(n, r) !== want;
  }
  if (want === null) throw filterError(source, value.column, `'${op}' cannot compare with null`);
  const order = (n: EventName, r: EventRecord): number | null => {
    const v = spec.get(n, r);
    if (v === null) return null;
    return v < want ? -1 : v > want ? 1 : 0;
  };
  switch (op) {
    case '<':
      return (n, r) => (order(n, r) ?? 0) < 0;
    case '<=':
      return (n, r) => (order(n, r) ?? 1) <= 0;
    case '>':
      return (n, r) => (order(n, r) ?? 0) > 0;
    case '>=':
      return (n, r) => (order(n, r) ?? -1) >= 0;
  }
}

/** A written value as the field's type: a number, a signal number, microseconds or text. */
function literal(source: string, spec: FieldSpec, value: Value): Literal {
  if (value.kind === 'null') return null;
  if (spec.type === 'string') return value.text;
  if (value.kind === 'number') return Number(value.text);
  if (spec.type === 'signal') {
    const signal = signalNumber(value.text);
    if (signal === undefined)
      throw filterError(source, value.column, `'${value.text}' is not a signal name`);
    return signal;
  }
  if (spec.type === 'time' && value.kind === 'string') {
    try {
      return parseTimeUs(value.text, '--filter');
    } catch (err) {
      throw filterError(source, value.column, (err as Error).message.replace(/^--filter: /, ''));
    }
  }
  throw filterError(source, value.column, `expected a number, found '${value.text}'`);
}
