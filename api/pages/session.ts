import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getSignedCookie, setSignedCookie } from 'hono/cookie';
import type { Secret } from '../../src/secret.js';

/*
 * The pages' sessions: a signed cookie (HMAC-SHA256 with SESSION_SECRET, hono's signed cookies) per
 * area, HttpOnly, SameSite=Lax, Secure when the request came over HTTPS, scoped to its area's path so
 * the customer's cookie never reaches /admin and the reverse. It carries who signed in, until when,
 * and the session's CSRF token, which every form repeats and every POST must carry.
 */

export type Area = 'billing' | 'admin';

export interface Session {
  area: Area;
  /** The customer's Auth0 subject, or the admin's actor. */
  who: string;
  csrf: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

/** The longest a session lasts; a customer's ends with its Auth0 token, if that is sooner. */
export const SESSION_SECONDS = 8 * 60 * 60;
/** How long a sign-in may take at the identity provider. */
const SIGN_IN_SECONDS = 10 * 60;

const sessionCookie = (area: Area) => `${area}_session`;
const SIGN_IN_COOKIE = 'billing_sign_in';

export function isHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === 'https:';
}

function options(c: Context, area: Area, maxAge: number) {
  return { path: `/${area}`, httpOnly: true, sameSite: 'Lax', secure: isHttps(c), maxAge } as const;
}

const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
function decode<T>(value: string): T | undefined {
  try {
    return JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as T;
  } catch {
    return undefined;
  }
}
const nowSeconds = () => Math.floor(Date.now() / 1000);

export async function startSession(
  c: Context,
  secret: Secret,
  area: Area,
  who: string,
  notAfter = Infinity,
): Promise<Session> {
  const expiresAt = Math.min(nowSeconds() + SESSION_SECONDS, notAfter);
  const session: Session = { area, who, csrf: randomBytes(24).toString('base64url'), expiresAt };
  await setSignedCookie(
    c,
    sessionCookie(area),
    encode(session),
    secret.reveal(),
    options(c, area, expiresAt - nowSeconds()),
  );
  return session;
}

/** The request's session of `area`: signed by us, for that area, not expired; else undefined. */
export async function readSession(c: Context, secret: Secret, area: Area): Promise<Session | undefined> {
  const value = await getSignedCookie(c, secret.reveal(), sessionCookie(area));
  if (!value) return undefined;
  const session = decode<Session>(value);
  if (!session || session.area !== area || typeof session.who !== 'string') return undefined;
  if (typeof session.expiresAt !== 'number' || session.expiresAt <= nowSeconds()) return undefined;
  return session;
}

export function endSession(c: Context, area: Area): void {
  deleteCookie(c, sessionCookie(area), { path: `/${area}`, secure: isHttps(c) });
}

/** Whether a form's token is the session's, compared in constant time. */
export function csrfMatches(session: Session, token: unknown): boolean {
  if (typeof token !== 'string') return false;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(session.csrf), digest(token));
}

/** What the billing page's sign-in remembers between /authorize and the callback. */
export interface SignIn {
  state: string;
  verifier: string;
  expiresAt: number;
}

/** Starts a sign-in: a fresh state and PKCE verifier, kept in a short signed cookie; answers the S256 challenge. */
export async function startSignIn(c: Context, secret: Secret): Promise<{ state: string; challenge: string }> {
  const signIn: SignIn = {
    state: randomBytes(16).toString('base64url'),
    verifier: randomBytes(32).toString('base64url'),
    expiresAt: nowSeconds() + SIGN_IN_SECONDS,
  };
  await setSignedCookie(
    c,
    SIGN_IN_COOKIE,
    encode(signIn),
    secret.reveal(),
    options(c, 'billing', SIGN_IN_SECONDS),
  );
  return {
    state: signIn.state,
    challenge: createHash('sha256').update(signIn.verifier).digest('base64url'),
  };
}

/** The sign-in the callback finishes (once: its cookie is deleted), when `state` is its own. */
export async function finishSignIn(c: Context, secret: Secret, state: string): Promise<SignIn | undefined> {
  const value = await getSignedCookie(c, secret.reveal(), SIGN_IN_COOKIE);
  deleteCookie(c, SIGN_IN_COOKIE, { path: '/billing', secure: isHttps(c) });
  const signIn = value ? decode<SignIn>(value) : undefined;
  if (!signIn || typeof signIn.state !== 'string' || signIn.expiresAt <= nowSeconds()) return undefined;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(signIn.state), digest(state)) ? signIn : undefined;
}

const formCookie = (area: Area) => `${area}_form`;

/**
 * A CSRF token for a form shown before any session (the admin sign-in): kept in a short signed cookie,
 * repeated by the form, checked by its POST.
 */
export async function startFormToken(c: Context, secret: Secret, area: Area): Promise<string> {
  const token = randomBytes(24).toString('base64url');
  const value = encode({ token, expiresAt: nowSeconds() + SIGN_IN_SECONDS });
  await setSignedCookie(c, formCookie(area), value, secret.reveal(), options(c, area, SIGN_IN_SECONDS));
  return token;
}

export async function formTokenMatches(
  c: Context,
  secret: Secret,
  area: Area,
  token: unknown,
): Promise<boolean> {
  const value = await getSignedCookie(c, secret.reveal(), formCookie(area));
  const stored = value ? decode<{ token: string; expiresAt: number }>(value) : undefined;
  if (!stored || typeof token !== 'string' || stored.expiresAt <= nowSeconds()) return false;
  return csrfMatches({ area, who: '', csrf: stored.token, expiresAt: stored.expiresAt }, token);
}
