/**
 * The controller's northbound REST API ([MS-NCNBI] shapes) on fastify: every request authenticated
 * by its bearer token before its body is read, bodies bounded in size and depth and checked against
 * the kind's TypeBox schema, and SyErrors answered as `{code, message, syCode}` with their status.
 * Routes translate HTTP into Engine calls and nothing else.
 */
import { createServer as createHttpsServer } from 'node:https';
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { asSyError, httpStatusOf, SyError, type ErrorCode } from '../errors.js';
import { parseDoc } from '../hcn/schema.js';
import { acceptJsonBodies } from '../http/json-body.js';
import { readAudit } from './audit.js';
import { authenticate, type Principal } from './auth.js';
import { Engine, type Preconditions, type Target } from './engine.js';
import type { PutBody } from './document.js';
import type { ChildKind, Props, ResourceKind } from './kind.js';
import { KINDS } from './kinds/index.js';
import { API_PREFIX, openApiDocument } from './openapi.js';
import { isPortalPath, portalRoutes } from './portal.js';
import { RESOURCE_ID } from './schema.js';
import type { Store } from './store/store.js';
import { REVISION_HEADER, watchRoute, type WatchRouteOptions } from './watch.js';
import { SOUTHBOUND, southboundRoutes } from './southbound.js';

export const CONTROLLER_VERSION = '0.1.0';

/** No northbound document comes near this: 1,000 ACL rules take about 300 kB. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface ControllerApiOptions {
  store: Store;
  /** serve HTTPS with this certificate and key (PEM) */
  tls?: { cert: Buffer; key: Buffer };
  watch?: WatchRouteOptions;
}

/** [MS-NCNBI]-style error codes by status; syCode keeps Switchyard's own. */
const CODES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'ResourceNotFound',
  409: 'Conflict',
  410: 'Gone',
  412: 'PreconditionFailed',
  413: 'PayloadTooLarge',
  503: 'ServiceUnavailable',
};
const SPECIFIC: Partial<Record<ErrorCode, string>> = {
  SY_IN_USE: 'ResourceInUse',
  SY_ADDRESS_IN_USE: 'AddressInUse',
  SY_SUBNET_FULL: 'AddressSpaceExhausted',
  SY_MAC_POOL_FULL: 'AddressSpaceExhausted',
};

export function buildControllerApi(opts: ControllerApiOptions): FastifyInstance {
  const { store, tls } = opts;
  const engine = new Engine(store, KINDS);
  const app = Fastify({
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    ...(tls ? { serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) => createHttpsServer({ cert: tls.cert, key: tls.key }, handler) as unknown as Server } : {}),
    frameworkErrors: (err, _req, reply) => sendError(reply, new SyError('SY_BAD_REQUEST', err.message)),
    clientErrorHandler: answerClientError,
  });
  const principals = new WeakMap<FastifyRequest, Principal>();
  const who = (req: FastifyRequest): Principal => principals.get(req)!;

  // onRequest runs before the body is read: an unauthenticated body is never parsed
  app.addHook('onRequest', async (req, reply) => {
    // the portal's static files: the page asks for a token and the API checks it
    if ((req.method === 'GET' || req.method === 'HEAD') && isPortalPath(req.url)) return;
    let p: Principal;
    try {
      p = await authenticate(store, req.headers.authorization);
    } catch (e) {
      reply.header('www-authenticate', 'Bearer realm="switchyard-controller"');
      return sendError(reply, e);
    }
    // a host token is its server's agent: the southbound routes of that server, nothing else
    if (p.role === 'host' && !req.url.startsWith(`${SOUTHBOUND}/${p.server}/`)) {
      return sendError(reply, new SyError('SY_FORBIDDEN', `A host token may use ${SOUTHBOUND}/${p.server}/... only`));
    }
    principals.set(req, p);
  });
  acceptJsonBodies(app);
  app.setErrorHandler((err, _req, reply) => sendError(reply, err));
  app.setNotFoundHandler((req, reply) => sendError(reply, new SyError('SY_NOT_FOUND', `No route ${req.method} ${req.url.slice(0, 200)}`)));

  const openapi = openApiDocument(KINDS, CONTROLLER_VERSION);
  app.get(`${API_PREFIX}/openapi.json`, async () => openapi);
  app.get<{ Querystring: { limit?: unknown } }>(`${API_PREFIX}/auditLog`, async (req) => {
    if (who(req).role !== 'admin') throw new SyError('SY_FORBIDDEN', 'Only admin tokens may read the audit log');
    const limit = req.query.limit === undefined ? 1000 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new SyError('SY_BAD_REQUEST', 'Query parameter "limit" must be an integer from 1 to 100000');
    return { value: await readAudit(store, limit) };
  });

  for (const kind of KINDS) routesOf(app, engine, kind, who);
  watchRoute(app, engine, who, opts.watch);
  southboundRoutes(app, store, who, opts.watch);
  portalRoutes(app);
  return app;
}

type Params = { Params: { id: string; childId?: string } };

function routesOf(app: FastifyInstance, engine: Engine, kind: ResourceKind, who: (req: FastifyRequest) => Principal): void {
  const base = `${API_PREFIX}/${kind.collection}`;
  app.get(base, async (req, reply) => {
    const { value, revision } = await engine.list(who(req), kind);
    // where a watch (GET /networking/v1/watch?fromRevision=) picks up after this list
    return reply.header(REVISION_HEADER, String(revision)).send({ value });
  });
  resource(app, engine, kind, undefined, `${base}/:id`, who);
  for (const child of kind.children) {
    app.get<Params>(`${base}/:id/${child.name}`, async (req) => engine.get(who(req), { kind, id: resourceId(req.params.id, 'resourceId'), child: child.name }));
    resource(app, engine, kind, child, `${base}/:id/${child.name}/:childId`, who);
  }
}

/** GET, PUT and DELETE of one resource (child undefined) or one child. */
function resource(app: FastifyInstance, engine: Engine, kind: ResourceKind, child: ChildKind | undefined, path: string, who: (req: FastifyRequest) => Principal): void {
  const target = (req: FastifyRequest<Params>): Target => ({
    kind,
    id: resourceId(req.params.id, 'resourceId'),
    ...(child ? { child: child.name, childId: resourceId(req.params.childId!, `${child.name} resourceId`) } : {}),
  });
  const schema = child ? child.schema : kind.body;
  const what = child ? `${kind.collection} ${child.name} body` : `${kind.collection} body`;
  app.get<Params>(path, async (req, reply) => etagged(reply, await engine.get(who(req), target(req))));
  app.put<Params>(path, async (req, reply) => {
    const t = target(req);
    // a tenant on a provider collection is told so before its body is judged
    engine.admit(who(req), kind);
    if (req.body === undefined) throw new SyError('SY_BAD_REQUEST', `PUT needs a JSON body (the ${what})`);
    // a child's id is in its URL: its body may leave it out (a different one is refused by the engine)
    const raw = child && isObject(req.body) && !Object.hasOwn(req.body, 'resourceId') ? { resourceId: t.childId, ...req.body } : req.body;
    const body = parseDoc(schema, raw, what) as PutBody | Props;
    const { body: doc, created } = await engine.put(who(req), t, body, preconditions(req));
    return etagged(reply.code(created ? 201 : 200), doc);
  });
  app.delete<Params>(path, async (req, reply) => {
    await engine.delete(who(req), target(req), preconditions(req));
    return reply.code(204).send();
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function resourceId(id: string, what: string): string {
  if (!new RegExp(RESOURCE_ID).test(id)) throw new SyError('SY_BAD_REQUEST', `The ${what} "${id.slice(0, 200)}" is not valid: use 1-128 of A-Z a-z 0-9 _ . ~ -, not starting with . ~ -`);
  return id;
}

function preconditions(req: FastifyRequest): Preconditions {
  const h = req.headers;
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(', ') : v);
  const ifMatch = one(h['if-match']);
  const ifNoneMatch = one(h['if-none-match']);
  return { ...(ifMatch !== undefined ? { ifMatch } : {}), ...(ifNoneMatch !== undefined ? { ifNoneMatch } : {}) };
}

function etagged(reply: FastifyReply, doc: Props): FastifyReply {
  if (typeof doc.etag === 'string') reply.header('etag', doc.etag);
  return reply.send(doc);
}

/** What Node's HTTP parser refuses (a 16 kB URL, a broken request line) is answered in the API's error shape too. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const text = JSON.stringify({ code: 'BadRequest', message: `Not an HTTP request the controller can read (${err.code ?? err.message})`, syCode: 'SY_BAD_REQUEST' });
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
}

function statusOf(e: SyError): number {
  return e.code === 'SY_STORE' ? 503 : httpStatusOf(e.code);
}

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  let e = asSyError(err);
  let status = statusOf(e);
  const fe = err as { statusCode?: number };
  // fastify's own refusals (body too large, bad content length) keep their 4xx
  if (!(err instanceof SyError) && fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    e = new SyError('SY_BAD_REQUEST', (err as Error).message);
    status = fe.statusCode;
  }
  return reply.code(status).send({ code: SPECIFIC[e.code] ?? CODES[status] ?? 'InternalServerError', message: e.message, syCode: e.code });
}
