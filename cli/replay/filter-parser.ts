/**
 * The `--filter` grammar, by recursive descent:
 *
 *   expr       = and { "or" and }
 *   and        = unary { "and" unary }
 *   unary      = "not" unary | "(" expr ")" | comparison
 *   comparison = FIELD OP value | FIELD [ "not" ] "in" "(" value { "," value } ")"
 *   OP         = "==" | "!=" | "~" | "!~" | "<" | "<=" | ">" | ">="
 *   value      = STRING | NUMBER | WORD | "null"
 *
 * Hand-written rather than generated: the language is these six rules, and the errors must
 * name the column and the token found there. The general-purpose choices fit less well: jsep
 * parses JavaScript (where `~` is bitwise not and `in` tests properties), filtrex brings its
 * own semantics and parser-generator messages, and chevrotain or peggy would add a toolkit
 * larger than the grammar.
 */
import { filterError, Token, tokenize } from './filter-lexer.js';

export type Operator = '==' | '!=' | '~' | '!~' | '<' | '<=' | '>' | '>=';

export interface Value {
  kind: 'string' | 'number' | 'word' | 'null';
  text: string;
  column: number;
}

export type FilterNode =
  | { kind: 'or' | 'and'; left: FilterNode; right: FilterNode }
  | { kind: 'not'; operand: FilterNode }
  | { kind: 'compare'; field: Token; op: Operator; value: Value }
  | { kind: 'in'; field: Token; negated: boolean; values: Value[] };

export function parseFilter(source: string): FilterNode {
  return new Parser(source).parse();
}

class Parser {
  readonly #source: string;
  readonly #tokens: Token[];
  #at = 0;

  constructor(source: string) {
    this.#source = source;
    this.#tokens = tokenize(source);
  }

  parse(): FilterNode {
    if (this.#peek().kind === 'end') throw this.#error(this.#peek(), 'empty expression');
    const node = this.#or();
    const rest = this.#peek();
    if (rest.kind !== 'end') throw this.#error(rest, `expected 'and', 'or' or the end`);
    return node;
  }

  #or(): FilterNode {
    let node = this.#and();
    while (this.#peek().kind === 'or') {
      this.#at++;
      node = { kind: 'or', left: node, right: this.#and() };
    }
    return node;
  }

  #and(): FilterNode {
    let node = this.#unary();
    while (this.#peek().kind === 'and') {
      this.#at++;
      node = { kind: 'and', left: node, right: this.#unary() };
    }
    return node;
  }

  #unary(): FilterNode {
    const token = this.#next();
    if (token.kind === 'not') return { kind: 'not', operand: this.#unary() };
    if (token.kind === 'lparen') {
      const node = this.#or();
      this.#expect('rparen', `')' to close the '(' at column ${token.column}`);
      return node;
    }
    if (token.kind !== 'ident') throw this.#error(token, 'expected a field name, not or (');
    return this.#comparison(token);
  }

  #comparison(field: Token): FilterNode {
    const token = this.#next();
    if (token.kind === 'op')
      return { kind: 'compare', field, op: token.text as Operator, value: this.#value() };
    const negated = token.kind === 'not';
    const inToken = negated ? this.#next() : token;
    if (inToken.kind !== 'in') {
      throw this.#error(
        inToken,
        `expected an operator (== != ~ !~ < <= > >= in) after '${field.text}'`,
      );
    }
    this.#expect('lparen', `'(' to open the list after 'in'`);
    const values = [this.#value()];
    while (this.#peek().kind === 'comma') {
      this.#at++;
      values.push(this.#value());
    }
    this.#expect('rparen', `',' or ')' in the list after 'in'`);
    return { kind: 'in', field, negated, values };
  }

  #value(): Value {
    const token = this.#next();
    switch (token.kind) {
      case 'string':
      case 'number':
      case 'null':
        return { kind: token.kind, text: token.text, column: token.column };
      case 'ident':
        return { kind: 'word', text: token.text, column: token.column };
      default:
        throw this.#error(token, 'expected a value (a "string", a number or a word)');
    }
  }

  #expect(kind: Token['kind'], what: string): void {
    const token = this.#next();
    if (token.kind !== kind) throw this.#error(token, `expected ${what}`);
  }

  #peek(): Token {
    return this.#tokens[this.#at] as Token;
  }

  #next(): Token {
    const token = this.#peek();
    if (token.kind !== 'end') this.#at++;
    return token;
  }

  #error(token: Token, expected: string): Error {
    const found = token.kind === 'end' ? 'the end' : `'${token.text}'`;
    return filterError(this.#source, token.column, `${expected}, found ${found}`);
  }
}
