import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import type { AppEnv } from './env.js';

// The docs page is Swagger UI from the swagger-ui-dist package (pinned exactly in package.json): its
// files are served by this app, so /docs works without internet and its code changes only with a
// reviewed dependency bump, never under us from a CDN. They are read once, when the first app is built.

const JS = 'text/javascript; charset=utf-8';
const ASSETS_FROM_DIST: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': JS,
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

// Starts Swagger UI on our document. A served file, not an inline script, so the page's CSP needs no
// 'unsafe-inline'. No validator badge (it would load an image from validator.swagger.io) and no
// `?url=` (a link could point the page at someone else's document).
const INITIALIZER = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    queryConfigEnabled: false,
  });
});
`;

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Billing orchestrator API</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css" />
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32" />
    <link rel="icon" type="image/png" href="/docs/favicon-16x16.png" sizes="16x16" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/swagger-initializer.js"></script>
  </body>
</html>
`;

interface Asset {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
}

let assets: Map<string, Asset> | undefined;

function loadAssets(): Map<string, Asset> {
  const dist = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const loaded = new Map<string, Asset>();
  for (const [name, contentType] of Object.entries(ASSETS_FROM_DIST)) {
    loaded.set(name, { body: new Uint8Array(readFileSync(join(dist, name))), contentType });
  }
  loaded.set('swagger-initializer.js', { body: new TextEncoder().encode(INITIALIZER), contentType: JS });
  return loaded;
}

/**
 * Nothing remote: scripts, styles, fonts and the document come from this origin. Images may also be
 * `data:` URLs (Swagger UI's stylesheet draws its icons with them); nothing may frame the page.
 */
const docsHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'"],
    connectSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
});

/** `GET /docs`, the docs page, and the files it loads, `GET /docs/<file>`. */
export function docsRoutes() {
  assets ??= loadAssets();
  const files = assets;
  return new Hono<AppEnv>()
    .use('/docs', docsHeaders)
    .use('/docs/*', docsHeaders)
    .get('/docs', (c) => c.html(PAGE))
    .get('/docs/:file', (c) => {
      const asset = files.get(c.req.param('file'));
      if (!asset) return c.notFound();
      return c.body(asset.body, 200, {
        'content-type': asset.contentType,
        'cache-control': 'public, max-age=3600',
      });
    });
}
