/**
 * The host API: HCN v2 JSON over hostd's unix socket (REST, see DESIGN.md §2). Routes translate HTTP
 * into HostService calls and nothing else; domain errors become `{Error, Code}` with their status here.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { asSyError, httpStatusOf, SyError } from '../errors.js';
import type { HostService } from './service.js';
import { renderMetrics } from './metrics.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../model/json-depth.js';

export const VERSION = '0.1.0';

export function buildApi(svc: HostService): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: 4 * 1024 * 1024,
    // a URL the router cannot take (bad %-encoding, an id past 100 characters) is answered like any other refusal
    frameworkErrors: (err, _req, reply) => sendError(reply, new SyError('SY_BAD_REQUEST', err.message)),
  });
  // hcsshim and curl send JSON with or without a content type: parse any body as JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      return done(new SyError('SY_BAD_REQUEST', `Request body is not valid JSON: ${(e as Error).message}`), undefined);
    }
    if (nestsDeeperThan(doc, MAX_JSON_DEPTH)) return done(new SyError('SY_BAD_REQUEST', `Request body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
    done(null, doc);
  });
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
      Problems: problems.map(([id, s]) => ({ ID: id, Reason: s.reason ?? '', Code: s.code ?? '' })),
    };
  });

  type P = { Params: { id: string } };
  app.post('/networks', async (req, reply) => reply.code(201).send(await svc.createNetwork(req.body)));
  app.get('/networks', async () => [...svc.state.networks.values()].map((n) => svc.networkDoc(n)));
  app.get<P>('/networks/:id', async (req) => svc.networkDoc(svc.findNetwork(req.params.id)));
  app.delete<P>('/networks/:id', async (req) => {
    await svc.deleteNetwork(req.params.id);
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
