import type { KubeConfig } from '@kubernetes/client-node';
import { ApplicationFailure, type Context } from '@temporalio/activity';
import { findClusterConnection, type ClusterConnection } from '../src/db/clusters.js';
import { findCustomer } from '../src/db/customers.js';
import type { Queryable } from '../src/db/pool.js';
import {
  createKubernetesClient,
  KubernetesError,
  loadKubeConfig,
  restoreCustomerWorkloads,
  suspendCustomerWorkloads,
  type RestoreSummary,
  type SuspendSummary,
} from '../src/kubernetes/index.js';
import { CustomerErrors, KubernetesErrors } from '../src/domain/errors.js';
import { activityContext } from './context.js';

export type { RestoreSummary, SuspendedWorkload, SuspendSummary } from '../src/kubernetes/index.js';

export interface KubernetesDependencies {
  db: Queryable;
  /**
   * The KubeConfig of a cluster, current context set. Default: the row's `kubeconfig_path` file and
   * `kube_context` (src/kubernetes loadKubeConfig). Tests and the sandbox may hand one in.
   */
  kubeConfigFor?: (cluster: ClusterConnection) => KubeConfig | Promise<KubeConfig>;
  /** Per Kubernetes request; default 30 s. */
  requestTimeoutMs?: number;
}

export interface KubernetesSuspensionInput {
  customerId: string;
  clusterId: string;
}

// Failures no retry fixes become non-retryable ApplicationFailures of a KubernetesErrors type; the
// rest (409, 429, 5xx, timeouts, connection failures) stay plain errors for the retry policy.
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
 * Suspension and reactivation on Kubernetes: the customer's namespaces on one cluster (by
 * CUSTOMER_NAMESPACE_LABEL) scaled to zero behind a pods: 0 quota, and back. Both are idempotent and
 * resumable: every attempt reads the cluster and carries on from whatever the previous one left.
 */
export function createKubernetesActivities(deps: KubernetesDependencies) {
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
    async suspendKubernetesWorkloads(input: KubernetesSuspensionInput): Promise<SuspendSummary> {
      const context = activityContext();
      try {
        const client = await clientFor(input, context);
        return await suspendCustomerWorkloads(client, input.customerId, {
          onProgress: (progress) => context?.heartbeat(progress),
        });
      } catch (error) {
        throw toActivityFailure(error);
      }
    },

    async restoreKubernetesWorkloads(input: KubernetesSuspensionInput): Promise<RestoreSummary> {
      const context = activityContext();
      try {
        const client = await clientFor(input, context);
        return await restoreCustomerWorkloads(client, input.customerId, {
          onProgress: (progress) => context?.heartbeat(progress),
        });
      } catch (error) {
        throw toActivityFailure(error);
      }
    },
  };
}
