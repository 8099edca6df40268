import { describe, expect, it } from 'vitest';

import { HEAD_MAX_BYTES } from '../ingest/coredump/ranges.js';
import { analyserCaps } from '../workers/analyser/index.js';

describe('coredump server caps', () => {
  // Regression: the server capped the head at 8 MiB while the analyser may ask for 16 MiB,
  // so cores with very large note segments lost their stack window and build-ids.
  it('lets a plan have as much head as the analyser may ask for', () => {
    expect(HEAD_MAX_BYTES).toBe(analyserCaps().maxHeadBytes);
  });
});
