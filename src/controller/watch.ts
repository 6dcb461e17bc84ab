/**
 * GET /networking/v1/watch: the northbound change stream, as server-sent events fed by the store's
 * watch, so a replica shows what any replica wrote and a client (the portal, a script, a host agent)
 * never polls. What a client sees is what its GETs would show: a tenant only its own resources and
 * never a provider collection.
 *
 *   GET /networking/v1/watch[?fromRevision=N][&collection=virtualNetworks]
 *   event: ready              data: {"revision": R}   (the stream starts after revision R)
 *   id: REV  event: put       data: {"type":"put","revision":REV,"resourceRef":"/virtualNetworks/v1","resource":{…as GET…}}
 *   id: REV  event: delete    data: {"type":"delete","revision":REV,"resourceRef":"/virtualNetworks/v1"}
 *   id: REV  event: configurationState  data: {…,"resourceRef":"/networkInterfaces/n1/ipConfigurations/c1","configurationState":{…}|null}
 *   event: error              data: {"code","message","syCode"}, then the stream ends
 *
 * Resuming: a list answers its revision in the X-Sy-Revision header (watch from it + 1 to miss
 * nothing); a reconnecting EventSource sends Last-Event-ID, and the stream resumes after it. A
 * revision older than the store's compaction ends the stream with SY_COMPACTED (list again). The
 * token is checked again at every keepalive: a revoked token ends the stream. A client that reads
 * too slowly to keep MAX_BUFFERED bytes in flight is cut off (it resumes with Last-Event-ID).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SyError } from '../errors.js';
import { authenticate, type Principal } from './auth.js';
import { followStore, openSession, sessionsOf } from './event-stream.js';
import type { Engine } from './engine.js';
import { resourceKey, ROOT } from './keys.js';
import type { ResourceKind } from './kind.js';
import { API_PREFIX } from './openapi.js';
import type { WatchEvent } from './store/store.js';

export const REVISION_HEADER = 'x-sy-revision';

const RES = `${ROOT}res/`;
const STATUS = `${ROOT}status/`;

export interface WatchRouteOptions {
  keepaliveMs?: number;
}

export function watchRoute(app: FastifyInstance, engine: Engine, who: (req: FastifyRequest) => Principal, opts: WatchRouteOptions = {}): void {
  const open = sessionsOf(app);
  app.get<{ Querystring: { fromRevision?: unknown; collection?: unknown } }>(`${API_PREFIX}/watch`, async (req, reply) => {
    const principal = who(req);
    const from = startRevision(req.query.fromRevision, req.headers['last-event-id']);
    const only = req.query.collection === undefined ? undefined : collectionOf(engine, String(req.query.collection));
    if (only) engine.admit(principal, only);
    const start = from ?? (await engine.store.revision()) + 1;
    const session = openSession(reply, open, {
      ...(opts.keepaliveMs !== undefined ? { keepaliveMs: opts.keepaliveMs } : {}),
      onKeepalive: async () => void (await authenticate(engine.store, req.headers.authorization)),
      errorCode: (code) => (code === 'SY_COMPACTED' ? 'Gone' : code === 'SY_UNAUTHORIZED' ? 'Unauthorized' : 'ServiceUnavailable'),
    });
    session.send('ready', undefined, { revision: start - 1 });
    followStore(engine.store, ROOT, start, session, async (events, revision) => {
      for (const ev of events) {
        if (session.ended) return;
        const out = await translate(engine, principal, only, ev);
        if (out) session.send(out.event, revision, { type: out.event, revision, ...out.data });
      }
    });
  });
}

/** fromRevision wins over Last-Event-ID (the last revision the client saw); neither: from now. */
function startRevision(query: unknown, lastEventId: string | string[] | undefined): number | undefined {
  const parse = (v: string, what: string, plus: number) => {
    if (!/^\d{1,15}$/.test(v)) throw new SyError('SY_BAD_REQUEST', `${what} must be a revision number, not "${v.slice(0, 40)}"`);
    return Number(v) + plus;
  };
  if (query !== undefined) {
    const n = parse(String(query), 'Query parameter "fromRevision"', 0);
    return n === 0 ? undefined : n;
  }
  const id = Array.isArray(lastEventId) ? lastEventId[0] : lastEventId;
  return id === undefined || id === '' ? undefined : parse(id, 'The Last-Event-ID header', 1);
}

function collectionOf(engine: Engine, name: string): ResourceKind {
  const kind = engine.kinds.get(name);
  if (!kind) throw new SyError('SY_BAD_REQUEST', `Query parameter "collection": "${name.slice(0, 60)}" is not a collection (${[...engine.kinds.keys()].join(', ')})`);
  return kind;
}

type Out = { event: 'put' | 'delete' | 'configurationState'; data: Record<string, unknown> };

/** One store event as `who` may see it, or undefined (not a resource, not visible, filtered out). */
async function translate(engine: Engine, who: Principal, only: ResourceKind | undefined, ev: WatchEvent): Promise<Out | undefined> {
  const key = ev.kv.key;
  if (key.startsWith(RES)) {
    const [collection, id] = key.slice(RES.length).split('/');
    const kind = engine.kinds.get(collection ?? '');
    if (!kind || id === undefined || (only && kind !== only)) return undefined;
    const resourceRef = `/${collection}/${id}`;
    if (ev.type === 'delete') return ev.prevKv && engine.maySee(who, kind, ev.prevKv.value) ? { event: 'delete', data: { resourceRef } } : undefined;
    const resource = await engine.viewOfStored(who, kind, ev.kv);
    return resource ? { event: 'put', data: { resourceRef, resource } } : undefined;
  }
  if (key.startsWith(STATUS)) {
    const resourceRef = key.slice(`${ROOT}status`.length);
    const [, collection, id] = resourceRef.split('/');
    const kind = engine.kinds.get(collection ?? '');
    if (!kind || id === undefined || (only && kind !== only)) return undefined;
    // the report's resource decides who may see it; a report outliving its resource is nobody's
    const owner = await engine.store.get(resourceKey(kind.collection, id));
    if (!owner || !engine.maySee(who, kind, owner.value)) return undefined;
    return { event: 'configurationState', data: { resourceRef, configurationState: ev.type === 'put' ? (JSON.parse(ev.kv.value) as unknown) : null } };
  }
  return undefined;
}
