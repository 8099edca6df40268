/** What `pidstream run` is told about crashes, with its defaults. */
import { DEFAULT_CORE_POLICY, type CorePolicyOptions } from './policy.js';

export interface CoredumpOptions {
  /** False with `--no-coredumps`: core_pattern is left alone (a dead agent's is repaired). */
  enabled: boolean;
  /** The AF_UNIX socket core_pattern points at. */
  socketPath: string;
  /** Where the previous core_pattern is kept while the agent holds it. */
  statePath: string;
  /** Directory of stored cores; null keeps none (cores are analysed and discarded). */
  storeDir: string | null;
  storeMaxBytes: number;
  storeKeepFreeBytes: number;
  policy: CorePolicyOptions;
}

export const DEFAULT_COREDUMP_SOCKET = '/run/pidstream/coredump.sock';

export const DEFAULT_COREDUMP_OPTIONS: Readonly<CoredumpOptions> = {
  enabled: true,
  socketPath: DEFAULT_COREDUMP_SOCKET,
  statePath: '/run/pidstream/core_pattern.state',
  storeDir: null,
  storeMaxBytes: 10 * 1024 ** 3,
  storeKeepFreeBytes: 5 * 1024 ** 3,
  policy: { ...DEFAULT_CORE_POLICY },
};
