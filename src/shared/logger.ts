import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** Log text held while the output is slower than the logging; past it, lines are dropped. */
const MAX_BUFFERED_LOG_BYTES = 16 * 1024 * 1024;

/**
 * Where log lines go: stdout (fd 1) or a file. Written asynchronously: a line is handed to the
 * output with the ones logged while the previous write was under way, instead of one blocking
 * write per line (one per request at info: about 5 % of a small request's cost). pino writes
 * what is held when the process exits, also on `process.exit`; only a kill (SIGKILL, a crash of
 * the runtime) loses the lines of the last write. An output that stays blocked (a full pipe)
 * holds up to 16 MiB, then drops lines instead of stalling the API or growing without bound.
 */
export function logDestination(dest: number | string = 1): DestinationStream {
  return pino.destination({ dest, sync: false, mkdir: typeof dest === 'string', maxLength: MAX_BUFFERED_LOG_BYTES });
}

/** Structured JSON logs on stdout (or `destination`); one logger per process, children per request. */
export function createLogger(level: LevelWithSilent = 'info', destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'pulse-crm' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
  };
  return pino(options, destination ?? logDestination());
}
