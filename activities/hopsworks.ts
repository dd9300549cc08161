import { ApplicationFailure } from '@temporalio/activity';
import { findClusterConnection } from '../src/db/clusters.js';
import type { Queryable } from '../src/db/pool.js';
import { createHopsworksClient, HopsworksError } from '../src/hopsworks/index.js';
import { CustomerErrors } from '../workflows/customer-workflow.messages.js';

export interface HopsworksDependencies {
  db: Queryable;
  /** The OAuth client id Hopsworks knows the identity provider by (users are `<clientId>.<subject>`). */
  oauthClientId: string;
  fetch?: typeof fetch;
}

/** The default project every new customer gets, named after them so it is recognisable and unique. */
export function defaultProjectName(customerId: string): string {
  return `p_${customerId.replace(/[^A-Za-z0-9]/g, '').slice(-20)}`;
}

/**
 * Hopsworks accounts on the customer's cluster. Every step looks before it creates, so a retry after a
 * crash or a timeout finds what the first attempt made instead of making it twice.
 */
export function createHopsworksActivities(deps: HopsworksDependencies) {
  const clientFor = async (clusterId: string) => {
    const cluster = await findClusterConnection(deps.db, clusterId);
    if (!cluster?.hopsworksApiKey) {
      throw ApplicationFailure.create({
        type: CustomerErrors.HOPSWORKS_REJECTED,
        message: `cluster ${clusterId} has no Hopsworks API key configured`,
        nonRetryable: true,
      });
    }
    return createHopsworksClient({
      baseUrl: cluster.hopsworksApiUrl,
      apiKey: cluster.hopsworksApiKey,
      oauthClientId: deps.oauthClientId,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
  };

  return {
    async ensureHopsworksAccount(input: {
      customerId: string;
      clusterId: string;
      authSubject: string;
      email: string;
    }): Promise<{ userId: string; username: string; projectId: string | null }> {
      const client = await clientFor(input.clusterId);
      try {
        const user =
          (await client.findUserBySubject(input.authSubject)) ??
          (await client.createOAuthUser({ subject: input.authSubject, email: input.email }));
        const project = await client.createProject({
          name: defaultProjectName(input.customerId),
          owner: user,
        });
        return { userId: String(user.id), username: user.username, projectId: String(project.id) };
      } catch (error) {
        if (error instanceof HopsworksError && !error.retryable) {
          throw ApplicationFailure.create({
            type: CustomerErrors.HOPSWORKS_REJECTED,
            message: error.message,
            nonRetryable: true,
          });
        }
        throw error;
      }
    },
  };
}
