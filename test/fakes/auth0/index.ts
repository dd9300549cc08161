import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';

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
 * without an Auth0 tenant. It listens on 127.0.0.1 only.
 */
export async function startLocalIdentityProvider(): Promise<LocalIdentityProvider> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  const server: Server = createServer((request, response) => {
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
