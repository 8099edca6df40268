import { describe, expect, it } from 'vitest';

import { LogThrottle } from '../common/log.js';

describe('refusal log throttle', () => {
  it('logs the first refusal of a user, holds back repeats in the window, and counts them on the next line', () => {
    const throttle = new LogThrottle(60_000);
    expect(throttle.take('uid 65534', 0)).toBe(0);
    expect(throttle.take('uid 65534', 1_000)).toBe(null);
    expect(throttle.take('uid 65534', 59_999)).toBe(null);
    expect(throttle.take('uid 1000', 2_000)).toBe(0);
    expect(throttle.take('uid 65534', 60_000)).toBe(2);
    expect(throttle.take('uid 65534', 60_001)).toBe(null);
  });

  it(`forgets the oldest user beyond ${LogThrottle.MAX_KEYS} keys, so memory stays bounded`, () => {
    const throttle = new LogThrottle(60_000);
    for (let uid = 0; uid <= LogThrottle.MAX_KEYS; uid++)
      expect(throttle.take(`uid ${uid}`, 0)).toBe(0);
    // uid 0 was forgotten, so it is logged again at once; the newest user is still held back.
    expect(throttle.take('uid 0', 1)).toBe(0);
    expect(throttle.take(`uid ${LogThrottle.MAX_KEYS}`, 1)).toBe(null);
  });
});
