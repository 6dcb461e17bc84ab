/**
 * The southbound channel: what a host agent (hostd following the controller) reads and reports, at
 * /networking/v1/southbound/servers/{id}/…, for a host token of that server (or an admin token).
 *
 *   GET  …/span        the server's span (span.ts) and the store revision it was read after
 *   POST …/watch       {have: {resourceRef: etag}} → server-sent events: `ready`, then `put` (a
 *                      resource), `remote` (a remote endpoint), `delete`, each with id = the store
 *                      revision it reflects; first what differs from `have`, then every change of
 *                      the span as it happens. Resuming is sending what one has: only the difference
 *                      comes back, whatever happened (or was compacted) while away.
 *   PUT  …/heartbeat   {hostdVersion, supportedModes, providerAddresses}: the server's health, shown
 *                      as its configurationState (lastHeartbeat) and the source of its NICs' PAs
 *   PUT  …/reports     {reports: [{resourceRef, status, detailedInfo?}]}: what the host realised, for
 *                      resources in its span; a resource's configurationState aggregates its hosts'
 *
 * A change is recomputed for only when it may touch the span (span.ts mayAffect); the span is then
 * read again and diffed against what the stream last sent, so one ACL changed is one `put` sent.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { SyError } from '../errors.js';
import { followStore, openSession, sessionsOf } from './event-stream.js';
import { parseDoc } from '../hcn/schema.js';
import { isIPv4 } from '../model/ipv4.js';
import type { Principal } from './auth.js';
import { ownerRef } from './check-context.js';
import { resourceKey, ROOT, statusKey } from './keys.js';
import { API_PREFIX, RESOURCE_ID } from './schema.js';
import { computeSpan, diffSpan, fingerprints, mayAffect, type Span, type SpanChange } from './span.js';
import type { Store, WatchEvent } from './store/store.js';
import { withRetries } from './txn-context.js';

export const SOUTHBOUND = `${API_PREFIX}/southbound/servers`;
const MODES = ['NAT', 'Transparent', 'L2Bridge', 'L2Tunnel', 'Overlay'];

export const WatchBody = Type.Object({ have: Type.Optional(Type.Record(Type.String({ maxLength: 512 }), Type.String({ maxLength: 64 }), { maxProperties: 1_000_000 })) }, { additionalProperties: false });
export const HeartbeatBody = Type.Object(
  {
    hostdVersion: Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9._+-]+$' }),
    supportedModes: Type.Array(Type.Union(MODES.map((m) => Type.Literal(m))), { maxItems: MODES.length, uniqueItems: true }),
    providerAddresses: Type.Optional(Type.Array(Type.String({ maxLength: 15 }), { maxItems: 16, uniqueItems: true })),
  },
  { additionalProperties: false },
);
const Status = Type.Union(['Success', 'Failure', 'Uninitialized'].map((s) => Type.Literal(s)));
export const ReportsBody = Type.Object(
  {
    reports: Type.Array(
      Type.Object(
        {
          resourceRef: Type.String({ maxLength: 512 }),
          status: Status,
          detailedInfo: Type.Optional(Type.Array(Type.Object({ code: Type.Optional(Type.String({ maxLength: 64 })), message: Type.Optional(Type.String({ maxLength: 4096 })) }, { additionalProperties: false }), { maxItems: 16 })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 1000 },
    ),
  },
  { additionalProperties: false },
);

interface HostReport {
  status: string;
  detailedInfo?: { code?: string; message?: string }[];
  lastUpdatedTime: string;
}

/** A resource's configurationState: its hosts' reports, and their verdict (any Failure fails it). */
interface AggregateState {
  status: string;
  detailedInfo?: { source: string; code?: string; message?: string }[];
  lastUpdatedTime: string;
  hosts: Record<string, HostReport>;
}

export function southboundRoutes(app: FastifyInstance, store: Store, who: (req: FastifyRequest) => Principal, opts: { keepaliveMs?: number } = {}): void {
  const open = sessionsOf(app);
  /** The server a request is for, if the token may act for it. */
  const serverOf = (req: FastifyRequest<{ Params: { id: string } }>): string => {
    const id = req.params.id;
    if (!new RegExp(RESOURCE_ID).test(id)) throw new SyError('SY_BAD_REQUEST', `The server id "${id.slice(0, 200)}" is not valid`);
    const p = who(req);
    if (p.role === 'admin' || (p.role === 'host' && p.server === id)) return id;
    throw new SyError('SY_FORBIDDEN', p.role === 'host' ? `This host token acts for server "${p.server ?? ''}" only` : 'The southbound API is for host tokens (switchyard controller token create --role host --server ID)');
  };
  const spanOf = async (id: string): Promise<Span> => {
    const span = await computeSpan(store, id);
    if (!span) throw new SyError('SY_NOT_FOUND', `No resource "/servers/${id}"`);
    return span;
  };

  app.get<{ Params: { id: string } }>(`${SOUTHBOUND}/:id/span`, async (req) => {
    const id = serverOf(req);
    const revision = await store.revision();
    const span = await spanOf(id);
    return { revision, server: span.server, resources: [...span.resources.values()], remoteEndpoints: [...span.remotes.values()] };
  });

  app.post<{ Params: { id: string } }>(`${SOUTHBOUND}/:id/watch`, async (req, reply) => {
    const id = serverOf(req);
    const body = parseDoc(WatchBody, req.body ?? {}, 'southbound watch body');
    let computedAt = await store.revision();
    let span = await spanOf(id);
    const session = openSession(reply, open, {
      ...(opts.keepaliveMs !== undefined ? { keepaliveMs: opts.keepaliveMs } : {}),
      errorCode: (code) => (code === 'SY_NOT_FOUND' ? 'ResourceNotFound' : 'ServiceUnavailable'),
    });
    const send = (changes: SpanChange[], revision: number) => {
      for (const c of changes) session.send(c.type, revision, { ...c, revision });
    };
    send(diffSpan(new Map(Object.entries(body.have ?? {})), span), computedAt);
    let sent = fingerprints(span);
    session.send('ready', undefined, { revision: computedAt });
    // from the revision the span was read after: a change made while it was read comes again, and diffs to nothing
    followStore(store, ROOT, computedAt + 1, session, async (events, revision) => {
      if (revision <= computedAt || !events.some((ev) => touches(span, ev))) return;
      const next = await spanOf(id);
      send(diffSpan(sent, next), revision);
      span = next;
      sent = fingerprints(next);
      computedAt = revision;
    });
  });

  app.put<{ Params: { id: string } }>(`${SOUTHBOUND}/:id/heartbeat`, async (req, reply) => {
    const id = serverOf(req);
    const body = parseDoc(HeartbeatBody, req.body, 'heartbeat body');
    const bad = (body.providerAddresses ?? []).findIndex((a) => !isIPv4(a));
    if (bad >= 0) throw new SyError('SY_BAD_REQUEST', `heartbeat body: /providerAddresses/${bad}: "${body.providerAddresses![bad]}" is not an IPv4 address`);
    if (!(await store.get(resourceKey('servers', id)))) throw new SyError('SY_NOT_FOUND', `No resource "/servers/${id}"`);
    const now = new Date().toISOString();
    await store.put(statusKey(`/servers/${id}`), JSON.stringify({ status: 'Success', lastHeartbeat: now, lastUpdatedTime: now, ...body }));
    return reply.code(204).send();
  });

  app.put<{ Params: { id: string } }>(`${SOUTHBOUND}/:id/reports`, async (req, reply) => {
    const id = serverOf(req);
    const { reports } = parseDoc(ReportsBody, req.body, 'reports body');
    const span = await spanOf(id);
    const outside = reports.map((r) => r.resourceRef).filter((ref) => !inSpan(span, ref));
    if (outside.length) throw new SyError('SY_FORBIDDEN', `Not in the span of /servers/${id}: ${outside.slice(0, 10).join(', ')}${outside.length > 10 ? ` and ${outside.length - 10} more` : ''}`);
    const now = new Date().toISOString();
    await withRetries(
      store,
      async (txn) => {
        for (const r of reports) {
          const key = statusKey(r.resourceRef);
          const prev = await txn.get(key);
          const state = prev ? (JSON.parse(prev.value) as Partial<AggregateState>) : {};
          const hosts = { ...(state.hosts ?? {}), [id]: { status: r.status, ...(r.detailedInfo ? { detailedInfo: r.detailedInfo } : {}), lastUpdatedTime: now } };
          txn.put(key, JSON.stringify(aggregate(hosts, now)));
        }
      },
      `reports of /servers/${id}`,
    );
    return reply.code(204).send();
  });
}

/** A ref of the span, or a child of one (a NIC's ipConfiguration, an ACL's rule); the server's own state is its heartbeat's. */
function inSpan(span: Span, ref: string): boolean {
  const top = ownerRef(ref);
  return top !== undefined && ref !== span.server && span.resources.has(top);
}

function aggregate(hosts: Record<string, HostReport>, now: string): AggregateState {
  const all = Object.entries(hosts);
  const status = all.some(([, h]) => h.status === 'Failure') ? 'Failure' : all.some(([, h]) => h.status === 'Uninitialized') ? 'Uninitialized' : 'Success';
  const detailedInfo = all.filter(([, h]) => h.status === 'Failure').flatMap(([server, h]) => (h.detailedInfo ?? [{}]).map((d) => ({ source: `/servers/${server}`, ...d })));
  return { status, ...(detailedInfo.length ? { detailedInfo } : {}), lastUpdatedTime: now, hosts };
}

/** Whether one store event may change the span (a resource, or a server's heartbeat). */
function touches(span: Span, ev: WatchEvent): boolean {
  const key = ev.kv.key;
  const res = `${ROOT}res/`;
  if (key.startsWith(res)) {
    const [collection, id] = key.slice(res.length).split('/');
    return mayAffect(span, `/${collection}/${id}`, [ev.type === 'put' ? ev.kv.value : undefined, ev.prevKv?.value]);
  }
  const status = `${ROOT}status/servers/`;
  return key.startsWith(status) && span.remoteServers.has(`/servers/${key.slice(status.length)}`);
}
