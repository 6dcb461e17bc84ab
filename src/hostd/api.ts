/**
 * The host API: HCN v2 JSON over hostd's unix socket (REST, see DESIGN.md §2). Routes translate HTTP
 * into HostService calls and nothing else; domain errors become `{Error, Code}` with their status here.
 * With a token (the optional TCP listener), every request must carry it as a bearer token, /healthz
 * included: a caller without it learns nothing, not even that hostd runs.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { asSyError, httpStatusOf, SyError } from '../errors.js';
import type { HostService } from './service.js';
import { renderMetrics } from './metrics.js';
import { acceptJsonBodies } from '../http/json-body.js';
import { bearerMatches } from './token.js';

export const VERSION = '0.1.0';

export interface ApiOptions {
  /** when set, every request needs `Authorization: Bearer <token>` (else 401) */
  token?: string;
}

export function buildApi(svc: HostService, opts: ApiOptions = {}): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: 4 * 1024 * 1024,
    // a URL the router cannot take (bad %-encoding, an id past 100 characters) is answered like any other refusal
    frameworkErrors: (err, _req, reply) => sendError(reply, new SyError('SY_BAD_REQUEST', err.message)),
    clientErrorHandler: answerClientError,
  });
  const token = opts.token;
  if (token !== undefined) {
    // onRequest runs before the body is read: an unauthenticated body is never parsed
    app.addHook('onRequest', async (req, reply) => {
      if (bearerMatches(req.headers.authorization, token)) return;
      reply.header('www-authenticate', 'Bearer realm="switchyard"');
      return sendError(reply, new SyError('SY_UNAUTHORIZED', 'This listener needs "Authorization: Bearer <token>" with hostd\'s token'));
    });
  }
  acceptJsonBodies(app);
  app.setErrorHandler((err, _req, reply) => sendError(reply, err));
  app.setNotFoundHandler((req, reply) => sendError(reply, new SyError('SY_NOT_FOUND', `No route ${req.method} ${req.url}`)));

  app.get('/healthz', async () => ({ Status: 'ok', Version: VERSION }));
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(await renderMetrics(svc)));
  app.get('/status', async () => {
    const problems = [...svc.reconciler.status.entries()].filter(([, s]) => s.state === 'error');
    return {
      Version: VERSION,
      Networks: svc.state.networks.size,
      Endpoints: svc.state.endpoints.size,
      Namespaces: svc.state.namespaces.size,
      ReconcilePasses: svc.reconciler.passes,
      Modes: svc.modes,
      Problems: problems.map(([id, s]) => ({ ID: id, Reason: s.reason ?? '', Code: s.code ?? '' })),
    };
  });

  type P = { Params: { id: string } };
  app.post('/networks', async (req, reply) => reply.code(201).send(await svc.createNetwork(req.body)));
  app.get('/networks', async () => [...svc.state.networks.values()].map((n) => svc.networkDoc(n)));
  app.get<P>('/networks/:id', async (req) => svc.networkDoc(svc.findNetwork(req.params.id)));
  app.delete<P & { Querystring: { ifEmpty?: unknown } }>('/networks/:id', async (req) => {
    await svc.deleteNetwork(req.params.id, { ifEmpty: req.query.ifEmpty === 'true' });
    return {};
  });

  app.post('/endpoints', async (req, reply) => reply.code(201).send(await svc.createEndpoint(req.body)));
  app.get<{ Querystring: { network?: unknown } }>('/endpoints', async (req) => {
    const q = req.query.network;
    if (q !== undefined && typeof q !== 'string') throw new SyError('SY_BAD_REQUEST', 'Query parameter "network" must be given once');
    const net = q ? svc.findNetwork(q).id : undefined;
    return [...svc.state.endpoints.values()].filter((e) => !net || e.networkId === net).map((e) => svc.endpointDoc(e));
  });
  app.get<P>('/endpoints/:id', async (req) => svc.endpointDocWithStats(svc.findEndpoint(req.params.id)));
  app.get<P>('/endpoints/:id/stats', async (req) => {
    const doc = await svc.endpointDocWithStats(svc.findEndpoint(req.params.id));
    return { ID: doc.ID, AclDefaults: doc.AclDefaults, AclStats: 'AclStats' in doc ? doc.AclStats : [] };
  });
  app.patch<P>('/endpoints/:id', async (req) => svc.modifyEndpoint(req.params.id, req.body));
  app.patch<P>('/networks/:id', async (req) => svc.modifyNetwork(req.params.id, req.body));
  app.delete<P>('/endpoints/:id', async (req) => {
    await svc.deleteEndpoint(req.params.id);
    return {};
  });
  app.post<P>('/endpoints/:id/attach', async (req) => svc.attachEndpoint(req.params.id, req.body));
  app.post<P>('/endpoints/:id/detach', async (req) => svc.detachEndpoint(req.params.id));

  app.post('/trace', async (req) => svc.trace(req.body));
  app.post('/namespaces', async (req, reply) => reply.code(201).send(await svc.createNamespace(req.body)));
  app.get('/namespaces', async () => [...svc.state.namespaces.values()].filter((n) => !n.deleting).map((n) => svc.namespaceDoc(n)));
  app.get<P>('/namespaces/:id', async (req) => svc.namespaceDoc(svc.findNamespace(req.params.id)));
  app.delete<P>('/namespaces/:id', async (req) => {
    await svc.deleteNamespace(req.params.id);
    return {};
  });
  return app;
}

/** What Node's HTTP parser refuses (a broken request line, 16 kB of headers) is answered as {Error, Code} too. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const text = JSON.stringify({ Error: `Not an HTTP request hostd can read (${err.code ?? err.message})`, Code: 'SY_BAD_REQUEST' });
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
}

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  let e = asSyError(err);
  const fe = err as { statusCode?: number; code?: string };
  if (!(err instanceof SyError) && fe.statusCode && fe.statusCode < 500) {
    e = new SyError('SY_BAD_REQUEST', (err as Error).message);
  }
  const body: Record<string, unknown> = { Error: e.message, Code: e.code };
  if (e.command) body.Command = { Argv: e.command.argv, Stderr: e.command.stderr.slice(0, 2000) };
  return reply.code(httpStatusOf(e.code)).send(body);
}
