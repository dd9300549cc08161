import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DEFAULT_MAX_NUM_PROJECTS,
  FakeStore,
  PROJECT_NAME_REGEX,
  USER_STATUS_NAMES,
  projectAdminJson,
  remoteUserJson,
  userProfileJson,
  type FakeProject,
  type FakeUser,
  type SeedProject,
  type SeedUser,
} from './store.js';

export {
  DEFAULT_CLIENT_ID,
  type FakeProject,
  type FakeUser,
  type SeedProject,
  type SeedUser,
} from './store.js';

/*
 * A fake Hopsworks cluster on 127.0.0.1 that answers the admin REST API the way Hopsworks does, for
 * the calls src/hopsworks/client.ts makes: same paths under /hopsworks-api/api, `Authorization:
 * ApiKey <key>`, same JSON shapes and Hopsworks error bodies `{ errorCode, errorMsg, usrMsg }` with the
 * real codes (hopsworks-rest-utils RESTCodes), the same validation order where it matters for
 * idempotency. It knows nothing of the client, so the contract tests test the client against the
 * wire format, not against itself. Plain Node (no test framework): the local sandbox runs it too.
 *
 * Besides Hopsworks it serves OUR usage extension, GET /admin/projects/{id}/usage?date= (see the
 * client's getProjectUsage); `usageExtension: false` makes it answer like a stock cluster (404).
 */

const API_PREFIX = '/hopsworks-api/api';

// RESTCodes: range + code.
const CODES = {
  EJB_ACCESS_LOCAL: 200003, // 401, no or non-ApiKey Authorization header
  KEY_NOT_FOUND: 320002, // 401, unknown key
  ILLEGAL_ARGUMENT: 120001, // 422
  USER_DOES_NOT_EXIST: 160001, // 400
  USER_WAS_NOT_FOUND: 160002, // 404
  USER_EXISTS: 160003, // 409
  PROJECT_EXISTS: 150001, // 409
  NUM_PROJECTS_LIMIT_REACHED: 150002, // 400
  INVALID_PROJECT_NAME: 150003, // 400
  PROJECT_NOT_FOUND: 150004, // 400 (sic)
  PROJECT_NAME_TOO_LONG: 150075, // 400
} as const;

export interface FakeHopsworksOptions {
  /** The only key accepted, as `Authorization: ApiKey <apiKey>`. */
  apiKey: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Reported by GET /variables/versions. */
  version?: string;
  /** Serve our usage extension endpoint (default true). */
  usageExtension?: boolean;
}

export interface RecordedRequest {
  method: string;
  /** Full path without the query, e.g. `/hopsworks-api/api/admin/users`. */
  path: string;
  query: Record<string, string[]>;
  /** The Authorization scheme only (`ApiKey`, `Bearer`); the credential itself is never kept. */
  authScheme?: string;
  body?: unknown;
  /** What the fake answered; 0 when it reset the connection. */
  status: number;
}

export interface FailureRule {
  /** A path (with or without the /hopsworks-api/api prefix) or a pattern tested against the full path. */
  path: string | RegExp;
  status: number;
  /** How many matching requests fail (default 1). */
  count?: number;
  method?: string;
}

export interface DelayRule {
  path: string | RegExp;
  ms: number;
  count?: number;
  method?: string;
}

export interface FakeHopsworks {
  /** The cluster URL, what the client's `baseUrl` takes. */
  url: string;
  apiKey: string;
  users: Map<number, FakeUser>;
  projects: Map<number, FakeProject>;
  requests: RecordedRequest[];
  seedUser(seed: SeedUser): FakeUser;
  seedProject(seed: SeedProject): FakeProject;
  /** API calls the usage extension reports for a project and day. */
  setApiCalls(
    projectId: number,
    date: string,
    calls: { featureStore?: number; modelServing?: number; jobs?: number },
  ): void;
  /** What the project's quotas report as used, in bytes (null: Hopsworks reports nothing). */
  setStorage(projectId: number, storage: Partial<FakeProject['storage']>): void;
  /** The next `count` requests matching `path` get `status` before anything else happens. */
  failNext(rule: FailureRule): void;
  /** The next `count` requests matching `path` are answered only after `ms`. */
  delayNext(rule: DelayRule): void;
  /**
   * Down: every request gets a 503 HTML page from "the load balancer" (`unavailable`, default) or has
   * its connection reset (`reset`), until setDown(false).
   */
  setDown(down: boolean, mode?: 'unavailable' | 'reset'): void;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly contentType = 'application/json',
  ) {
    super(`HTTP ${status}`);
  }
}

// A Hopsworks REST error, as RESTException.buildJsonResponse renders it at the PROD log level.
function hopsworksError(status: number, errorCode: number, errorMsg: string, usrMsg?: string): HttpError {
  return new HttpError(status, { errorCode, errorMsg, ...(usrMsg === undefined ? {} : { usrMsg }) });
}

// What the servlet container answers for a route (or query parameter) JAX-RS cannot match.
function noRoute(): HttpError {
  return new HttpError(404, '<html><body><h1>HTTP Status 404 - Not Found</h1></body></html>', 'text/html');
}

function illegalArgument(usrMsg: string): HttpError {
  return hopsworksError(
    422,
    CODES.ILLEGAL_ARGUMENT,
    'An argument was not provided or it was malformed.',
    usrMsg,
  );
}

interface Rule {
  path: string | RegExp;
  method?: string;
  remaining: number;
}

function matches(rule: Rule, method: string, path: string): boolean {
  if (rule.method && rule.method.toUpperCase() !== method) return false;
  if (rule.path instanceof RegExp) return rule.path.test(path);
  return rule.path === path || API_PREFIX + rule.path === path;
}

function take<T extends Rule>(rules: T[], method: string, path: string): T | undefined {
  const rule = rules.find((r) => r.remaining > 0 && matches(r, method, path));
  if (rule) rule.remaining -= 1;
  return rule;
}

export async function startFakeHopsworks(options: FakeHopsworksOptions): Promise<FakeHopsworks> {
  const store = new FakeStore();
  const requests: RecordedRequest[] = [];
  const failures: (Rule & { status: number })[] = [];
  const delays: (Rule & { ms: number })[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let down: false | 'unavailable' | 'reset' = false;
  const usageExtension = options.usageExtension ?? true;
  let apiUrl = '';

  const server = createServer((req, res) => {
    void handle(req, res);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const authorization = req.headers.authorization;
    const record: RecordedRequest = {
      method,
      path: url.pathname,
      query: queryRecord(url.searchParams),
      status: 0,
    };
    if (authorization) record.authScheme = authorization.split(' ')[0];
    requests.push(record);

    if (down === 'reset') {
      req.socket.destroy();
      return;
    }
    let status: number;
    let body: unknown;
    let contentType = 'application/json';
    const headers: Record<string, string> = {};
    try {
      const text = await readBody(req);
      if (text) record.body = parseBody(text);
      if (down === 'unavailable') {
        throw new HttpError(
          503,
          '<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>',
          'text/html',
        );
      }
      const failure = take(failures, method, url.pathname);
      if (failure) {
        if (failure.status === 429) headers['retry-after'] = '1';
        throw new HttpError(failure.status, { errorMsg: `Injected failure (HTTP ${failure.status})` });
      }
      const delay = take(delays, method, url.pathname);
      if (delay) await sleep(delay.ms);
      const reply = route(method, url, authorization, text, headers);
      status = reply.status;
      body = reply.body;
    } catch (error) {
      if (!(error instanceof HttpError)) {
        status = 500;
        body = { errorMsg: error instanceof Error ? error.message : String(error) };
      } else {
        status = error.status;
        body = error.body;
        contentType = error.contentType;
        if (status === 401) headers['www-authenticate'] = 'Bearer realm="Cauth Realm"';
      }
    }
    record.status = status;
    if (res.destroyed) return;
    const payload = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { ...headers, ...(payload ? { 'content-type': contentType } : {}) });
    res.end(payload);
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });
  }

  // ApiKeyFilter: no header or another scheme → 401 EJB_ACCESS_LOCAL; an unknown key → 401 KEY_NOT_FOUND.
  function authenticate(authorization: string | undefined): void {
    if (authorization === undefined) {
      throw hopsworksError(401, CODES.EJB_ACCESS_LOCAL, 'Authorization header not set.');
    }
    if (!authorization.startsWith('ApiKey ')) {
      throw hopsworksError(401, CODES.EJB_ACCESS_LOCAL, 'Invalidated Api key.');
    }
    if (authorization.slice('ApiKey '.length).trim() !== options.apiKey) {
      throw hopsworksError(401, CODES.KEY_NOT_FOUND, 'Api key not found');
    }
  }

  function route(
    method: string,
    url: URL,
    authorization: string | undefined,
    text: string,
    headers: Record<string, string>,
  ): { status: number; body?: unknown } {
    if (!url.pathname.startsWith(API_PREFIX + '/')) throw noRoute();
    const segments = url.pathname.slice(API_PREFIX.length + 1).split('/');
    const q = url.searchParams;
    const [first, second, third, fourth] = segments;

    if (first === 'variables' && second === 'versions' && segments.length === 2) {
      allow(method, 'GET');
      return {
        status: 200,
        body: [
          { software: 'hopsworks', version: options.version ?? '4.2.0' },
          { software: 'kafka', version: '3.7.0' },
        ],
      };
    }
    if (first !== 'admin') throw noRoute();
    authenticate(authorization);

    if (second === 'users' && segments.length === 2) {
      if (method === 'GET') return listUsers(q);
      if (method === 'POST') return registerUser(q, headers);
      throw methodNotAllowed();
    }
    if (second === 'users' && third !== undefined && /^[0-9]+$/.test(third) && segments.length === 3) {
      const user = store.users.get(Number(third));
      if (!user) throw hopsworksError(404, CODES.USER_WAS_NOT_FOUND, 'User not found');
      if (method === 'GET') return { status: 200, body: userProfileJson(user, store, apiUrl) };
      if (method === 'PUT') return updateUser(user, text);
      throw methodNotAllowed();
    }
    if (second === 'user' && third !== undefined && segments.length === 3) {
      allow(method, 'GET');
      const user = store.userByUuid(decodeURIComponent(third));
      if (!user)
        throw hopsworksError(404, CODES.USER_WAS_NOT_FOUND, 'User not found', 'Remote user not found.');
      return { status: 200, body: remoteUserJson(user, false) };
    }
    if (second === 'projects' && segments.length === 2) {
      allow(method, 'GET');
      const expand = expansions(q);
      const items = [...store.projects.values()].map((p) => projectAdminJson(p, store, apiUrl, expand));
      return { status: 200, body: collection(`${apiUrl}/admin/projects`, items, items.length) };
    }
    if (second === 'projects' && third === 'createas' && segments.length === 3) {
      allow(method, 'POST');
      return createProjectAs(text);
    }
    if (second === 'projects' && third !== undefined && /^[0-9]+$/.test(third)) {
      const project = store.projects.get(Number(third));
      if (segments.length === 3) {
        allow(method, 'GET');
        if (!project) throw hopsworksError(400, CODES.PROJECT_NOT_FOUND, "Project wasn't found.");
        return { status: 200, body: projectAdminJson(project, store, apiUrl, expansions(q)) };
      }
      if (fourth === 'usage' && segments.length === 4 && usageExtension) {
        allow(method, 'GET');
        return projectUsage(project, q.get('date'));
      }
    }
    throw noRoute();
  }

  // GET /admin/users: filter_by (repeatable, `name:value`, names of UserFacade.Filters; the value is
  // upper-cased and e-mail/username filters are prefix matches), offset, limit; { href, items, count }.
  function listUsers(q: URLSearchParams): { status: number; body: unknown } {
    let users = [...store.users.values()].sort((a, b) => a.id - b.id);
    for (const filter of q.getAll('filter_by')) {
      const colon = filter.indexOf(':');
      const name = (colon < 0 ? filter : filter.slice(0, colon)).toUpperCase();
      const value = colon < 0 ? '' : filter.slice(colon + 1).toUpperCase();
      if (name === 'USER_EMAIL') users = users.filter((u) => u.email.toUpperCase().startsWith(value));
      else if (name === 'USER_NAME') users = users.filter((u) => u.username.toUpperCase().startsWith(value));
      else if (name === 'STATUS') users = users.filter((u) => u.status === Number(value || '2'));
      else if (name === 'TYPE') {
        const remote = value === '1' || value === 'REMOTE_ACCOUNT_TYPE';
        users = users.filter((u) => (u.accountType === 'REMOTE_ACCOUNT_TYPE') === remote);
      }
      // Jersey cannot convert an unknown filter name (FilterBy → Filters.valueOf) and answers 404.
      else throw noRoute();
    }
    const offset = intParam(q, 'offset') ?? 0;
    const limit = intParam(q, 'limit');
    const page = users.slice(offset, limit === undefined ? undefined : offset + limit);
    const items = page.map((u) => userProfileJson(u, store, apiUrl));
    return { status: 200, body: collection(`${apiUrl}/admin/users`, items, users.length) };
  }

  // POST /admin/users, query parameters only (UsersAdminResource.registerUser / createRemoteUser).
  function registerUser(
    q: URLSearchParams,
    headers: Record<string, string>,
  ): { status: number; body: unknown } {
    const accountType = q.get('accountType');
    if (!accountType)
      throw hopsworksError(
        422,
        CODES.ILLEGAL_ARGUMENT,
        'An argument was not provided or it was malformed.',
        'Account type not provided.',
      );
    if (accountType !== 'REMOTE_ACCOUNT_TYPE') {
      if (accountType === 'M_ACCOUNT_TYPE')
        throw new HttpError(400, { errorMsg: 'The fake registers OAuth2 remote users only' });
      throw noRoute();
    }
    const type = q.get('type');
    if (!type) throw illegalArgument('Remote account type not provided.');
    if (type !== 'OAUTH2') throw illegalArgument('Remote account type not supported.');
    const email = q.get('email');
    if (!email) throw illegalArgument('Email not provided.');
    const clientId = q.get('clientId');
    if (!clientId) throw illegalArgument('clientId not provided.');
    const subject = q.get('subject');
    if (!subject) throw illegalArgument('subject not provided.');
    const givenName = q.get('givenName');
    if (!givenName) throw illegalArgument('GivenName not provided.');
    const surname = q.get('surname');
    if (!surname) throw illegalArgument('Surname not provided.');
    const maxNumProjects = intParam(q, 'maxNumProjects');
    const uuid = `${clientId}.${subject}`;
    if (store.userByUuid(uuid))
      throw hopsworksError(
        409,
        CODES.USER_EXISTS,
        'There is an existing account associated with this email',
        'Remote user exists.',
      );
    if (store.userByEmail(email)) {
      throw hopsworksError(
        409,
        CODES.USER_EXISTS,
        'There is an existing account associated with this email',
        'User with the same email already exists.',
      );
    }
    const user = store.addUser({
      email,
      subject,
      clientId,
      firstname: givenName,
      lastname: surname,
      maxNumProjects:
        maxNumProjects !== undefined && maxNumProjects > 0 ? maxNumProjects : DEFAULT_MAX_NUM_PROJECTS,
    });
    headers.location = `${apiUrl}/admin/users/${encodeURIComponent(uuid)}`;
    return { status: 201, body: remoteUserJson(user, true) };
  }

  // PUT /admin/users/{id} takes a Users entity and applies status, groups and maxNumProjects.
  function updateUser(user: FakeUser, text: string): { status: number; body: unknown } {
    const body = parseBody(text);
    if (typeof body !== 'object' || body === null)
      throw new HttpError(400, { errorMsg: 'A JSON user is required' });
    const patch = body as Record<string, unknown>;
    if (patch.status !== undefined) {
      const status =
        typeof patch.status === 'number'
          ? patch.status
          : USER_STATUS_NAMES.findIndex((name) => name === patch.status);
      if (!Number.isInteger(status) || status < 0 || status >= USER_STATUS_NAMES.length) {
        throw new HttpError(400, { errorMsg: `Unknown user status ${JSON.stringify(patch.status)}` });
      }
      user.status = status;
    }
    if (typeof patch.maxNumProjects === 'number') user.maxNumProjects = patch.maxNumProjects;
    return { status: 200, body: userProfileJson(user, store, apiUrl) };
  }

  // POST /admin/projects/createas with a ProjectDTO; ProjectController checks the name, then the
  // owner's project limit, then whether the name exists, in that order. 200 with no body.
  function createProjectAs(text: string): { status: number; body?: unknown } {
    const body = parseBody(text);
    if (typeof body !== 'object' || body === null)
      throw new HttpError(400, { errorMsg: 'A JSON ProjectDTO is required' });
    const dto = body as Record<string, unknown>;
    if (typeof dto.owner !== 'string') throw illegalArgument('Owner email cannot be null');
    const owner = store.userByUsername(dto.owner);
    if (!owner) throw hopsworksError(400, CODES.USER_DOES_NOT_EXIST, 'User does not exist.');
    const name = typeof dto.projectName === 'string' ? dto.projectName : '';
    if (name.length > 25) {
      throw hopsworksError(
        400,
        CODES.PROJECT_NAME_TOO_LONG,
        'Project name is too long - cannot be longer than 25 characters.',
      );
    }
    if (!PROJECT_NAME_REGEX.test(name)) {
      throw hopsworksError(
        400,
        CODES.INVALID_PROJECT_NAME,
        'Invalid project name, valid characters: [a-zA-Z0-9]((?!__)[_a-zA-Z0-9]){0,62}',
      );
    }
    if (store.projectsOwnedBy(owner.id).length >= owner.maxNumProjects) {
      throw hopsworksError(
        400,
        CODES.NUM_PROJECTS_LIMIT_REACHED,
        'You have reached the maximum number of projects you could create.',
      );
    }
    if (store.projectByName(name))
      throw hopsworksError(409, CODES.PROJECT_EXISTS, 'Project with the same name already exists.');
    const project = store.addProject({ name, owner: owner.username });
    if (typeof dto.description === 'string') project.description = dto.description;
    if (Array.isArray(dto.services))
      project.services = dto.services.filter((s): s is string => typeof s === 'string');
    return { status: 200 };
  }

  // OUR extension (not Hopsworks): API calls of one project on one UTC day.
  function projectUsage(
    project: FakeProject | undefined,
    date: string | null,
  ): { status: number; body: unknown } {
    if (!date || !/^\d{4}-\d{2}-\d{2}$/.test(date)) throw illegalArgument('date must be YYYY-MM-DD');
    if (!project) throw hopsworksError(400, CODES.PROJECT_NOT_FOUND, "Project wasn't found.");
    const calls = project.apiCalls.get(date) ?? { featureStore: 0, modelServing: 0, jobs: 0 };
    return { status: 200, body: { projectId: project.id, date, apiCalls: { ...calls } } };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  apiUrl = url + API_PREFIX;

  return {
    url,
    apiKey: options.apiKey,
    users: store.users,
    projects: store.projects,
    requests,
    seedUser: (seed) => store.addUser(seed),
    seedProject: (seed) => store.addProject(seed),
    setApiCalls(projectId, date, calls) {
      const project = store.projects.get(projectId);
      if (!project) throw new Error(`fake Hopsworks: no project ${projectId}`);
      project.apiCalls.set(date, { featureStore: 0, modelServing: 0, jobs: 0, ...calls });
    },
    setStorage(projectId, storage) {
      const project = store.projects.get(projectId);
      if (!project) throw new Error(`fake Hopsworks: no project ${projectId}`);
      project.storage = { ...project.storage, ...storage };
    },
    failNext(rule) {
      failures.push({
        path: rule.path,
        method: rule.method,
        status: rule.status,
        remaining: rule.count ?? 1,
      });
    },
    delayNext(rule) {
      delays.push({ path: rule.path, method: rule.method, ms: rule.ms, remaining: rule.count ?? 1 });
    },
    setDown(isDown, mode = 'unavailable') {
      down = isDown ? mode : false;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive sockets of fetch would hold close() open until they time out.
      server.closeAllConnections();
      await closed;
    },
  };
}

function allow(method: string, expected: string): void {
  if (method !== expected) throw methodNotAllowed();
}

function methodNotAllowed(): HttpError {
  return new HttpError(
    405,
    '<html><body><h1>HTTP Status 405 - Method Not Allowed</h1></body></html>',
    'text/html',
  );
}

// Collections: { href, items, count }; Jackson leaves out `items` when there are none.
function collection(href: string, items: unknown[], count: number): Record<string, unknown> {
  return items.length === 0 ? { href, count } : { href, items, count };
}

function expansions(q: URLSearchParams): { creator: boolean; quotas: boolean } {
  const names = q.getAll('expand').map((e) => e.replace(/\(.*$/, '').toLowerCase());
  // An unknown expansion fails ResourceRequest.Name.valueOf: a 404 from Jersey's parameter conversion.
  if (names.some((n) => n !== 'creator' && n !== 'quotas')) throw noRoute();
  return { creator: names.includes('creator'), quotas: names.includes('quotas') };
}

// `@QueryParam int` that is not a number is a parameter-conversion failure: 404 in JAX-RS.
function intParam(q: URLSearchParams, name: string): number | undefined {
  const value = q.get(name);
  if (value === null || value === '') return undefined;
  if (!/^-?\d+$/.test(value)) throw noRoute();
  return Number(value);
}

function queryRecord(params: URLSearchParams): Record<string, string[]> {
  const record: Record<string, string[]> = {};
  for (const [key, value] of params) (record[key] ??= []).push(value);
  return record;
}

function parseBody(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 1_000_000) {
        reject(new HttpError(413, { errorMsg: 'Request body too large' }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
