import { ApplicationFailure, Context } from '@temporalio/activity';
import { findClusterConnection } from '../src/db/clusters.js';
import type { Queryable } from '../src/db/pool.js';
import { createHopsworksClient, HopsworksError } from '../src/hopsworks/index.js';
import { CustomerErrors } from '../src/domain/errors.js';

export interface HopsworksDependencies {
  db: Queryable;
  /** The OAuth client id Hopsworks knows the identity provider by (users are `<clientId>.<subject>`). */
  oauthClientId: string;
  fetch?: typeof fetch;
}

/** Whose Hopsworks account to block or unblock: the customer's OAuth user on their cluster. */
export interface HopsworksUserInput {
  customerId: string;
  clusterId: string;
  authSubject: string;
}

export type BlockHopsworksUserResult = { blocked: true; found: true } | { blocked: false; found: false };

export type UnblockHopsworksUserResult =
  | { unblocked: true; found: true }
  | { unblocked: false; found: false }
  // An administrator blocked the account (BLOCKED or SPAM, not billing's DEACTIVATED): billing leaves it.
  | { unblocked: false; found: true; reason: 'blocked_by_admin' };

// Client failures no retry fixes (wrong key, missing user data, refused input) fail the activity for
// good; the retryable ones (5xx, 429, timeouts, network) stay plain errors for the retry policy.
function toActivityFailure(error: unknown): unknown {
  if (error instanceof HopsworksError && !error.retryable) {
    return ApplicationFailure.create({
      type: CustomerErrors.HOPSWORKS_REJECTED,
      message: error.message,
      nonRetryable: true,
    });
  }
  return error;
}

// Between the steps of block and unblock, so that the workflow's heartbeat timeout measures one slow
// Hopsworks request rather than the whole activity. Outside a worker (tests) there is no context.
function heartbeat(step: string): void {
  try {
    Context.current().heartbeat(step);
  } catch {
    // not running in an activity
  }
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

    /**
     * Suspension: the customer's user can no longer log in (Hopsworks DEACTIVATED). Idempotent: an
     * account already blocked, by billing or by an administrator, is left as it is. A user that does
     * not exist (never provisioned, or removed by hand) has nothing to block, which is not a failure.
     */
    async blockHopsworksUser(input: HopsworksUserInput): Promise<BlockHopsworksUserResult> {
      const client = await clientFor(input.clusterId);
      try {
        const user = await client.findUserBySubject(input.authSubject);
        if (!user) return { blocked: false, found: false };
        heartbeat('found');
        await client.setUserBlocked(user, true);
        return { blocked: true, found: true };
      } catch (error) {
        throw toActivityFailure(error);
      }
    },

    /**
     * Reactivation: lifts billing's own block. Idempotent: an active account stays active. An account
     * an administrator blocked (BLOCKED or SPAM) stays blocked, because lifting it is the
     * administrator's decision, not billing's; and the customer's reactivation still completes (their
     * workloads come back, their subscription is paid), so the result says why the user is still
     * blocked instead of failing the activity and with it the workflow's reactivation.
     */
    async unblockHopsworksUser(input: HopsworksUserInput): Promise<UnblockHopsworksUserResult> {
      const client = await clientFor(input.clusterId);
      try {
        const user = await client.findUserBySubject(input.authSubject);
        if (!user) return { unblocked: false, found: false };
        heartbeat('found');
        await client.setUserBlocked(user, false);
        return { unblocked: true, found: true };
      } catch (error) {
        if (error instanceof HopsworksError && error.code === 'blocked_by_admin') {
          return { unblocked: false, found: true, reason: 'blocked_by_admin' };
        }
        throw toActivityFailure(error);
      }
    },
  };
}
