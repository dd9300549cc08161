import { Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { TemporalPinoLogger, type Logger } from '../logger.js';

/**
 * Installs the Temporal runtime once per process, before any worker or native connection exists:
 * SDK and core logs go through our pino logger, and the runtime installs no signal handlers of its
 * own: the entry points own shutdown, so the order stays API, then worker, then servers.
 */
export function installTemporalRuntime(logger: Logger): void {
  Runtime.install({
    logger: new TemporalPinoLogger(logger),
    shutdownSignals: [],
    telemetryOptions: {
      logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }) },
    },
  });
}
