/**
 * Secrets in argv are redacted before a command line leaves the exit watcher's thread: the
 * capture at exec or discovery applies the rules once, so the table, the raw records and the
 * workers only ever hold the redacted form.
 *
 * Two kinds of rule: `replace` rewrites the matches of a pattern inside one argument; `flag`
 * redacts the whole argument that follows an argument matching the pattern (`--password
 * hunter2`).
 */

export const REDACTED = '[REDACTED]';

export type RedactionRule =
  | { kind: 'replace'; name: string; pattern: RegExp; replacement: string }
  | { kind: 'flag'; name: string; pattern: RegExp };

const SECRET_KEY = String.raw`[\w.-]*(?:passw(?:or)?d|passwd|pwd|token|secret|api[-_]?key|access[-_]?key|private[-_]?key|credentials?)[\w.-]*`;

/** The defaults: common secret-bearing flags, key=value pairs, bearer tokens, URL passwords. */
export const DEFAULT_REDACTION_RULES: readonly RedactionRule[] = [
  {
    kind: 'replace',
    name: 'flag-with-value',
    pattern: new RegExp(String.raw`^(-{1,2}${SECRET_KEY}[=:]).+$`, 'i'),
    replacement: `$1${REDACTED}`,
  },
  {
    kind: 'replace',
    name: 'key-value',
    pattern: new RegExp(String.raw`(^|[\s&;?,\0])(${SECRET_KEY}=)[^\s&;,]+`, 'gi'),
    replacement: `$1$2${REDACTED}`,
  },
  {
    kind: 'replace',
    name: 'authorization-header',
    pattern: /((?:authorization|proxy-authorization)\s*:\s*(?:bearer|basic|token)?\s*)\S.*$/i,
    replacement: `$1${REDACTED}`,
  },
  {
    kind: 'replace',
    name: 'bearer-token',
    pattern: /\b(bearer\s+)[\w.~+/-]+=*/gi,
    replacement: `$1${REDACTED}`,
  },
  {
    kind: 'replace',
    name: 'url-password',
    pattern: /\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)[^\s/@]+@/gi,
    replacement: `$1${REDACTED}@`,
  },
  {
    kind: 'replace',
    name: 'aws-access-key-id',
    pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g,
    replacement: REDACTED,
  },
  {
    kind: 'flag',
    name: 'secret-flag',
    pattern: new RegExp(String.raw`^-{1,2}${SECRET_KEY}$`, 'i'),
  },
];

/** A user rule from the command line or configuration: a pattern whose matches are redacted. */
export function replaceRule(name: string, source: string): RedactionRule {
  return { kind: 'replace', name, pattern: new RegExp(source, 'g'), replacement: REDACTED };
}

const NUL = 0;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

export class Redactor {
  readonly #replace: { pattern: RegExp; replacement: string }[] = [];
  readonly #flags: RegExp[] = [];
  /** One pattern matching anything any rule could touch: most command lines skip the split. */
  readonly #screen: RegExp | null;

  constructor(rules: readonly RedactionRule[]) {
    for (const rule of rules) {
      if (rule.kind === 'replace') {
        this.#replace.push({ pattern: rule.pattern, replacement: rule.replacement });
      } else {
        this.#flags.push(rule.pattern);
      }
    }
    const sources = rules.map((r) => `(?:${r.pattern.source.replace(/^\^|\$$/g, '')})`);
    this.#screen = sources.length === 0 ? null : new RegExp(sources.join('|'), 'i');
  }

  /**
   * argv bytes (arguments joined by NUL) with secrets replaced. Returns the input itself when
   * no rule applies, so the common case allocates nothing.
   */
  redact(argv: Uint8Array): Uint8Array {
    if (this.#screen === null || argv.length === 0) return argv;
    const text = decoder.decode(argv);
    if (!this.#screen.test(text)) return argv;
    const args = text.split('\0');
    let changed = false;
    for (let i = 0; i < args.length; i++) {
      const before = args[i] ?? '';
      let after = before;
      for (const { pattern, replacement } of this.#replace) {
        pattern.lastIndex = 0;
        after = after.replace(pattern, replacement);
      }
      if (after !== before) {
        args[i] = after;
        changed = true;
      }
      if (i + 1 < args.length && this.#flags.some((f) => f.test(after))) {
        args[i + 1] = REDACTED;
        i++;
        changed = true;
      }
    }
    return changed ? encoder.encode(args.join(String.fromCharCode(NUL))) : argv;
  }
}
