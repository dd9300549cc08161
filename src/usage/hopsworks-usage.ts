/**
 * What a customer used of Hopsworks on one UTC day, through the cluster's admin API
 * (src/hopsworks/client.ts): API calls and storage, summed over the projects the customer owns.
 *
 * Rules:
 *
 * 1. The customer is the Hopsworks user whose OAuth uuid is `<clientId>.<authSubject>`. No such user
 *    (never provisioned, or removed) is zero usage with `userFound: false`, not an error: the
 *    collection records the day and an operator can look into the flag.
 *
 * 2. Projects are those the user owns (Hopsworks has no admin query for memberships): usage of a
 *    project is billed to its owner only, once.
 *
 * 3. API calls are the day's counts of our usage extension (see getProjectUsage), all services
 *    together. A cluster without the extension reports none: 0 calls, `apiCallsReported: false`.
 *
 * 4. Storage is a snapshot, not a history: Hopsworks keeps none. The projects' datasets (models and
 *    resources included), Hive and feature store bytes, as HDFS counts them (so replicated), measured
 *    when this runs, stand for the day's average GB. GB = 10^9 bytes (src/usage/quantities.ts rule 3),
 *    so the figure is exact. Collect a day soon after it ends, and it is the size at its end.
 *
 * 5. Failures propagate as HopsworksError: a cluster that cannot be reached (network, timeout, 5xx) is
 *    retryable, so the caller retries or fails that cluster's customers only. A malformed date is a
 *    RangeError, like pricing's.
 */
import type { DailyUsage } from '../domain/pricing.js';
import type { HopsworksClient } from '../hopsworks/client.js';
import type { HopsworksProjectUsage } from '../hopsworks/types.js';
import { bytesToGb, utcDay } from './quantities.js';

export type HopsworksUsageClient = Pick<
  HopsworksClient,
  'findUserBySubject' | 'listUserProjects' | 'getProjectUsage'
>;

/**
 * A usage client that lists the cluster's projects once and answers every customer's project list
 * from it. Hopsworks can only list all projects of a cluster, so asking once per customer costs time
 * and memory that grow with the square of the cluster's size; one collection batch shares one list
 * (projects created during the batch are counted from the next day's collection on).
 */
export function withSharedProjectList(
  client: Pick<HopsworksClient, 'findUserBySubject' | 'listProjects' | 'getProjectUsage'>,
): HopsworksUsageClient {
  let projects: ReturnType<HopsworksClient['listProjects']> | undefined;
  return {
    findUserBySubject: (subject, options) => client.findUserBySubject(subject, options),
    getProjectUsage: (project, date) => client.getProjectUsage(project, date),
    async listUserProjects(user) {
      if (!projects) {
        projects = client.listProjects();
        // A failed listing is not kept: the next customer asks again.
        projects.catch(() => {
          projects = undefined;
        });
      }
      return (await projects).filter((project) => project.owner === user.username);
    },
  };
}

export interface HopsworksUsageInput {
  /** The customer's Auth0 subject (`auth0|…`). */
  authSubject: string;
  /** The Auth0 client id of the cluster's OAuth registration; default the client's own. */
  clientId?: string;
  /** The UTC day, YYYY-MM-DD. */
  date: string;
}

export type HopsworksUsage = Required<Pick<DailyUsage, 'api_calls' | 'storage_gb'>>;

export interface HopsworksDayUsage {
  /** Ready for pricing (merge with Kubernetes' storage_gb first: src/usage/quantities mergeDailyUsage). */
  usage: HopsworksUsage;
  /** Projects the usage was summed over. */
  projects: number;
  userFound: boolean;
  /** False when the cluster does not serve API-call counts for at least one project (rule 3). */
  apiCallsReported: boolean;
}

function storageBytes(project: HopsworksProjectUsage): bigint {
  const { datasetsBytes, hiveBytes, featureStoreBytes } = project.storage;
  return [datasetsBytes, hiveBytes, featureStoreBytes].reduce<bigint>((sum, bytes) => {
    if (bytes === null) return sum;
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new RangeError(`project ${project.projectId}: storage is not a byte count: ${bytes}`);
    }
    return sum + BigInt(bytes);
  }, 0n);
}

/** The customer's Hopsworks usage of the day, summed over their projects (rules 1–4). */
export async function hopsworksUsageForDay(
  client: HopsworksUsageClient,
  input: HopsworksUsageInput,
): Promise<HopsworksDayUsage> {
  utcDay(input.date);
  const user = await client.findUserBySubject(
    input.authSubject,
    input.clientId === undefined ? undefined : { clientId: input.clientId },
  );
  if (!user) {
    return {
      usage: { api_calls: '0', storage_gb: '0' },
      projects: 0,
      userFound: false,
      apiCallsReported: true,
    };
  }
  const projects = await client.listUserProjects(user);
  let [apiCalls, bytes] = [0n, 0n];
  let apiCallsReported = true;
  // One project at a time: a customer has a handful, and the cluster is not ours to load.
  for (const project of projects) {
    const usage = await client.getProjectUsage(project, input.date);
    if (usage.apiCalls === null) apiCallsReported = false;
    else apiCalls += BigInt(usage.apiCalls.total);
    bytes += storageBytes(usage);
  }
  return {
    usage: { api_calls: apiCalls.toString(), storage_gb: bytesToGb(bytes) },
    projects: projects.length,
    userFound: true,
    apiCallsReported,
  };
}
