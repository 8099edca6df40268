/**
 * SIGINT and SIGTERM for replay and synth: the first stops the stream cleanly (what was read
 * is written, files are closed, the summary is printed, exit 130); a second one, for a sink
 * that hangs, exits at once.
 */
export const EXIT_INTERRUPTED = 130;

export async function untilInterrupted<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(EXIT_INTERRUPTED);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = await work(controller.signal);
    if (controller.signal.aborted) process.exitCode = EXIT_INTERRUPTED;
    return result;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
