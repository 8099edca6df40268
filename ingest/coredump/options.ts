/** What `pidstream run` is told about crashes, with its defaults. */
import { DEFAULT_CORE_POLICY, type CorePolicyOptions } from './policy.js';

export interface CoredumpOptions {
  /** False with `--no-coredumps`: core_pattern is left alone (a dead agent's is repaired). */
  enabled: boolean;
  /** The AF_UNIX socket core_pattern points at. */
  socketPath: string;
  /**
   * Where the previous core_pattern is kept while the agent holds it. One path per host,
   * whatever the socket: it is also how a second agent learns that the first holds the pattern.
   */
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

/** The `pidstream run` flags about crashes, as commander hands them over. */
export interface CoredumpFlags {
  coredumps: boolean;
  coredumpSocket: string;
  corePatternState: string;
  coreStore?: string;
  coreMaxSize: number;
  coreStoreMaxBytes: number;
  coreStoreKeepFree: number;
  coreRate: { ratePerExe: number; rateWindowMs: number };
  coreAllowExe: string[];
  coreDenyExe: string[];
  coreAllowCgroup: string[];
  coreDenyCgroup: string[];
}

export function coredumpOptionsFrom(flags: CoredumpFlags): CoredumpOptions {
  return {
    enabled: flags.coredumps,
    socketPath: flags.coredumpSocket,
    statePath: flags.corePatternState,
    storeDir: flags.coreStore ?? null,
    storeMaxBytes: flags.coreStoreMaxBytes,
    storeKeepFreeBytes: flags.coreStoreKeepFree,
    policy: {
      maxCoreBytes: flags.coreMaxSize,
      allowExe: flags.coreAllowExe,
      denyExe: flags.coreDenyExe,
      allowCgroup: flags.coreAllowCgroup,
      denyCgroup: flags.coreDenyCgroup,
      ...flags.coreRate,
    },
  };
}
