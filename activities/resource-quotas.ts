import { ApplicationFailure, type Context } from '@temporalio/activity';
import { findClusterConnection } from '../src/db/clusters.js';
import { findCustomer } from '../src/db/customers.js';
import {
  applyCustomerPlanQuota,
  createKubernetesClient,
  KubernetesError,
  loadKubeConfig,
  planQuotaHard,
  type PlanQuotaLimits,
  type PlanQuotaSummary,
} from '../src/kubernetes/index.js';
import { CustomerErrors, KubernetesErrors } from '../src/domain/errors.js';
import { activityContext } from './context.js';
import type { KubernetesDependencies, KubernetesSuspensionInput } from './kubernetes.js';

export type {
  PlanQuotaAction,
  PlanQuotaLimits,
  PlanQuotaNamespaceOutcome,
  PlanQuotaSummary,
} from '../src/kubernetes/index.js';

export interface PlanResourceQuotaInput extends KubernetesSuspensionInput {
  /** The plan's limits; an absent field is unlimited, and a plan without any limit leaves no quota. */
  limits: PlanQuotaLimits;
}

// As activities/kubernetes.ts maps them (that file does not export its mapping): failures no retry
// fixes, invalid limits included, become non-retryable ApplicationFailures of a KubernetesErrors type;
// the rest (409, 429, 5xx, timeouts, connection failures) stay plain errors for the retry policy.
function toActivityFailure(error: unknown): unknown {
  if (error instanceof KubernetesError && !error.retryable) {
    return ApplicationFailure.create({
      type: error.type,
      message: error.message,
      nonRetryable: true,
      details: [{ status: error.status ?? null, reason: error.reason ?? null }],
    });
  }
  return error;
}

/**
 * The plan's limits as a ResourceQuota (`billing-plan`) in each of the customer's namespaces on one
 * cluster, found as suspension finds them (CUSTOMER_NAMESPACE_LABEL). Idempotent: an attempt that
 * finds the quota already right writes nothing. Run it when the plan changes, and after
 * restoreKubernetesWorkloads, so a reactivated customer is under the plan's current limits.
 */
export function createResourceQuotaActivities(deps: KubernetesDependencies) {
  const clientFor = async (input: KubernetesSuspensionInput, context: Context | undefined) => {
    const customer = await findCustomer(deps.db, input.customerId);
    if (!customer) {
      throw ApplicationFailure.create({
        type: CustomerErrors.CUSTOMER_NOT_FOUND,
        message: `no customer ${input.customerId}`,
        nonRetryable: true,
      });
    }
    const cluster = await findClusterConnection(deps.db, input.clusterId);
    if (!cluster) {
      throw new KubernetesError({
        type: KubernetesErrors.NOT_CONFIGURED,
        message: `no cluster ${input.clusterId}`,
      });
    }
    const kc = deps.kubeConfigFor ? await deps.kubeConfigFor(cluster) : loadKubeConfig(cluster);
    return createKubernetesClient(kc, {
      clusterId: cluster.id,
      ...(deps.requestTimeoutMs === undefined ? {} : { timeoutMs: deps.requestTimeoutMs }),
      ...(context ? { signal: context.cancellationSignal } : {}),
    });
  };

  return {
    async applyPlanResourceQuota(
      input: PlanResourceQuotaInput,
    ): Promise<PlanQuotaSummary & { skipped?: string }> {
      const context = activityContext();
      try {
        planQuotaHard(input.limits); // Invalid limits fail before any lookup or request.
        // A cluster without Kubernetes access configured has nothing to write to (as the observation
        // skips it): the limits are then held by the entitlement check alone.
        const connection = await findClusterConnection(deps.db, input.clusterId);
        if (connection && !connection.kubeconfigPath && !deps.kubeConfigFor) {
          return {
            namespaces: [],
            skipped: `cluster ${input.clusterId} has no Kubernetes access configured`,
          };
        }
        const client = await clientFor(input, context);
        return await applyCustomerPlanQuota(client, input.customerId, input.limits, {
          onProgress: (progress) => context?.heartbeat(progress),
        });
      } catch (error) {
        throw toActivityFailure(error);
      }
    },
  };
}
