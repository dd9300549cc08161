import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';

/** Someone the sandbox's sign-in form offers (the installation's customers). */
export interface SignInChoice {
  subject: string;
  email: string;
}

export interface LocalIdentityProviderOptions {
  /** Who the login form lists (the sandbox passes its customers); a subject can always be typed. */
  users?: () => Promise<SignInChoice[]>;
}

/** An authorization code, its PKCE challenge and where it may be redeemed, until redeemed once. */
interface PendingCode {
  subject: string;
  clientId: string;
  redirectUri: string;
  challenge: string;
  expiresAt: number;
}

/** How long an authorization code may wait for its exchange (Auth0's: 10 minutes at most). */
const CODE_LIFETIME_MS = 60_000;

export interface LocalIdentityProvider {
  /** The base URL; `POST <url>/token` with `{ "sub": "…" }` issues a token (sandbox only). */
  url: string;
  jwksUrl: string;
  issuer: string;
  audience: string;
  /** A customer's access token, as the identity provider would issue it. */
  tokenFor(subject: string, options?: { expiresIn?: string; audience?: string }): Promise<string>;
  /** A token signed with the provider's real key carrying exactly `claims` (for tests of claim checks). */
  signClaims(claims: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

/**
 * A stand-in for Auth0 on loopback, for tests and the local sandbox: a key set generated at start,
 * served as a JWKS (`/.well-known/jwks.json`), and real RS256 JWTs verified by the real jose code path.
 * `POST /token` with `{ "sub": "auth0|…" }` issues a customer token, so the sandbox can be driven
 * without an Auth0 tenant. Browsers sign in as Auth0's universal login has them: `GET /authorize`
 * (authorization code with PKCE, S256 only) shows a form listing `users` and a subject field, its
 * submission redirects to `redirect_uri` with a one-use code, and `POST /oauth/token` exchanges the
 * code and its verifier for an access token. It listens on 127.0.0.1 only.
 */
export async function startLocalIdentityProvider(
  options: LocalIdentityProviderOptions = {},
): Promise<LocalIdentityProvider> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  const codes = new Map<string, PendingCode>();
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path === '/authorize' || path === '/oauth/token') {
      void handleAuthorization(request, response, path).catch(() => {
        if (!response.headersSent) response.statusCode = 500;
        response.end();
      });
      return;
    }
    response.setHeader('content-type', 'application/json');
    if (request.method === 'POST' && request.url === '/token') {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        const subject = (() => {
          try {
            return (JSON.parse(body) as { sub?: unknown }).sub;
          } catch {
            return undefined;
          }
        })();
        if (typeof subject !== 'string' || subject.length === 0) {
          response.statusCode = 400;
          response.end(JSON.stringify({ error: 'invalid_request', error_description: 'sub is required' }));
          return;
        }
        void sign(privateKey, subject, {}).then((token) =>
          response.end(JSON.stringify({ access_token: token, token_type: 'Bearer' })),
        );
      });
      return;
    }
    response.end(JSON.stringify({ keys: [jwk] }));
  });

  async function handleAuthorization(request: IncomingMessage, response: ServerResponse, path: string) {
    const fail = (status: number, error: string, description: string) => {
      response.statusCode = status;
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ error, error_description: description }));
    };
    const params =
      request.method === 'GET'
        ? new URL(request.url ?? '/', 'http://localhost').searchParams
        : formOrJson(await readBody(request), request.headers['content-type']);
    if (path === '/oauth/token') {
      if (request.method !== 'POST') return fail(405, 'invalid_request', 'POST only');
      if (params.get('grant_type') !== 'authorization_code') {
        return fail(400, 'unsupported_grant_type', 'only authorization_code');
      }
      const code = codes.get(params.get('code') ?? '');
      codes.delete(params.get('code') ?? '');
      const verifier = params.get('code_verifier') ?? '';
      if (
        !code ||
        code.expiresAt < Date.now() ||
        code.clientId !== params.get('client_id') ||
        code.redirectUri !== params.get('redirect_uri') ||
        createHash('sha256').update(verifier).digest('base64url') !== code.challenge
      ) {
        return fail(403, 'invalid_grant', 'Invalid authorization code or code verifier');
      }
      const token = await sign(privateKey, code.subject, {});
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 600 }));
      return;
    }
    const redirectUri = params.get('redirect_uri') ?? '';
    const challenge = params.get('code_challenge') ?? '';
    if (params.get('response_type') !== 'code') return fail(400, 'unsupported_response_type', 'code only');
    if (!/^https?:\/\//.test(redirectUri)) return fail(400, 'invalid_request', 'redirect_uri is required');
    if (params.get('code_challenge_method') !== 'S256' || !/^[\w-]{43}$/.test(challenge)) {
      return fail(400, 'invalid_request', 'PKCE is required: code_challenge with code_challenge_method S256');
    }
    const clientId = params.get('client_id') ?? '';
    const subject = request.method === 'POST' ? (params.get('sub') ?? '').trim() : '';
    if (!subject) {
      const users = (await options.users?.()) ?? [];
      response.setHeader('content-type', 'text/html; charset=utf-8');
      response.end(loginForm(params, users));
      return;
    }
    const code = randomBytes(24).toString('base64url');
    codes.set(code, { subject, clientId, redirectUri, challenge, expiresAt: Date.now() + CODE_LIFETIME_MS });
    const target = new URL(redirectUri);
    target.searchParams.set('code', code);
    const state = params.get('state');
    if (state) target.searchParams.set('state', state);
    response.statusCode = 302;
    response.setHeader('location', target.toString());
    response.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const issuer = `http://127.0.0.1:${port}/`;
  const audience = 'billing-api';
  const sign = (key: CryptoKey, subject: string, options: { expiresIn?: string; audience?: string }) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
      .setSubject(subject)
      .setIssuer(issuer)
      .setAudience(options.audience ?? audience)
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? '10m')
      .sign(key);
  return {
    url: `http://127.0.0.1:${port}`,
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    issuer,
    audience,
    tokenFor: (subject, options = {}) => sign(privateKey, subject, options),
    signClaims: (claims) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'test-key' }).sign(privateKey),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => resolve(body));
    request.on('error', reject);
  });
}

/** Auth0's token endpoint takes form-encoded or JSON bodies. */
function formOrJson(body: string, contentType: string | undefined): URLSearchParams {
  if (!contentType?.includes('json')) return new URLSearchParams(body);
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    return new URLSearchParams(
      Object.entries(parsed).flatMap(([key, value]): [string, string][] =>
        typeof value === 'string' ? [[key, value]] : [],
      ),
    );
  } catch {
    return new URLSearchParams();
  }
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);

const FORWARDED = [
  'response_type',
  'client_id',
  'redirect_uri',
  'state',
  'code_challenge',
  'code_challenge_method',
  'scope',
  'audience',
];

/** The sandbox's universal login: pick a customer or type an Auth0 subject. */
function loginForm(params: URLSearchParams, users: SignInChoice[]): string {
  const hidden = FORWARDED.filter((name) => params.has(name))
    .map((name) => `<input type="hidden" name="${name}" value="${escapeHtml(params.get(name)!)}">`)
    .join('');
  const choices = users.length
    ? `<ul>${users
        .map(
          (user) =>
            `<li><button type="submit" name="sub" value="${escapeHtml(user.subject)}">${escapeHtml(user.email)}</button> <small>${escapeHtml(user.subject)}</small></li>`,
        )
        .join('')}</ul>`
    : '<p>No customers yet: run <code>npm run demo</code>, or type a subject below.</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox sign-in</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}button{font:inherit;padding:.4rem .8rem;margin:.2rem 0}input[type=text]{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}</style>
</head><body><main>
<h1>Sandbox sign-in</h1>
<p>The local stand-in for Auth0. Sign in as one of the sandbox's customers:</p>
<form method="post" action="/authorize">${hidden}${choices}</form>
<form method="post" action="/authorize">${hidden}
<label for="sub">Or an Auth0 subject</label>
<input type="text" id="sub" name="sub" placeholder="auth0|demo" required>
<button type="submit">Sign in</button></form>
</main></body></html>`;
}
