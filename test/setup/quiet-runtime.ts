import { DefaultLogger, Runtime } from '@temporalio/worker';

// Test output shows the SDK's warnings and errors only, not every worker state change.
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch (error) {
  // A test process reused for another file already has it installed.
  if (!(error instanceof Error && /already/i.test(error.message))) throw error;
}
