import type { MiddlewareHandler } from 'hono';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { AdminCredential } from '../src/config.js';
import type { AppEnv } from './app.js';
import { ApiError } from './errors.js';

export interface CustomerAuthOptions {
  jwksUrl: string | undefined;
  issuer: string | undefined;
  audience: string | undefined;
}

function bearer(header: string | undefined): string | undefined {
  return /^Bearer ([^\s]+)$/.exec(header ?? '')?.[1];
}

/**
 * Customers authenticate with the identity provider's JWT (`Authorization: Bearer …`), verified with
 * jose against the configured JWKS (keys cached and refreshed on rotation). The subject is the customer.
 */
export function customerAuth(options: CustomerAuthOptions): MiddlewareHandler<AppEnv> {
  const keys: JWTVerifyGetKey | undefined = options.jwksUrl
    ? createRemoteJWKSet(new URL(options.jwksUrl), { timeoutDuration: 5_000 })
    : undefined;
  return async (c, next) => {
    if (!keys)
      throw new ApiError(503, 'not_configured', 'Customer authentication is not configured (AUTH0_JWKS_URL)');
    const token = bearer(c.req.header('authorization'));
    if (!token) throw new ApiError(401, 'unauthorized', 'A bearer token is required');
    try {
      const { payload } = await jwtVerify(token, keys, {
        ...(options.issuer ? { issuer: options.issuer } : {}),
        ...(options.audience ? { audience: options.audience } : {}),
      });
      if (!payload.sub) throw new Error('no subject');
      c.set('customerSubject', payload.sub);
    } catch {
      throw new ApiError(401, 'unauthorized', 'The bearer token is invalid or expired');
    }
    await next();
  };
}

/**
 * Admins authenticate with their own credential (`Authorization: Bearer <token>`), never a customer
 * JWT. Every configured token is compared, in constant time, so timing reveals neither which nor how
 * much matched. The matching actor is recorded in the audit log of every admin action.
 */
export function adminAuth(credentials: AdminCredential[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearer(c.req.header('authorization')) ?? '';
    let actor: string | undefined;
    for (const credential of credentials) {
      if (credential.token.equals(token)) actor = credential.actor;
    }
    if (!actor) throw new ApiError(401, 'unauthorized', 'A valid admin token is required');
    c.set('adminActor', actor);
    await next();
  };
}
