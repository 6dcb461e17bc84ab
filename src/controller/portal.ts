/**
 * GET /portal/ and its assets: the web portal (portal/src, built by `npm run build` into dist/portal)
 * served as static files on the API's origin. The files need no token: the page asks for one and
 * sends it as a bearer token on its API calls, so the API's own auth decides what the portal shows.
 * Only the flat files of the build directory are served (names checked, no path walking), with a
 * content security policy that allows nothing but this origin.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

export const PORTAL_PREFIX = '/portal';

/** dist/src/controller/portal.js → dist/portal/ */
const PORTAL_DIR = fileURLToPath(new URL('../../portal/', import.meta.url));

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  map: 'application/json; charset=utf-8',
};

const HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // the page is small: always revalidated, so a rebuilt portal is what the next load shows
  'cache-control': 'no-cache',
};

/** Whether a request is for the portal's static files (which the API's token check lets through). */
export function isPortalPath(url: string): boolean {
  return url === PORTAL_PREFIX || url.startsWith(`${PORTAL_PREFIX}/`) || url.startsWith(`${PORTAL_PREFIX}?`);
}

export function portalRoutes(app: FastifyInstance, dir = PORTAL_DIR): void {
  app.get(PORTAL_PREFIX, async (_req, reply) => reply.redirect(`${PORTAL_PREFIX}/`, 301));
  app.get<{ Params: { '*': string } }>(`${PORTAL_PREFIX}/*`, async (req, reply) => {
    const name = req.params['*'] === '' ? 'index.html' : req.params['*'];
    const type = TYPES[name.slice(name.lastIndexOf('.') + 1)];
    const notFound = (message: string) => reply.code(404).type('application/json').send({ code: 'ResourceNotFound', message, syCode: 'SY_NOT_FOUND' });
    if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,100}$/.test(name) || !type) return notFound(`No portal file "${name.slice(0, 100)}"`);
    let body: Buffer;
    try {
      body = await readFile(dir + name);
    } catch {
      return name === 'index.html'
        ? notFound(`The portal is not built (no ${dir}index.html): run "npm run build" (or scripts/setup.sh)`)
        : notFound(`No portal file "${name}"`);
    }
    return reply.headers(HEADERS).type(type).send(body);
  });
}
