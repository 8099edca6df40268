/**
 * Signal names by number, as the kernel numbers them on x86-64 and arm64
 * (`include/uapi/asm-generic/signal.h`, `arch/x86/include/uapi/asm/signal.h`). Real-time
 * signals are named from the kernel's SIGRTMIN (32): glibc reserves 32 and 33 for itself and
 * calls 34 its SIGRTMIN, so `kill -l 34` says SIGRTMIN where pidstream says SIGRTMIN+2.
 */
const CLASSIC = [
  'SIGHUP',
  'SIGINT',
  'SIGQUIT',
  'SIGILL',
  'SIGTRAP',
  'SIGABRT',
  'SIGBUS',
  'SIGFPE',
  'SIGKILL',
  'SIGUSR1',
  'SIGSEGV',
  'SIGUSR2',
  'SIGPIPE',
  'SIGALRM',
  'SIGTERM',
  'SIGSTKFLT',
  'SIGCHLD',
  'SIGCONT',
  'SIGSTOP',
  'SIGTSTP',
  'SIGTTIN',
  'SIGTTOU',
  'SIGURG',
  'SIGXCPU',
  'SIGXFSZ',
  'SIGVTALRM',
  'SIGPROF',
  'SIGWINCH',
  'SIGIO',
  'SIGPWR',
  'SIGSYS',
];

const SIGRTMIN = 32;
/** _NSIG in the uapi header: the highest signal number. */
const SIGRTMAX = 64;

function realTimeName(signal: number): string {
  if (signal === SIGRTMIN) return 'SIGRTMIN';
  if (signal === SIGRTMAX) return 'SIGRTMAX';
  return `SIGRTMIN+${signal - SIGRTMIN}`;
}

/** Index = signal number; built once so the per-event lookup is an array read. */
const NAMES: readonly string[] = [
  '',
  ...CLASSIC,
  ...Array.from({ length: SIGRTMAX - SIGRTMIN + 1 }, (_, i) => realTimeName(SIGRTMIN + i)),
];

/** The signal's name, or null for a number the kernel does not define. */
export function signalName(signal: number): string | null {
  return signal >= 1 && signal <= SIGRTMAX ? (NAMES[signal] ?? null) : null;
}
