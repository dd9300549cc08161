import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import { every } from 'hono/combine';
import { rateLimiter, type RateLimitInfo } from 'hono-rate-limiter';
import ipaddr from 'ipaddr.js';
import proxyAddr from 'proxy-addr';
import type { Config } from '../src/config.js';
import type { AppEnv } from './env.js';
import { errorBody } from './errors.js';

// Abuse limits of the API's callers, with hono-rate-limiter (a maintained port of express-rate-limit:
// fixed windows, a pluggable store) rather than counters of our own. Its MemoryStore counts per
// process: with N API replicas a caller gets up to N times each limit. Stripe's and Auth0's webhooks
// are not limited here: Stripe retries a refused delivery for days, so a 429 would only delay real
// payments, and both are authenticated by a signature or secret checked before any work.

export const RATE_LIMIT_WINDOW_MS = 60_000;

/** The kinds of caller, by path; each has its own limit per credential. */
export type CallerKind = 'customer' | 'admin' | 'cron' | 'service';

/** Which limits a path falls under, or undefined for the unlimited ones (webhooks, health, docs). */
export function callerKind(path: string): CallerKind | undefined {
  const under = (prefix: string) => path === prefix || path.startsWith(`${prefix}/`);
  // The platform's services: entitlement checks and usage events (SERVICE_CREDENTIALS).
  if (under('/api/entitlements') || under('/api/usage/events')) return 'service';
  // The seed's crons, authenticated by CRON_SECRET; sync-stripe lives under the customers' prefix.
  if (under('/api/usage') || path === '/api/billing/sync-stripe') return 'cron';
  if (under('/api/admin')) return 'admin';
  if (under('/api/billing')) return 'customer';
  return undefined;
}

/**
 * The client's address: the socket's (from @hono/node-server), or, when the socket is a trusted proxy,
 * the nearest X-Forwarded-For address that is not (proxy-addr's rule, as Express applies it). An IPv6
 * client is keyed by its /64, the block one subscriber gets; `unknown` when there is no socket (an
 * in-process `app.request`).
 */
export function clientAddress(c: Context, trust: (address: string, hop: number) => boolean): string {
  let socketAddress: string | undefined;
  try {
    socketAddress = getConnInfo(c).remote.address;
  } catch {
    socketAddress = undefined;
  }
  if (!socketAddress) return 'unknown';
  const forwardedFor = c.req.header('x-forwarded-for');
  const request = {
    socket: { remoteAddress: socketAddress },
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  } as unknown as IncomingMessage;
  const address = proxyAddr(request, trust);
  if (!ipaddr.isValid(address)) return 'unknown';
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  return `${(parsed as ipaddr.IPv6).parts
    .slice(0, 4)
    .map((part) => part.toString(16))
    .join(':')}::/64`;
}

/** A credential's key: a SHA-256 of the Authorization header, so no token is kept in memory. */
function credentialKey(authorization: string): string {
  return createHash('sha256').update(authorization).digest('base64url');
}

type Limited = AppEnv & { Variables: { ipRateLimit: RateLimitInfo; credentialRateLimit: RateLimitInfo } };

/**
 * One middleware for every API route: per client address over all limited routes, then per credential
 * and kind of caller. It runs before authentication, so a flood of bad tokens is refused before it costs
 * a JWT verification, constant-time comparisons or a query. It keys customers by their token's hash,
 * not the JWT's subject: an unverified subject could be forged to use up someone else's allowance, and
 * verifying first is the work a flood should not get. A customer with fresh tokens gets fresh buckets;
 * the address limit still holds them. Requests without credentials count against their address only.
 */
export function rateLimits(settings: Config['rateLimits']): MiddlewareHandler<AppEnv> {
  const trust = settings.trustedProxies.length > 0 ? proxyAddr.compile(settings.trustedProxies) : () => false;
  const { perMinute } = settings;
  const limitOf: Record<CallerKind, number> = {
    customer: perMinute.customer,
    admin: perMinute.admin,
    cron: perMinute.cron,
    service: perMinute.service,
  };

  const refuse = (scope: 'address' | 'credential', property: 'ipRateLimit' | 'credentialRateLimit') => {
    return (c: Context<Limited>) => {
      const info = c.get(property);
      const retryAfterSeconds = Math.max(
        1,
        Math.ceil(((info.resetTime?.getTime() ?? Date.now() + RATE_LIMIT_WINDOW_MS) - Date.now()) / 1000),
      );
      c.header('Retry-After', String(retryAfterSeconds));
      return c.json(
        errorBody('rate_limited', `Too many requests from this ${scope}; retry in ${retryAfterSeconds} s`, {
          scope,
          limit: info.limit,
          windowSeconds: RATE_LIMIT_WINDOW_MS / 1000,
          retryAfterSeconds,
        }),
        429,
      );
    };
  };

  const byAddress = rateLimiter<Limited>({
    windowMs: RATE_LIMIT_WINDOW_MS,
    limit: perMinute.ip,
    // The two limiters' RateLimit-* headers would overwrite each other; Retry-After is set on refusal.
    standardHeaders: false,
    requestPropertyName: 'ipRateLimit',
    // The platform's services call from a few addresses at rates no person reaches: they are limited
    // per credential only.
    skip: (c) => {
      const kind = callerKind(c.req.path);
      return kind === undefined || kind === 'service';
    },
    keyGenerator: (c) => clientAddress(c, trust),
    handler: refuse('address', 'ipRateLimit'),
  });
  const byCredential = rateLimiter<Limited>({
    windowMs: RATE_LIMIT_WINDOW_MS,
    limit: (c) => limitOf[callerKind(c.req.path) ?? 'customer'],
    standardHeaders: false,
    requestPropertyName: 'credentialRateLimit',
    skip: (c) => callerKind(c.req.path) === undefined || !c.req.header('authorization'),
    keyGenerator: (c) => `${callerKind(c.req.path)}:${credentialKey(c.req.header('authorization') ?? '')}`,
    handler: refuse('credential', 'credentialRateLimit'),
  });
  return every(byAddress, byCredential) as MiddlewareHandler<AppEnv>;
}
