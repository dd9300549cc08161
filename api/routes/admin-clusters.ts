import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import { audit } from '../../src/db/audit.js';
import { findClusterConnection, type ClusterConnection } from '../../src/db/clusters.js';
import type { Queryable } from '../../src/db/pool.js';
import { createHopsworksClient, HopsworksError } from '../../src/hopsworks/index.js';
import { requireCustomer } from '../customer-lookup.js';
import type { AppEnv } from '../env.js';
import { ApiError } from '../errors.js';
import { createRouter, failures, json, openApiRoute, security } from '../router.js';
import { customerParams } from '../schemas.js';
import { hopsworksUserJson } from '../serializers.js';

/*
 * The seed's "Test API" button: an authenticated call to a cluster's Hopsworks API, for a cluster or for
 * a customer's cluster (their user and projects). A failing Hopsworks is an answer (`ok: false`), never
 * an error of this API; the API key is never shown. Each test is audited.
 */

const clusterParams = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a cluster id'),
});

const probeFailure = {
  ok: z.boolean(),
  latencyMs: z.number(),
  status: z.number().int().optional().describe("Hopsworks' HTTP status, when it answered"),
  code: z.string().optional(),
  error: z.string().optional().describe('Why it failed (never the API key)'),
};
const clusterRef = z.object({ id: z.string(), hopsworksApiUrl: z.string() });
const hopsworksAnswer = 'What Hopsworks answered; a failing Hopsworks is ok: false';
const admin = { tags: ['admin'], security: security('admin') };

const testCustomerConnection = createRoute({
  ...admin,
  method: 'post',
  path: '/api/admin/customers/{id}/test-connection',
  summary: "Call the customer's Hopsworks cluster: their user (by Auth0 subject) and projects (audited)",
  request: { params: customerParams },
  responses: {
    200: json(
      hopsworksAnswer,
      z.object({
        cluster: clusterRef,
        hopsworks: z.object({
          ...probeFailure,
          user: z
            .object({
              id: z.number(),
              username: z.string(),
              email: z.string(),
              status: z.string(),
              blocked: z.boolean(),
            })
            .nullable(),
          projects: z.number().int(),
        }),
      }),
    ),
    ...failures(400, 401, 404, 409, 503),
  },
});
const testClusterConnection = createRoute({
  ...admin,
  method: 'post',
  path: '/api/admin/clusters/{id}/test-connection',
  summary: "An authenticated call to a cluster's Hopsworks admin API (audited)",
  request: { params: clusterParams },
  responses: {
    200: json(
      hopsworksAnswer,
      z.object({
        cluster: clusterRef,
        hopsworks: z.object({ ...probeFailure, version: z.string().optional() }),
      }),
    ),
    ...failures(400, 401, 404, 503),
  },
});

export interface AdminClusterDependencies {
  db: Queryable;
  /** The OAuth client id Hopsworks knows the identity provider by (users are `<clientId>.<subject>`). */
  oauthClientId?: string;
  /** Overrides fetch for Hopsworks calls (tests, the local sandbox); the global fetch otherwise. */
  hopsworksFetch?: typeof fetch;
  /** Per Hopsworks request of a connection test; default 5 s. */
  hopsworksTimeoutMs?: number;
}

export function adminClusterRoutes(deps: AdminClusterDependencies) {
  const router = createRouter();
  const timeoutMs = deps.hopsworksTimeoutMs ?? 5_000;

  /** One Hopsworks probe: never throws, never shows the API key. */
  const probe = async <T extends object>(
    cluster: ClusterConnection,
    call: (client: ReturnType<typeof createHopsworksClient>) => Promise<T>,
  ): Promise<({ ok: true } & T) | { ok: false; status?: number; code?: string; error: string }> => {
    const apiKey = cluster.hopsworksApiKey;
    try {
      if (!apiKey?.trim()) throw new Error(`cluster ${cluster.id} has no Hopsworks API key configured`);
      const client = createHopsworksClient({
        baseUrl: cluster.hopsworksApiUrl,
        apiKey,
        timeoutMs,
        ...(deps.oauthClientId ? { oauthClientId: deps.oauthClientId } : {}),
        ...(deps.hopsworksFetch ? { fetch: deps.hopsworksFetch } : {}),
      });
      return { ok: true, ...(await call(client)) };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return {
        ok: false,
        ...(error instanceof HopsworksError && error.status !== undefined ? { status: error.status } : {}),
        ...(error instanceof HopsworksError ? { code: error.code } : {}),
        error: apiKey && apiKey.length >= 4 ? message.split(apiKey).join('[redacted]') : message,
      };
    }
  };

  const timed = async <T>(work: () => Promise<T>): Promise<T & { latencyMs: number }> => {
    const started = performance.now();
    const result = await work();
    return { ...result, latencyMs: Math.round(performance.now() - started) };
  };

  const auditProbe = (c: Context<AppEnv>, customerId: string | null, details: object) =>
    audit(deps.db, {
      actor: c.var.adminActor,
      action: 'hopsworks_connection_tested',
      customerId,
      reason: null,
      details,
      requestId: c.var.requestId,
    });

  openApiRoute(router, testCustomerConnection, async (c, { params: { id } }) => {
    const customer = await requireCustomer(deps.db, id);
    if (!customer.clusterId)
      throw new ApiError(409, 'no_cluster', `Customer ${id} is not assigned to a cluster`);
    const cluster = await findClusterConnection(deps.db, customer.clusterId);
    if (!cluster) throw new ApiError(409, 'no_cluster', `Cluster ${customer.clusterId} does not exist`);
    const result = await timed(() =>
      probe(cluster, async (client) => {
        const user = await client.findUserBySubject(customer.authSubject);
        const projects = user ? (await client.listUserProjects(user)).length : 0;
        return { user: user ? hopsworksUserJson(user) : null, projects };
      }),
    );
    const hopsworks = result.ok ? result : { ...result, user: null, projects: 0 };
    const answer = { cluster: { id: cluster.id, hopsworksApiUrl: cluster.hopsworksApiUrl }, hopsworks };
    await auditProbe(c, id, answer);
    return c.json(answer);
  });

  openApiRoute(router, testClusterConnection, async (c, { params: { id } }) => {
    const cluster = await findClusterConnection(deps.db, id);
    if (!cluster) throw new ApiError(404, 'cluster_not_found', `No cluster ${id}`);
    const hopsworks = await timed(() =>
      probe(cluster, async (client) => {
        const { version } = await client.testConnection();
        return version === undefined ? {} : { version };
      }),
    );
    const answer = { cluster: { id: cluster.id, hopsworksApiUrl: cluster.hopsworksApiUrl }, hopsworks };
    await auditProbe(c, null, answer);
    return c.json(answer);
  });

  return router;
}
