import type pg from 'pg';
import { createBillingPeriodActivities } from './billing-periods.js';
import { createCreditActivities } from './credits.js';
import { createCustomerActivities } from './customers.js';
import { createHopsworksActivities, type HopsworksDependencies } from './hopsworks.js';
import { createKubernetesActivities, type KubernetesDependencies } from './kubernetes.js';
import { createNotificationActivities, type NotificationDependencies } from './notifications.js';
import { createPlanActivities } from './plans.js';
import { createResourceQuotaActivities } from './resource-quotas.js';
import { createRefillActivities } from './refills.js';
import { createStripeActivities, type StripeApi } from './stripe.js';
import { createSystemActivities } from './system.js';
import { createUsageActivities, type UsageDependencies, type UsageStripeApi } from './usage.js';

export { createResourceQuotaActivities, type PlanResourceQuotaInput } from './resource-quotas.js';

export interface ActivityDependencies {
  db: pg.Pool;
  stripe: StripeApi & UsageStripeApi;
  hopsworks: Omit<HopsworksDependencies, 'db'>;
  /** Overrides how a cluster's kubeconfig is loaded (tests); by default from the clusters row. */
  kubernetes?: Omit<KubernetesDependencies, 'db'>;
  /** Where the notification outbox is delivered; without a webhook the rows stay in the table. */
  notifications?: Omit<NotificationDependencies, 'db'>;
  /** The usage workflows' settings (Temporal client for signals, Stripe rate limit); defaults otherwise. */
  usage?: Omit<UsageDependencies, 'db' | 'stripe' | 'oauthClientId' | 'hopsworksFetch' | 'kubeConfigFor'>;
}

/** Every activity of the worker, built from the dependencies the entry point constructed. */
export function createActivities(deps: ActivityDependencies) {
  return {
    ...createSystemActivities(deps),
    ...createCustomerActivities(deps),
    ...createStripeActivities(deps),
    ...createBillingPeriodActivities(deps),
    ...createCreditActivities(deps),
    ...createRefillActivities(deps),
    ...createHopsworksActivities({ db: deps.db, ...deps.hopsworks }),
    ...createKubernetesActivities({ db: deps.db, ...deps.kubernetes }),
    ...createResourceQuotaActivities({ db: deps.db, ...deps.kubernetes }),
    ...createPlanActivities(deps),
    ...createNotificationActivities({ db: deps.db, ...deps.notifications }),
    ...createUsageActivities({
      db: deps.db,
      stripe: deps.stripe,
      oauthClientId: deps.hopsworks.oauthClientId,
      ...(deps.hopsworks.fetch ? { hopsworksFetch: deps.hopsworks.fetch } : {}),
      ...(deps.kubernetes?.kubeConfigFor ? { kubeConfigFor: deps.kubernetes.kubeConfigFor } : {}),
      ...deps.usage,
    }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
