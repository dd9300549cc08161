import { billingPeriods } from './billing-periods.js';
import { build } from './build.js';
import { collection } from './collection.js';
import { devStartup } from './dev-startup.js';
import { entitlements } from './entitlements.js';
import { forecast } from './forecast.js';
import { openWorkflows } from './open-workflows.js';
import { report, type Scenario } from './report.js';
import { syncV2 } from './sync-v2.js';
import { webhooks } from './webhooks.js';

// `npm run bench [name…]`: runs the scenarios (all by default) and records their figures.
const scenarios: Scenario[] = [
  devStartup,
  webhooks,
  billingPeriods,
  openWorkflows,
  collection,
  syncV2,
  entitlements,
  build,
  forecast,
];

const wanted = process.argv.slice(2);
for (const scenario of scenarios) {
  if (wanted.length > 0 && !wanted.includes(scenario.name)) continue;
  console.log(`running ${scenario.name}…`);
  await report(scenario.name, await scenario.run());
}
