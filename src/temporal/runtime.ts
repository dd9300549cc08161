import { Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { TemporalPinoLogger, type Logger, type TemporalLogObserver } from '../logger.js';

export interface RuntimeOptions {
  /** Watchers of the runtime's log lines (the worker's health check learns failing workflow tasks there). */
  observers?: TemporalLogObserver[];
  /**
   * host:port where the runtime serves its Prometheus metrics (worker task latencies, slots, sticky
   * cache, `temporal_workflow_task_execution_failed` by failure reason, …); none when absent.
   */
  metricsAddress?: string | undefined;
}

/**
 * Installs the Temporal runtime once per process, before any worker or native connection exists:
 * SDK and core logs go through our pino logger, and the runtime installs no signal handlers of its
 * own: the entry points own shutdown, so the order stays API, then worker, then servers.
 */
export function installTemporalRuntime(logger: Logger, options: RuntimeOptions = {}): void {
  Runtime.install({
    logger: new TemporalPinoLogger(logger, options.observers),
    shutdownSignals: [],
    telemetryOptions: {
      // Core's WARN lines include `Failing workflow task`, which the health check counts.
      logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }) },
      ...(options.metricsAddress ? { metrics: { prometheus: { bindAddress: options.metricsAddress } } } : {}),
    },
  });
}
