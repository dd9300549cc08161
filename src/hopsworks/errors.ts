/**
 * Why a Hopsworks call failed, in words the activities can branch on. HTTP-level failures carry the
 * status; Hopsworks' own JSON error body (`{ errorCode, errorMsg, usrMsg }`, built by
 * hopsworks-rest-utils RESTException) adds the numeric `hopsworksCode`, e.g. 160003 USER_EXISTS.
 */
export type HopsworksErrorCode =
  | 'unauthorized' // 401: no, malformed or unknown API key
  | 'forbidden' // 403: the key lacks the HOPS_ADMIN role or the admin scope
  | 'not_found'
  | 'conflict'
  | 'bad_request' // any other 4xx
  | 'rate_limited' // 429
  | 'server_error' // 5xx
  | 'network' // no HTTP response: refused, reset, DNS
  | 'timeout'
  | 'invalid_response' // a 2xx whose body is not what the Hopsworks API returns
  | 'invalid_request' // refused before sending: a missing OAuth client id, a malformed date
  | 'email_taken' // createOAuthUser: the email belongs to another Hopsworks account
  | 'project_name_taken' // createProject: the name belongs to another user's project
  | 'invalid_project_name'
  | 'blocked_by_admin' // setUserBlocked(false) on an account an administrator blocked, not billing
  | 'inconsistent'; // Hopsworks said yes but the created object cannot be read back (yet)

export interface HopsworksErrorInit {
  code: HopsworksErrorCode;
  message: string;
  status?: number;
  hopsworksCode?: number;
  retryable: boolean;
  retryAfterMs?: number;
  cause?: unknown;
}

/**
 * Thrown by every client method. The message names the method, cluster origin and path (never the
 * query string, which carries emails and subjects, and never the API key: the client redacts it from
 * anything the server sends back before it gets here).
 */
export class HopsworksError extends Error {
  override readonly name = 'HopsworksError';
  readonly code: HopsworksErrorCode;
  /** HTTP status, when Hopsworks (or a proxy in front of it) answered. */
  readonly status: number | undefined;
  /** Hopsworks' numeric `errorCode` from the JSON body (range 160000 = users, 150000 = projects…). */
  readonly hopsworksCode: number | undefined;
  /** True for 5xx, 429, 408, network errors and timeouts: the same call may succeed later. */
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(init: HopsworksErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.status = init.status;
    this.hopsworksCode = init.hopsworksCode;
    this.retryable = init.retryable;
    this.retryAfterMs = init.retryAfterMs;
  }
}

export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

export function codeForStatus(status: number): HopsworksErrorCode {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 429) return 'rate_limited';
  if (status === 408) return 'timeout';
  if (status >= 500) return 'server_error';
  return 'bad_request';
}
