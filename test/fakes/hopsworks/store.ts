// The fake cluster's data and the Hopsworks JSON it is rendered as. Plain Node: the local sandbox
// (npm run dev without real clusters) runs this too, so no test framework imports here.

export const USER_STATUS_NAMES = [
  'NEW_MOBILE_ACCOUNT',
  'VERIFIED_ACCOUNT',
  'ACTIVATED_ACCOUNT',
  'DEACTIVATED_ACCOUNT',
  'BLOCKED_ACCOUNT',
  'LOST_MOBILE',
  'SPAM_ACCOUNT',
  'TEMP_PASSWORD',
] as const;

export interface FakeUser {
  id: number;
  username: string;
  email: string;
  firstname: string;
  lastname: string;
  /** UserAccountStatus value: 2 activated, 3 deactivated, 4 blocked… */
  status: number;
  maxNumProjects: number;
  accountType: 'M_ACCOUNT_TYPE' | 'REMOTE_ACCOUNT_TYPE';
  /** Remote (OAuth2) users: `${clientId}.${subject}`. */
  uuid?: string;
  activated: string;
}

export interface FakeProject {
  id: number;
  name: string;
  ownerId: number;
  description?: string;
  services: string[];
  created: string;
  /** What the quotas report, in bytes; null = Hopsworks reports nothing for that directory. */
  storage: { datasetsBytes: number | null; hiveBytes: number | null; featureStoreBytes: number | null };
  /** For the usage extension: API calls per UTC day (`YYYY-MM-DD`). */
  apiCalls: Map<string, { featureStore: number; modelServing: number; jobs: number }>;
}

export interface SeedUser {
  email: string;
  /** Makes it an OAuth2 remote user with uuid `${clientId}.${subject}`. */
  subject?: string;
  clientId?: string;
  username?: string;
  firstname?: string;
  lastname?: string;
  status?: number;
  maxNumProjects?: number;
}

export interface SeedProject {
  name: string;
  /** Username of the owner. */
  owner: string;
  description?: string;
  created?: string;
}

export const DEFAULT_CLIENT_ID = 'fake-oauth-client';
export const DEFAULT_MAX_NUM_PROJECTS = 10;
const GIB = 1024 ** 3;

export class FakeStore {
  readonly users = new Map<number, FakeUser>();
  readonly projects = new Map<number, FakeProject>();
  #nextUserId = 10_000;
  #nextProjectId = 100;

  addUser(seed: SeedUser): FakeUser {
    const email = seed.email.toLowerCase();
    if (this.userByEmail(email)) throw new Error(`fake Hopsworks: user ${email} exists`);
    const id = this.#nextUserId++;
    const user: FakeUser = {
      id,
      username: seed.username ?? this.#username(email, id),
      email,
      firstname: seed.firstname ?? 'Test',
      lastname: seed.lastname ?? 'User',
      status: seed.status ?? 2,
      maxNumProjects: seed.maxNumProjects ?? DEFAULT_MAX_NUM_PROJECTS,
      accountType: seed.subject === undefined ? 'M_ACCOUNT_TYPE' : 'REMOTE_ACCOUNT_TYPE',
      activated: new Date().toISOString(),
    };
    if (seed.subject !== undefined) user.uuid = `${seed.clientId ?? DEFAULT_CLIENT_ID}.${seed.subject}`;
    this.users.set(id, user);
    return user;
  }

  addProject(seed: SeedProject): FakeProject {
    const owner = this.userByUsername(seed.owner);
    if (!owner) throw new Error(`fake Hopsworks: no user ${seed.owner}`);
    if (this.projectByName(seed.name)) throw new Error(`fake Hopsworks: project ${seed.name} exists`);
    const project: FakeProject = {
      id: this.#nextProjectId++,
      name: seed.name,
      ownerId: owner.id,
      services: [],
      created: seed.created ?? new Date().toISOString(),
      storage: { datasetsBytes: 0, hiveBytes: 0, featureStoreBytes: 0 },
      apiCalls: new Map(),
    };
    if (seed.description !== undefined) project.description = seed.description;
    this.projects.set(project.id, project);
    return project;
  }

  userByEmail(email: string): FakeUser | undefined {
    const wanted = email.toLowerCase();
    return [...this.users.values()].find((u) => u.email === wanted);
  }

  userByUsername(username: string): FakeUser | undefined {
    return [...this.users.values()].find((u) => u.username === username);
  }

  userByUuid(uuid: string): FakeUser | undefined {
    return [...this.users.values()].find((u) => u.uuid === uuid);
  }

  // Hopsworks matches project names regardless of case (Project.findByNameCaseInsensitive).
  projectByName(name: string): FakeProject | undefined {
    const wanted = name.toLowerCase();
    return [...this.projects.values()].find((p) => p.name.toLowerCase() === wanted);
  }

  projectsOwnedBy(userId: number): FakeProject[] {
    return [...this.projects.values()].filter((p) => p.ownerId === userId);
  }

  // Hopsworks derives usernames from the email and appends digits; only the shape matters here.
  #username(email: string, id: number): string {
    const base = (email.split('@')[0] ?? '').replace(/[^a-z0-9]/g, '').slice(0, 8) || 'user';
    let candidate = `${base}${id % 10_000}`;
    while (this.userByUsername(candidate)) candidate += '0';
    return candidate;
  }
}

// UserProfileDTO, as GET /admin/users and /admin/users/{id} return it.
export function userProfileJson(user: FakeUser, store: FakeStore, apiUrl: string): Record<string, unknown> {
  const owned = store.projectsOwnedBy(user.id).length;
  return {
    href: `${apiUrl}/users/${user.id}`,
    id: user.id,
    firstname: user.firstname,
    lastname: user.lastname,
    email: user.email,
    username: user.username,
    accountType: user.accountType,
    twoFactor: false,
    toursState: 0,
    status: user.status,
    maxNumProjects: user.maxNumProjects,
    numCreatedProjects: owned,
    numActiveProjects: owned,
    activated: user.activated,
  };
}

// RestRemoteUserDTO: POST /admin/users answers with username, GET /admin/user/{uuid} without.
export function remoteUserJson(user: FakeUser, withUsername: boolean): Record<string, unknown> {
  return {
    uuid: user.uuid,
    givenName: user.firstname,
    surname: user.lastname,
    email: user.email,
    ...(withUsername ? { username: user.username } : {}),
  };
}

// ProjectAdminInfoDTO; `creator` is only an href unless expand=creator.
export function projectAdminJson(
  project: FakeProject,
  store: FakeStore,
  apiUrl: string,
  expand: { creator: boolean; quotas: boolean },
): Record<string, unknown> {
  const owner = store.users.get(project.ownerId);
  const creatorHref = `${apiUrl}/users/${project.ownerId}`;
  const json: Record<string, unknown> = {
    href: `${apiUrl}/admin/projects/${project.id}`,
    id: project.id,
    name: project.name,
    creator:
      expand.creator && owner
        ? {
            href: creatorHref,
            firstname: owner.firstname,
            lastname: owner.lastname,
            email: owner.email,
            username: owner.username,
          }
        : { href: creatorHref },
    created: project.created,
    paymentType: 'PREPAID',
    lastQuotaUpdate: project.created,
  };
  if (expand.quotas) json.projectQuotas = quotasJson(project);
  return json;
}

// Quotas report GiB as floats (ProjectQuotasController.convertToTeraBytes divides by 2^30); absent
// parts are left out, as Jackson drops nulls; -1 is "no quota".
function quotasJson(project: FakeProject): Record<string, unknown> {
  const gib = (bytes: number | null) => (bytes === null ? undefined : Math.fround(bytes / GIB));
  const quotas: Record<string, unknown> = {
    hdfsUsage: gib(project.storage.datasetsBytes),
    hdfsQuota: -1,
    hiveUsage: gib(project.storage.hiveBytes),
    hiveQuota: -1,
    featurestoreUsage: gib(project.storage.featureStoreBytes),
    featurestoreQuota: -1,
    kafkaNumTopics: 0,
    kafkaMaxNumTopics: 100,
  };
  for (const key of Object.keys(quotas)) if (quotas[key] === undefined) delete quotas[key];
  return quotas;
}

// Hopsworks' project name rule (FolderNameValidator.PROJECT_NAME_REGEX), case-insensitive.
export const PROJECT_NAME_REGEX =
  /^(?!^Projects$)(?!^[0-9]*$)[a-zA-Z0-9]((?!__)(?!_featurestore)[_a-zA-Z0-9]){0,22}[a-zA-Z0-9]$/i;
