/**
 * The one registry of pidstream error codes. Every error the project raises on purpose
 * carries one of these codes, a message that names the action and the offending value,
 * and, where it wraps another failure, that failure as `cause`.
 */
export const ERROR_CODES = {
  PIDSTREAM_ERR_USAGE: 'a command-line flag or argument is unknown or has a bad value',
  PIDSTREAM_ERR_CONFIG: 'a configuration file, environment variable or flag has a bad value',
  PIDSTREAM_ERR_SYSCALL: 'a system call failed; the message names the call and the errno',
  PIDSTREAM_ERR_FEATURE: 'a kernel feature the operation needs is missing on this host',
  PIDSTREAM_ERR_PRIVILEGE: 'the operation needs root or a capability the process lacks',
  PIDSTREAM_ERR_SCHEMA: 'an event does not match its Avro schema',
  PIDSTREAM_ERR_DECODE: 'a record, file or message could not be decoded',
  PIDSTREAM_ERR_SINK: 'events could not be written to their destination',
  PIDSTREAM_ERR_SOURCE: 'events could not be read from their source',
  PIDSTREAM_ERR_URI: 'a source or destination URI is malformed',
  PIDSTREAM_ERR_SPOOL: 'the durable spool is damaged or cannot be written',
  PIDSTREAM_ERR_KAFKA: 'Kafka refused or failed a request',
  PIDSTREAM_ERR_REGISTRY: 'the schema registry refused or failed a request',
  PIDSTREAM_ERR_CORE: 'a core dump could not be received, stored or analysed',
  PIDSTREAM_ERR_QUERY: 'an SQL query failed',
  PIDSTREAM_ERR_VERIFY: 'a stream failed verification',
  PIDSTREAM_ERR_AUTH: 'a local API peer is not allowed',
  PIDSTREAM_ERR_CONTROL: "the agent's status socket could not be reached or gave no answer",
  PIDSTREAM_ERR_STATE: 'a state file is unreadable or inconsistent',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class PidstreamError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PidstreamError';
    this.code = code;
  }
}

/** A usage error: the CLI prints the message on one line and exits 2. */
export class UsageError extends PidstreamError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PIDSTREAM_ERR_USAGE', message, options);
    this.name = 'UsageError';
  }
}

/** A configuration error: names the path of the bad value, the value and what was expected. */
export class ConfigError extends PidstreamError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PIDSTREAM_ERR_CONFIG', message, options);
    this.name = 'ConfigError';
  }
}

/**
 * A failed system call, named as `call(args): ERRNO`, e.g. `pidfd_open(4242): ESRCH`.
 * Callers branch on `errno` (a number) or `errnoName`.
 */
export class SyscallError extends PidstreamError {
  readonly call: string;
  readonly errno: number;
  readonly errnoName: string;

  constructor(call: string, errno: number, errnoName: string) {
    super('PIDSTREAM_ERR_SYSCALL', `${call}: ${errnoName}`);
    this.name = 'SyscallError';
    this.call = call;
    this.errno = errno;
    this.errnoName = errnoName;
  }
}

/** A kernel feature is missing: names the feature and the kernel version that brings it. */
export class FeatureError extends PidstreamError {
  readonly feature: string;
  readonly since: string;

  constructor(feature: string, since: string, detail: string, options?: { cause?: unknown }) {
    super(
      'PIDSTREAM_ERR_FEATURE',
      `${feature} (Linux ${since}) is not available: ${detail}`,
      options,
    );
    this.name = 'FeatureError';
    this.feature = feature;
    this.since = since;
  }
}

export function isErrno(err: unknown, name: string): boolean {
  return err instanceof SyscallError && err.errnoName === name;
}
