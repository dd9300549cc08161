import { codeForStatus, HopsworksError, isRetryableStatus } from './errors.js';
import {
  USER_STATUSES,
  type HopsworksApiCalls,
  type HopsworksProject,
  type HopsworksProjectUsage,
  type HopsworksUser,
  type HopsworksUserStatus,
} from './types.js';

/*
 * A client for the Hopsworks admin REST API, the part the billing orchestrator needs: OAuth users,
 * projects, account status, storage usage. Paths, parameters and JSON shapes follow the Hopsworks
 * sources (logicalclocks/hopsworks, hopsworks-api/src/main/java/io/hops/hopsworks/api/...):
 *
 *   auth        `Authorization: ApiKey <key>` (api/auth/key/ApiKeyFilter); the admin resources need a
 *               key of a HOPS_ADMIN user with the ADMIN scope (ADMINISTER_USERS suffices for users)
 *   users       admin/UsersAdminResource: GET/PUT /admin/users/{id}, GET /admin/users?filter_by=…,
 *               POST /admin/users?accountType=REMOTE_ACCOUNT_TYPE&type=OAUTH2&clientId&subject…,
 *               GET /admin/user/{uuid} where uuid = `${clientId}.${subject}` (OpenIdConstant.getUuid)
 *   projects    admin/projects/ProjectsAdminResource: GET /admin/projects?expand=creator,
 *               GET /admin/projects/{id}?expand=quotas, POST /admin/projects/createas
 *   version     util/VariablesService: GET /variables/versions (no auth)
 *
 * OAuth2 registration (clientId + subject, HOPSWORKS-3119, commit 94e3a44) is no longer in the
 * open-source tree; the Enterprise build keeps it with the same parameters (the predecessor's notes,
 * tested against 4.6), so the open-source 2022 version is the reference for these two calls.
 *
 * Where Hopsworks has nothing (there is no lookup by subject that returns the user id, no user →
 * projects query, no API-call metrics) the client composes real endpoints, except for API calls:
 * `GET /admin/projects/{id}/usage?date=` is OUR extension, not a Hopsworks endpoint (see getProjectUsage).
 */

const API_PREFIX = '/hopsworks-api/api';
const DEFAULT_TIMEOUT_MS = 10_000;
const USERS_PAGE_SIZE = 100;
// A server that ignored offset would otherwise page forever; no email prefix matches this many users.
const USERS_MAX_PAGES = 50;

// Hopsworks' own rule (hopsworks-common FolderNameValidator.PROJECT_NAME_REGEX), checked here so that a
// bad name fails before an expensive create: letters, digits and single underscores, alphanumeric at
// both ends, at most 24 characters, not only digits, no `_featurestore`, not `Projects`.
const PROJECT_NAME =
  /^(?!^Projects$)(?!^[0-9]*$)[a-zA-Z0-9]((?!__)(?!_featurestore)[_a-zA-Z0-9]){0,22}[a-zA-Z0-9]$/i;

// UserAccountStatus values that keep a user from logging in.
const BLOCKED_STATUSES: ReadonlySet<HopsworksUserStatus> = new Set([
  'DEACTIVATED_ACCOUNT',
  'BLOCKED_ACCOUNT',
  'SPAM_ACCOUNT',
]);
const ACTIVATED = 2;
const DEACTIVATED = 3;

// Hopsworks' numeric error codes the client branches on (hopsworks-rest-utils RESTCodes).
const USER_EXISTS = 160003;
const PROJECT_EXISTS = 150001;
const NUM_PROJECTS_LIMIT_REACHED = 150002;

// Quotas report storage in GiB despite the name of the converter (ProjectQuotasController
// .convertToTeraBytes divides by 1073741824); -1 means "no quota", which is not a usage figure.
const BYTES_PER_QUOTA_UNIT = 1024 ** 3;

export interface HopsworksClientOptions {
  /** The cluster URL (`https://c.hopsworks.ai`); a trailing `/hopsworks-api/api` is accepted too. */
  baseUrl: string;
  /** An admin API key. A string or anything with `reveal()` (src/secret.ts `Secret`). */
  apiKey: string | { reveal(): string };
  /** The Auth0 client id Hopsworks' OAuth2 client was registered with; default for the methods below. */
  oauthClientId?: string;
  fetch?: typeof fetch;
  /** Per request, including reading the body. */
  timeoutMs?: number;
}

export type UserRef = Pick<HopsworksUser, 'id'> & Partial<Pick<HopsworksUser, 'subject' | 'uuid'>>;
export type ProjectRef = Pick<HopsworksProject, 'id'> & Partial<Pick<HopsworksProject, 'name'>>;

export interface CreateOAuthUserInput {
  /** The OAuth subject (Auth0 `sub`, e.g. `auth0|64f…`). */
  subject: string;
  /** Defaults to the client's `oauthClientId`. */
  clientId?: string;
  email: string;
  /** Hopsworks requires non-empty names; the email's local part and `-` stand in when missing. */
  givenName?: string;
  familyName?: string;
  /** Projects the user may create; Hopsworks applies its default when omitted. */
  maxNumProjects?: number;
}

export interface CreateProjectInput {
  name: string;
  /** The owner: a user or a username (`createas` resolves owners by username only, not email). */
  owner: string | Pick<HopsworksUser, 'username'>;
  description?: string;
  /** Hopsworks services to enable (e.g. `JOBS`, `FEATURESTORE`); omitted, Hopsworks' defaults apply. */
  services?: string[];
}

export interface HopsworksClient {
  findUserBySubject(subject: string, options?: { clientId?: string }): Promise<HopsworksUser | undefined>;
  createOAuthUser(input: CreateOAuthUserInput): Promise<HopsworksUser>;
  createProject(input: CreateProjectInput): Promise<HopsworksProject>;
  /** Every project of the cluster (Hopsworks has no paging or filter for it). */
  listProjects(): Promise<HopsworksProject[]>;
  listUserProjects(user: Pick<HopsworksUser, 'username'>): Promise<HopsworksProject[]>;
  setUserBlocked(user: UserRef, blocked: boolean): Promise<HopsworksUser>;
  testConnection(): Promise<{ ok: true; version?: string }>;
  getProjectUsage(project: ProjectRef, date: string): Promise<HopsworksProjectUsage>;
}

type Query = Record<string, string | number | string[] | undefined>;

interface RequestOptions {
  query?: Query;
  json?: unknown;
  auth?: boolean;
}

interface Reply {
  status: number;
  body: unknown;
}

export function createHopsworksClient(options: HopsworksClientOptions): HopsworksClient {
  const origin = normaliseBaseUrl(options.baseUrl);
  // Kept in this closure only: the returned object has no property holding the key, so logging or
  // serialising the client cannot leak it.
  const apiKey = typeof options.apiKey === 'string' ? options.apiKey : options.apiKey.reveal();
  if (!apiKey.trim()) throw new TypeError('Hopsworks apiKey is empty');
  const doFetch = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  const redact = (text: string): string =>
    apiKey.length >= 4 ? text.split(apiKey).join('[redacted]') : text;

  async function request(method: string, path: string, opts: RequestOptions = {}): Promise<Reply> {
    const url = new URL(origin + API_PREFIX + path);
    for (const [name, value] of Object.entries(opts.query ?? {})) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(v));
    }
    const where = `${method} ${origin}${API_PREFIX}${path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.auth !== false) headers.authorization = `ApiKey ${apiKey}`;
    if (opts.json !== undefined) headers['content-type'] = 'application/json';

    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const response = await doFetch(url, {
        method,
        headers,
        body: opts.json === undefined ? undefined : JSON.stringify(opts.json),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'manual', // a redirect would be a login page or a misconfigured URL, not data
      });
      status = response.status;
      retryAfter = response.headers.get('retry-after');
      text = await response.text();
    } catch (error) {
      throw transportError(error, where, timeoutMs);
    }

    const body = parseJson(text);
    if (status >= 200 && status < 300) return { status, body };

    const { hopsworksCode, detail } = describeErrorBody(body, text);
    throw new HopsworksError({
      code: codeForStatus(status),
      status,
      hopsworksCode,
      retryable: isRetryableStatus(status),
      retryAfterMs: parseRetryAfter(retryAfter),
      message: redact(
        `Hopsworks ${where} failed: HTTP ${status}` +
          (detail ? `: ${detail}` : '') +
          (hopsworksCode === undefined ? '' : ` (errorCode ${hopsworksCode})`),
      ),
    });
  }

  function invalid(where: string, what: string): HopsworksError {
    return new HopsworksError({
      code: 'invalid_response',
      retryable: false,
      message: `Hopsworks ${where}: unexpected response, ${what}`,
    });
  }

  function clientIdFor(given: string | undefined): string {
    const clientId = given ?? options.oauthClientId;
    // A HopsworksError, not a TypeError, so that activities fail for good instead of retrying a bug.
    if (!clientId) {
      throw new HopsworksError({
        code: 'invalid_request',
        retryable: false,
        message: 'Hopsworks OAuth client id missing: set oauthClientId on the client or pass clientId',
      });
    }
    return clientId;
  }

  // GET /admin/users?filter_by=user_email:<email>. The filter is a case-insensitive prefix match
  // (UserFacade.Filters.USER_EMAIL), so the exact match is picked here; pages until exhausted.
  async function findProfileByEmail(email: string): Promise<Record<string, unknown> | undefined> {
    const wanted = email.toLowerCase();
    for (let page = 0; page < USERS_MAX_PAGES; page++) {
      const { body } = await request('GET', '/admin/users', {
        query: { filter_by: `user_email:${email}`, offset: page * USERS_PAGE_SIZE, limit: USERS_PAGE_SIZE },
      });
      const items = itemsOf(body, 'GET /admin/users');
      const hit = items.find((item) => typeof item.email === 'string' && item.email.toLowerCase() === wanted);
      if (hit) return hit;
      if (items.length < USERS_PAGE_SIZE) return undefined;
    }
    return undefined;
  }

  async function getProfile(id: number): Promise<Record<string, unknown>> {
    const { body } = await request('GET', `/admin/users/${id}`);
    if (!isRecord(body)) throw invalid(`GET /admin/users/${id}`, 'not an object');
    return body;
  }

  async function listProjects(): Promise<HopsworksProject[]> {
    // expand=creator inlines the owner; without it each creator is only an href. The endpoint has no
    // paging and no filter (ProjectsAdminBuilder returns projectFacade.findAll()).
    const { body } = await request('GET', '/admin/projects', { query: { expand: 'creator' } });
    return itemsOf(body, 'GET /admin/projects').map((item) => toProject(item, 'GET /admin/projects'));
  }

  const client: HopsworksClient = {
    async findUserBySubject(subject, opts) {
      const uuid = `${clientIdFor(opts?.clientId)}.${subject}`;
      let remote: unknown;
      try {
        // Returns only { uuid, givenName, surname, email }: no id, username or status.
        remote = (await request('GET', `/admin/user/${encodeURIComponent(uuid)}`)).body;
      } catch (error) {
        if (error instanceof HopsworksError && error.status === 404) return undefined;
        throw error;
      }
      if (!isRecord(remote) || typeof remote.email !== 'string') {
        throw invalid('GET /admin/user/{uuid}', 'no email in the remote user');
      }
      const profile = await findProfileByEmail(remote.email);
      if (!profile) {
        throw new HopsworksError({
          code: 'inconsistent',
          retryable: true,
          message: `Hopsworks has a remote user for subject ${subject} but no account with its email`,
        });
      }
      return toUser(profile, 'GET /admin/users', { subject, uuid });
    },

    async createOAuthUser(input) {
      const clientId = clientIdFor(input.clientId);
      const uuid = `${clientId}.${input.subject}`;
      const localPart = input.email.split('@')[0] || input.email;
      let created: unknown;
      try {
        // Query parameters, no body: UsersAdminResource.registerUser takes @QueryParam only.
        created = (
          await request('POST', '/admin/users', {
            query: {
              accountType: 'REMOTE_ACCOUNT_TYPE',
              type: 'OAUTH2',
              clientId,
              subject: input.subject,
              email: input.email,
              givenName: input.givenName?.trim() || localPart,
              surname: input.familyName?.trim() || '-',
              maxNumProjects: input.maxNumProjects,
            },
          })
        ).body;
      } catch (error) {
        // 409 USER_EXISTS: either this subject is registered already (a retry, a second signup
        // webhook) and we return it, or the email belongs to another account, which needs a human.
        if (!(error instanceof HopsworksError && error.status === 409)) throw error;
        const existing = await client.findUserBySubject(input.subject, { clientId });
        if (existing) return existing;
        throw new HopsworksError({
          code: 'email_taken',
          status: 409,
          hopsworksCode: error.hopsworksCode ?? USER_EXISTS,
          retryable: false,
          message: `Hopsworks has another account with the email of subject ${input.subject}`,
        });
      }
      // The 201 body has no numeric id (RestRemoteUserDTO): read the account back by email, which
      // Hopsworks stores lower-cased.
      const email = isRecord(created) && typeof created.email === 'string' ? created.email : input.email;
      const profile = await findProfileByEmail(email);
      if (!profile) {
        throw new HopsworksError({
          code: 'inconsistent',
          retryable: true, // a retry gets 409 and finds the user
          message: `Hopsworks created the user of subject ${input.subject} but does not list it`,
        });
      }
      return toUser(profile, 'GET /admin/users', { subject: input.subject, uuid });
    },

    async createProject(input) {
      const owner = typeof input.owner === 'string' ? input.owner : input.owner.username;
      if (!PROJECT_NAME.test(input.name)) {
        throw new HopsworksError({
          code: 'invalid_project_name',
          retryable: false,
          message: `Invalid Hopsworks project name "${input.name}": 2-24 letters, digits, single underscores`,
        });
      }
      try {
        // 200 with an empty body on success; the project is read back below.
        await request('POST', '/admin/projects/createas', {
          json: {
            projectName: input.name,
            owner,
            ...(input.description === undefined ? {} : { description: input.description }),
            ...(input.services === undefined ? {} : { services: input.services }),
          },
        });
      } catch (error) {
        // 409 PROJECT_EXISTS: ours from an earlier attempt is success; someone else's is a conflict.
        // Hopsworks checks the owner's project limit before the name (ProjectController
        // .createProjectDbMetadata), so a retry by an owner at the limit gets 400
        // NUM_PROJECTS_LIMIT_REACHED for the project it already has: that is success too.
        if (!(error instanceof HopsworksError)) throw error;
        const limitReached = error.hopsworksCode === NUM_PROJECTS_LIMIT_REACHED;
        if (error.status !== 409 && !limitReached) throw error;
        const existing = findByName(await listProjects(), input.name);
        if (existing && existing.owner === owner) return existing;
        if (limitReached) throw error;
        throw new HopsworksError({
          code: 'project_name_taken',
          status: 409,
          hopsworksCode: error.hopsworksCode ?? PROJECT_EXISTS,
          retryable: false,
          message: `Hopsworks project "${input.name}" exists and belongs to another user`,
        });
      }
      const project = findByName(await listProjects(), input.name);
      if (!project) {
        throw new HopsworksError({
          code: 'inconsistent',
          retryable: true,
          message: `Hopsworks created project "${input.name}" but does not list it`,
        });
      }
      return project;
    },

    listProjects,

    async listUserProjects(user) {
      // Projects the user owns; Hopsworks has no admin query for a user's projects or memberships.
      return (await listProjects()).filter((project) => project.owner === user.username);
    },

    async setUserBlocked(user, blocked) {
      const where = `/admin/users/${user.id}`;
      const current = toUser(await getProfile(user.id), `GET ${where}`, user);
      // Idempotent: no write when the account is already where we want it. Billing suspends with
      // DEACTIVATED and lifts only that; an administrator's BLOCKED or SPAM stays.
      if (blocked && current.blocked) return current;
      if (!blocked && current.status !== 'DEACTIVATED_ACCOUNT') {
        if (!current.blocked) return current;
        throw new HopsworksError({
          code: 'blocked_by_admin',
          status: 409,
          retryable: false,
          message: `Hopsworks user ${user.id} is ${current.status}; billing only lifts its own suspension`,
        });
      }
      // PUT takes a Users entity and applies only status, groups and maxNumProjects; the status is
      // its integer value, as UserProfileDTO reports it.
      const { body } = await request('PUT', where, { json: { status: blocked ? DEACTIVATED : ACTIVATED } });
      // The answer is the updated UserProfileDTO; should a version answer less, read the user back.
      const complete = isRecord(body) && typeof body.id === 'number' && typeof body.username === 'string';
      return toUser(complete ? body : await getProfile(user.id), `PUT ${where}`, user);
    },

    async testConnection() {
      // An authenticated admin call proves URL, key, role and scope; limit=1 keeps it cheap.
      await request('GET', '/admin/users', { query: { offset: 0, limit: 1 } });
      let version: string | undefined;
      try {
        const { body } = await request('GET', '/variables/versions', { auth: false });
        const entry = Array.isArray(body)
          ? body.find((v: unknown) => isRecord(v) && v.software === 'hopsworks')
          : undefined;
        if (isRecord(entry) && typeof entry.version === 'string') version = entry.version;
      } catch {
        // The version is a nicety for the admin page; the connection itself is proven above.
      }
      return version === undefined ? { ok: true } : { ok: true, version };
    },

    async getProjectUsage(project, date) {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) {
        throw new HopsworksError({
          code: 'invalid_request',
          retryable: false,
          message: `Hopsworks usage date must be YYYY-MM-DD, got "${date}"`,
        });
      }
      const where = `/admin/projects/${project.id}`;
      const measuredAt = new Date().toISOString();
      const { body } = await request('GET', where, { query: { expand: 'quotas' } });
      if (!isRecord(body) || typeof body.name !== 'string') throw invalid(`GET ${where}`, 'no project name');
      const quotas = isRecord(body.projectQuotas) ? body.projectQuotas : {};
      return {
        projectId: project.id,
        projectName: body.name,
        date,
        storage: {
          measuredAt,
          datasetsBytes: quotaBytes(quotas.hdfsUsage),
          hiveBytes: quotaBytes(quotas.hiveUsage),
          featureStoreBytes: quotaBytes(quotas.featurestoreUsage),
        },
        apiCalls: await getApiCalls(project.id, date),
      };
    },
  };

  /*
   * OUR EXTENSION, not part of Hopsworks: Hopsworks exposes no API-call metrics. A cluster that wants
   * API-call billing serves
   *
   *   GET /hopsworks-api/api/admin/projects/{projectId}/usage?date=YYYY-MM-DD
   *   Authorization: ApiKey <admin key>
   *   200 { "projectId": 120, "date": "2026-01-15",
   *         "apiCalls": { "featureStore": 5000, "modelServing": 1000, "jobs": 200 } }
   *
   * (counts for that UTC day, non-negative integers), e.g. from a small service behind the cluster's
   * ingress that aggregates the Hopsworks access logs and checks the key against Hopsworks. A 404 whose
   * body is not a Hopsworks error (the servlet container's "no such route") means the cluster has no
   * extension: API calls are then `null` and not billed. A 404 with a Hopsworks errorCode is an error.
   */
  async function getApiCalls(projectId: number, date: string): Promise<HopsworksApiCalls | null> {
    const where = `GET /admin/projects/${projectId}/usage`;
    let body: unknown;
    try {
      body = (await request('GET', `/admin/projects/${projectId}/usage`, { query: { date } })).body;
    } catch (error) {
      if (error instanceof HopsworksError && error.status === 404 && error.hopsworksCode === undefined)
        return null;
      throw error;
    }
    const calls = isRecord(body) && isRecord(body.apiCalls) ? body.apiCalls : undefined;
    if (!calls) throw invalid(where, 'no apiCalls');
    const count = (name: string): number => {
      const value = calls[name] ?? 0;
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
        throw invalid(where, `apiCalls.${name} is not a count`);
      }
      return value;
    };
    const featureStore = count('featureStore');
    const modelServing = count('modelServing');
    const jobs = count('jobs');
    return { featureStore, modelServing, jobs, total: featureStore + modelServing + jobs };
  }

  return client;
}

function normaliseBaseUrl(baseUrl: string): string {
  const url = new URL(baseUrl);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError(`Hopsworks baseUrl must be http(s), got ${url.protocol}`);
  }
  // origin drops any user:password@ and the query; the path is kept for clusters behind a prefix.
  const path = url.pathname.replace(/\/+$/, '').replace(/\/hopsworks-api\/api$/, '');
  return url.origin + path;
}

function transportError(error: unknown, where: string, timeoutMs: number): HopsworksError {
  const name = error instanceof Error ? error.name : '';
  // AbortSignal.timeout aborts with a TimeoutError; a custom fetch may surface it as AbortError.
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new HopsworksError({
      code: 'timeout',
      retryable: true,
      message: `Hopsworks ${where} timed out after ${timeoutMs} ms`,
    });
  }
  const cause = error instanceof Error ? error.cause : undefined;
  const detail =
    (isRecord(cause) && typeof cause.code === 'string' ? cause.code : undefined) ??
    (error instanceof Error ? error.message : 'unknown error');
  return new HopsworksError({
    code: 'network',
    retryable: true,
    message: `Hopsworks ${where} failed: network error (${detail})`,
    cause: error,
  });
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

// Hopsworks errors are { errorCode, errorMsg, usrMsg?, devMsg? }; proxies answer HTML or plain text.
function describeErrorBody(body: unknown, text: string): { hopsworksCode?: number; detail?: string } {
  if (isRecord(body)) {
    const hopsworksCode = typeof body.errorCode === 'number' ? body.errorCode : undefined;
    const parts = [body.errorMsg, body.usrMsg].filter((p): p is string => typeof p === 'string' && p !== '');
    return { hopsworksCode, detail: truncate(parts.join(' - ')) };
  }
  const plain = text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return { detail: plain ? truncate(plain) : undefined };
}

function truncate(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Collections are { href, items, count }; Hopsworks leaves `items` out when there are none.
function itemsOf(body: unknown, where: string): Record<string, unknown>[] {
  if (!isRecord(body)) {
    throw new HopsworksError({
      code: 'invalid_response',
      retryable: false,
      message: `Hopsworks ${where}: unexpected response, not an object`,
    });
  }
  const items = body.items ?? [];
  if (!Array.isArray(items)) {
    throw new HopsworksError({
      code: 'invalid_response',
      retryable: false,
      message: `Hopsworks ${where}: unexpected response, items is not a list`,
    });
  }
  return items.filter(isRecord);
}

function statusName(value: unknown): HopsworksUserStatus | undefined {
  if (typeof value === 'number') return USER_STATUSES[value];
  if (typeof value === 'string') return USER_STATUSES.find((s) => s === value);
  return undefined;
}

function toUser(
  dto: Record<string, unknown>,
  where: string,
  known: { subject?: string; uuid?: string } = {},
): HopsworksUser {
  const status = statusName(dto.status);
  if (
    typeof dto.id !== 'number' ||
    typeof dto.username !== 'string' ||
    typeof dto.email !== 'string' ||
    !status
  ) {
    throw new HopsworksError({
      code: 'invalid_response',
      retryable: false,
      message: `Hopsworks ${where}: unexpected response, user without id, username, email or status`,
    });
  }
  const user: HopsworksUser = {
    id: dto.id,
    username: dto.username,
    email: dto.email,
    status,
    blocked: BLOCKED_STATUSES.has(status),
  };
  if (typeof dto.firstname === 'string') user.firstName = dto.firstname;
  if (typeof dto.lastname === 'string') user.lastName = dto.lastname;
  if (known.subject !== undefined) user.subject = known.subject;
  if (known.uuid !== undefined) user.uuid = known.uuid;
  if (typeof dto.maxNumProjects === 'number') user.maxNumProjects = dto.maxNumProjects;
  return user;
}

function toProject(dto: Record<string, unknown>, where: string): HopsworksProject {
  const creator = isRecord(dto.creator) ? dto.creator : undefined;
  const created = toIsoDate(dto.created);
  if (
    typeof dto.id !== 'number' ||
    typeof dto.name !== 'string' ||
    typeof creator?.username !== 'string' ||
    !created
  ) {
    throw new HopsworksError({
      code: 'invalid_response',
      retryable: false,
      message: `Hopsworks ${where}: unexpected response, project without id, name, creator or created`,
    });
  }
  const project: HopsworksProject = { id: dto.id, name: dto.name, owner: creator.username, created };
  if (typeof creator.email === 'string') project.ownerEmail = creator.email;
  return project;
}

// Dates arrive as ISO strings or, depending on the JSON provider's settings, epoch milliseconds.
function toIsoDate(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

// Project names are unique regardless of case (ProjectFacade.projectExists: findByNameCaseInsensitive).
function findByName(projects: HopsworksProject[], name: string): HopsworksProject | undefined {
  return projects.find((p) => p.name.toLowerCase() === name.toLowerCase());
}

function quotaBytes(value: unknown): number | null {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return null;
  return Math.round(value * BYTES_PER_QUOTA_UNIT);
}
