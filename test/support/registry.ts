/**
 * The real schema registry the suites use: Apicurio Registry with its Confluent-compatible API,
 * run by scripts/registry/start.sh on 127.0.0.1:38081. Started once per test run by
 * global-setup.ts and addressed through PIDSTREAM_TEST_REGISTRY (the ccompat API's URL).
 */
import { SharedService } from './shared-service.js';

export const REGISTRY_ENV = 'PIDSTREAM_TEST_REGISTRY';

const registry = new SharedService('registry', 'registry.pid');

export function acquireRegistry(): Promise<string> {
  return registry.acquire();
}

export function releaseRegistry(): Promise<void> {
  return registry.release();
}

/** The registry URL global-setup published; fails loudly if it was not started. */
export function registryUrl(): string {
  const url = process.env[REGISTRY_ENV];
  if (url === undefined || url === '') {
    throw new Error(`${REGISTRY_ENV} is not set: the registry was not started by global-setup`);
  }
  return url;
}
