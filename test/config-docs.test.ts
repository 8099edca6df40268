import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { configKeys, envName } from '../common/config.js';
import { DEFAULTS, type RawTable } from '../common/config-schema.js';
import { packageRoot } from '../common/paths.js';

describe('configuration reference', () => {
  it('documents every key with its environment variable and default, and no other key', () => {
    const doc = readFileSync(join(packageRoot(), 'docs/configuration.md'), 'utf8');
    const rows = [
      ...doc.matchAll(/^\| `([a-z_.]+)` +\| `(PIDSTREAM_[A-Z_]+)` +\| `([^`]*)` +\|/gm),
    ];
    const expected = configKeys().map((key) => {
      let value: unknown = DEFAULTS;
      for (const part of key.split('.')) value = (value as RawTable)[part];
      return [key, envName(key), JSON.stringify(value)];
    });
    expect(rows.map((m) => [m[1], m[2], m[3]])).toEqual(expected);
  });
});
