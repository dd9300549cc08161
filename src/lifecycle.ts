import type { Logger } from './logger.js';

type Closer = { name: string; close: () => Promise<void> };

/**
 * Ordered, graceful shutdown. Resources register a closer as they start; on SIGINT/SIGTERM the closers
 * run in reverse order (API first, then the worker drains, then the servers stop), each awaited.
 * Repeated signals are ignored (a terminal's Ctrl-C often arrives twice: directly and relayed by npm);
 * if shutdown has not finished after `deadlineMs`, the process exits anyway.
 */
export class Shutdown {
  private readonly closers: Closer[] = [];
  private running: Promise<void> | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly deadlineMs = 45_000,
  ) {}

  add(name: string, close: () => Promise<void>): void {
    this.closers.push({ name, close });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const { name, close } of [...this.closers].reverse()) {
        try {
          await close();
          this.logger.info({ component: 'shutdown' }, `${name} stopped`);
        } catch (error) {
          this.logger.error({ component: 'shutdown', err: error }, `${name} failed to stop cleanly`);
        }
      }
    })();
    return this.running;
  }

  /** Exits the process with `code` once everything is closed. */
  async exit(code: number): Promise<never> {
    await this.run();
    process.exit(code);
  }

  handleSignals(): void {
    let received = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) return;
      received = true;
      this.logger.info({ component: 'shutdown' }, `${signal} received: shutting down`);
      // Also keeps the event loop alive while closers wait on native handles that do not.
      setTimeout(() => {
        this.logger.error({ component: 'shutdown' }, `shutdown took over ${this.deadlineMs} ms: exiting`);
        process.exit(1);
      }, this.deadlineMs);
      void this.exit(0);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
}
