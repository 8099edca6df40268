/**
 * Runs once before all test files. The suites exercise the compiled agent (`dist/`), which
 * `npm test` builds first. Services the suites need are started here and stopped at teardown.
 */
import { existsSync } from 'node:fs';

import { distFile } from '../../common/paths.js';
import { acquireBroker, KAFKA_ENV, releaseBroker } from './kafka.js';
import { acquireRegistry, REGISTRY_ENV, releaseRegistry } from './registry.js';

export default async function setup(): Promise<() => Promise<void>> {
  if (!existsSync(distFile('cli/main.js'))) {
    throw new Error('dist/ is missing: run the tests with `npm test`, which builds first');
  }
  // One Kafka broker and one schema registry for the whole run, shared with any other run on
  // this machine.
  const [kafka, registry] = await Promise.all([acquireBroker(), acquireRegistry()]);
  process.env[KAFKA_ENV] = kafka;
  process.env[REGISTRY_ENV] = registry;
  return async () => {
    await Promise.all([releaseBroker(), releaseRegistry()]);
  };
}
