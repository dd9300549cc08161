import type { MiddlewareHandler } from 'hono';
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { AdminCredential } from '../src/config.js';
import { BILLING_ROLES } from '../src/db/organisations.js';
import { isStorableText } from '../src/domain/text.js';
import type { AccountLookup } from './customer-lookup.js';
import type { AppEnv } from './env.js';
import { ApiError } from './errors.js';

export interface CustomerAuthOptions {
  jwksUrl: string | undefined;
  /** Required with a JWKS (config makes sure): without them any tenant's token for any API would pass. */
  issuer: string | undefined;
  audience: string | undefined;
  /** Who the verified subject answers for (api/customer-lookup.ts): its organisation, or itself. */
  account: AccountLookup;
}

/** Clock skew forgiven between the identity provider and this API, on `exp`, `nbf` and `iat`. */
export const CLOCK_TOLERANCE_SECONDS = 60;
/**
 * The longest lifetime a customer token may claim (`exp` minus `iat`, and `exp` minus now): Auth0's
 * default for an API's access tokens is 24 h. A longer-lived token is refused, so a leaked one stops
 * working within a day whatever its issuer was configured to mint.
 */
export const MAX_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;
/** Auth0's user ids are at most 255 characters; a longer subject is nobody's. */
const MAX_SUBJECT_LENGTH = 255;

/**
 * Who a page's session is (api/pages/): the pages ask the JSON routes in-process, handing the
 * session's identity in the request's environment under this symbol. Only code in this process can put
 * it there (a request from the network carries headers, never environment entries), so a route behind
 * customerAuth or adminAuth answers the page exactly as it answers a bearer token of the same caller.
 */
export const PAGE_IDENTITY = Symbol('pageIdentity');

export type PageIdentity = { kind: 'customer'; subject: string } | { kind: 'admin'; actor: string };

function pageIdentity(env: unknown): PageIdentity | undefined {
  return env && typeof env === 'object'
    ? (env as { [PAGE_IDENTITY]?: PageIdentity })[PAGE_IDENTITY]
    : undefined;
}

function bearer(header: string | undefined): string | undefined {
  return /^Bearer ([^\s]+)$/.exec(header ?? '')?.[1];
}

/** Why a verified token's claims are still not accepted, or null when they are. */
function claimsProblem(payload: JWTPayload, nowSeconds: number): string | null {
  const { exp, iat, sub } = payload;
  if (typeof exp !== 'number') return 'no exp';
  const limit = MAX_TOKEN_LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS;
  if (exp - nowSeconds > limit || (typeof iat === 'number' && exp - iat > limit)) return 'lifetime too long';
  if (typeof iat === 'number' && iat > nowSeconds + CLOCK_TOLERANCE_SECONDS) return 'issued in the future';
  // The subject is looked up in Postgres: a NUL would fail the query, a lone surrogate would be sent
  // as U+FFFD and could match another customer's subject. Neither is anyone's, so neither is accepted.
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUBJECT_LENGTH) return 'bad subject';
  if (!isStorableText(sub)) return 'bad subject';
  return null;
}

/**
 * Customers authenticate with the identity provider's JWT (`Authorization: Bearer …`), verified with
 * jose against the configured JWKS (keys cached and refreshed on rotation): this issuer, this
 * audience, an `exp` no more than a day away, a subject that is a customer's. Every refusal is the same
 * 401, so a caller learns nothing about which check failed.
 *
 * The subject is a user; the request answers for its billing account. `customerSubject` is set to the
 * subject of the customer every route behind this middleware then reads: the organisation's, for a
 * member of one (its usage and billing are the organisation's), else the user's own. So no customer
 * route names a customer from the request, and a route added later answers for the organisation too.
 * These routes are billing: a member whose role is `member` (not owner or admin) is refused with 403
 * `forbidden`. A subject nobody signed up with passes through unchanged, to the routes' usual 404.
 */
export function customerAuth(options: CustomerAuthOptions): MiddlewareHandler<AppEnv> {
  const verify = customerTokenVerifier(options);
  return async (c, next) => {
    const page = pageIdentity(c.env);
    let subject: string;
    if (page?.kind === 'customer') {
      subject = page.subject;
    } else {
      if (!verify.configured) throw customerAuthNotConfigured();
      const token = bearer(c.req.header('authorization'));
      if (!token) throw new ApiError(401, 'unauthorized', 'A bearer token is required');
      subject = await verify(token);
    }
    // After the token, so an unauthenticated caller never reaches the database.
    const account = await options.account(subject);
    if (account && !BILLING_ROLES.has(account.role)) {
      throw new ApiError(
        403,
        'forbidden',
        "Only the organisation's owners and admins see its billing; ask one of them",
      );
    }
    c.set('customerSubject', account?.accountSubject ?? subject);
    await next();
  };
}

const customerAuthNotConfigured = () =>
  new ApiError(
    503,
    'not_configured',
    'Customer authentication is not configured (AUTH0_JWKS_URL, AUTH0_ISSUER, AUTH0_AUDIENCE)',
  );

/**
 * The customer token check of customerAuth, on its own (the billing page's sign-in checks the token
 * Auth0 answered with it): the token's subject, or the one 401. 503 when customer authentication is
 * not configured.
 */
export function customerTokenVerifier(
  options: Pick<CustomerAuthOptions, 'jwksUrl' | 'issuer' | 'audience'>,
): ((token: string) => Promise<string>) & { configured: boolean } {
  const { issuer, audience } = options;
  // Fail closed: a JWKS without an issuer and an audience to check is no configuration at all.
  const keys: JWTVerifyGetKey | undefined =
    options.jwksUrl && issuer && audience
      ? createRemoteJWKSet(new URL(options.jwksUrl), { timeoutDuration: 5_000 })
      : undefined;
  const verify = async (token: string): Promise<string> => {
    if (!keys || !issuer || !audience) throw customerAuthNotConfigured();
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer,
        audience,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      });
      const problem = claimsProblem(payload, Math.floor(Date.now() / 1000));
      if (problem) throw new Error(problem);
      return payload.sub!;
    } catch {
      throw new ApiError(401, 'unauthorized', 'The bearer token is invalid or expired');
    }
  };
  return Object.assign(verify, { configured: keys !== undefined });
}

/** Which of `credentials` the request's bearer token is, compared in constant time with every one. */
export function matchingActor(
  credentials: AdminCredential[],
  authorization: string | undefined,
): string | undefined {
  const token = bearer(authorization) ?? '';
  let actor: string | undefined;
  for (const credential of credentials) {
    if (credential.token.equals(token)) actor = credential.actor;
  }
  return actor;
}

/**
 * Admins authenticate with their own credential (`Authorization: Bearer <token>`), never a customer
 * JWT. Every configured token is compared, in constant time, so timing reveals neither which nor how
 * much matched. The matching actor is recorded in the audit log of every admin action.
 */
export function adminAuth(credentials: AdminCredential[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const page = pageIdentity(c.env);
    // A session's actor counts only while it is still one of the configured admins.
    const actor =
      page?.kind === 'admin'
        ? credentials.find((credential) => credential.actor === page.actor)?.actor
        : matchingActor(credentials, c.req.header('authorization'));
    if (!actor) throw new ApiError(401, 'unauthorized', 'A valid admin token is required');
    c.set('adminActor', actor);
    await next();
  };
}

/**
 * The platform's services (SERVICE_CREDENTIALS) authenticate as admins do, with tokens of their own:
 * a service token opens the entitlement check and usage events, and no admin or customer route.
 */
export function serviceAuth(credentials: AdminCredential[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (credentials.length === 0) {
      throw new ApiError(
        503,
        'not_configured',
        'Service credentials are not configured (SERVICE_CREDENTIALS)',
      );
    }
    const actor = matchingActor(credentials, c.req.header('authorization'));
    if (!actor) throw new ApiError(401, 'unauthorized', 'A valid service token is required');
    c.set('serviceActor', actor);
    await next();
  };
}
