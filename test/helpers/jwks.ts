import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';

export interface LocalIdentityProvider {
  jwksUrl: string;
  issuer: string;
  audience: string;
  /** A customer's access token, as the identity provider would issue it. */
  tokenFor(subject: string, options?: { expiresIn?: string; audience?: string }): Promise<string>;
  close(): Promise<void>;
}

/**
 * A key set generated for the test and served on loopback, standing in for Auth0's JWKS endpoint:
 * tokens are real RS256 JWTs verified by the real jose code path.
 */
export async function startLocalIdentityProvider(): Promise<LocalIdentityProvider> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  const server: Server = createServer((request, response) => {
    response.setHeader('content-type', 'application/json');
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
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    issuer,
    audience,
    tokenFor: (subject, options = {}) => sign(privateKey, subject, options),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
