import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { pino, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

export type { Logger } from 'pino';

/** JSON lines for machines (`worker`, `api`), one readable line per entry for people (`dev`). */
export type LogFormat = 'json' | 'pretty';

/**
 * Logs on stdout: structured JSON lines, or with `format` `pretty` readable lines (pino-pretty, in
 * this process and synchronously, so nothing is lost on exit; colours on a terminal). Header and
 * secret-bearing fields are redacted by path as a second line of defence either way; configuration
 * secrets already print as `[redacted]` (see Secret).
 */
export function createLogger(
  level: string,
  destination?: pino.DestinationStream,
  format: LogFormat = 'json',
): Logger {
  const target =
    destination ??
    (format === 'pretty'
      ? pinoPretty({
          colorize: process.stdout.isTTY === true,
          sync: true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname,service',
        })
      : undefined);
  return pino(
    {
      level,
      base: { service: 'billing-orchestrator' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['*.authorization', '*.Authorization', '*.cookie', '*.password', '*.secret', '*.apiKey'],
        censor: '[redacted]',
      },
    },
    target,
  );
}

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Something that watches the Temporal runtime's log lines (the worker's health check). */
export interface TemporalLogObserver {
  observe(level: LogLevel, message: string, meta: LogMetadata | undefined): void;
}

/**
 * Routes the Temporal runtime's logs (worker, workflow sandbox, forwarded core logs) through pino, and
 * shows each line to the observers first.
 */
export class TemporalPinoLogger implements TemporalLogger {
  constructor(
    private readonly logger: Logger,
    private readonly observers: TemporalLogObserver[] = [],
  ) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    for (const observer of this.observers) observer.observe(level, message, meta);
    this.logger[PINO_LEVEL[level]]({ ...meta, component: 'temporal' }, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
