/**
 * Fuzz test of the host API (property-based, fast-check): every route gets random and malformed
 * documents — arbitrary JSON with prototype keys, HCN documents with one to three fields spoiled
 * (wrong types, huge or negative numbers, bad CIDRs, unknown Types, deep nesting, huge arrays),
 * truncated and binary bodies, odd ids and query strings. Property: the answer is a 4xx with
 * `{Error, Code}` whose status is the code's (never a 5xx, never a hang), and the store's files, the
 * records and the fake data plane are byte for byte what they were. A request that happens to be
 * valid may succeed: its object is then removed by starting over from a fresh host, and counted.
 * SWITCHYARD_FUZZ_RUNS scales the number of inputs; a failure prints fast-check's seed to replay it.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../src/hostd/api.js';
import { httpStatusOf, type ErrorCode } from '../../src/errors.js';
import { newTestHost, snapshot, type TestHost } from './host-fixture.js';
import { oddIds, oddQuery, pollutedJson, rawBodies, spoiled, type RawBody } from './fuzz-inputs.js';

const RUNS = Number(process.env.SWITCHYARD_FUZZ_RUNS ?? 3000);
/** A request not answered within this is a hang (a liveness bound, not a timing figure). */
const HANG_MS = 30_000;

const NET_A = 'a1a1a1a1-0000-4000-8000-00000000000a';
const NS_A = 'c1c1c1c1-0000-4000-8000-00000000000a';
const NS_B = 'c2c2c2c2-0000-4000-8000-00000000000b';
const EP_A = 'e1e1e1e1-0000-4000-8000-00000000000a';

const acl = { Type: 'ACL', Settings: { Id: 'web', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: '80', RemoteAddresses: '192.0.2.0/24', Priority: 100, RuleType: 'Switch' } };
const POLICIES = [
  { Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 80, ExternalPort: 9000, VIP: '192.0.2.1', PortCount: 2, Flags: 0 } },
  acl,
  { Type: 'QOS', Settings: { MaximumOutgoingBandwidthInBytes: 125000, OutgoingBurstInBytes: 65536 } },
  { Type: 'OutBoundNAT', Settings: { Exceptions: ['10.0.0.0/8'], Destinations: ['192.0.2.0/24'], VirtualIP: '192.0.2.1' } },
  { Type: 'SDNRoute', Settings: { DestinationPrefix: '10.9.0.0/16', NextHop: '172.18.0.9', Metric: 5 } },
  { Type: 'EncapOverhead', Settings: { Overhead: 50 } },
];
const DNS = { Domain: 'corp.example', Search: ['a.example', 'b.example'], ServerList: ['192.0.2.53'], Options: ['ndots:2'] };
const NETWORK = {
  Name: 'net-b',
  Type: 'NAT',
  Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: '172.30.0.0/24', Routes: [{ NextHop: '172.30.0.1', DestinationPrefix: '0.0.0.0/0', Metric: 0 }] }] }],
  Dns: DNS,
  MTU: 1400,
  Flags: 0,
  SchemaVersion: { Major: 2, Minor: 0 },
};
const ENDPOINT = {
  Name: 'ep-b',
  HostComputeNetwork: 'net-a',
  HostComputeNamespace: NS_B,
  IpConfigurations: [{ IpAddress: '172.18.0.50', PrefixLength: 24 }],
  MacAddress: '02-00-00-00-00-50',
  Dns: DNS,
  Routes: [{ DestinationPrefix: '10.8.0.0/16', NextHop: '172.18.0.9' }],
  InterfaceName: 'eth1',
  Policies: POLICIES,
  SchemaVersion: { Major: 2, Minor: 0 },
};
const MODIFY = ['Add', 'Remove', 'Update'].map((RequestType) => ({ ResourceType: 'Policy', RequestType, Settings: { Policies: POLICIES } }));
const ATTACH = { NamespaceId: NS_B, InterfaceName: 'eth1', AdoptNamespace: false };
const TRACE = { Endpoint: 'ep-a', Direction: 'In', Protocol: 6, RemoteAddress: '192.0.2.2', RemotePort: 1234, LocalPort: 80, HostPort: 8080, Probe: false };
const NAMESPACE = { Path: '/run/netns/fuzz', Type: 'Host', Resources: [], SchemaVersion: { Major: 2, Minor: 0 } };

interface Route {
  method: string;
  url: fc.Arbitrary<string>;
  templates?: unknown[];
  /** whether a success may change state (then the host is started afresh) */
  mutating: boolean;
}

const ids = (existing: string[]) => oddIds(existing);
const ROUTES: Route[] = [
  { method: 'POST', url: fc.constant('/networks'), templates: [NETWORK], mutating: true },
  { method: 'POST', url: fc.constant('/endpoints'), templates: [ENDPOINT, ...POLICIES.map((p) => ({ ...ENDPOINT, Policies: [p] }))], mutating: true },
  { method: 'POST', url: fc.constant('/namespaces'), templates: [NAMESPACE], mutating: true },
  { method: 'PATCH', url: ids(['ep-a', EP_A]).map((id) => `/endpoints/${id}`), templates: MODIFY, mutating: true },
  { method: 'POST', url: ids(['ep-a', EP_A]).map((id) => `/endpoints/${id}/attach`), templates: [ATTACH], mutating: true },
  { method: 'POST', url: ids(['ep-a', EP_A]).map((id) => `/endpoints/${id}/detach`), templates: [{}], mutating: true },
  { method: 'POST', url: fc.constant('/trace'), templates: [TRACE, { ...TRACE, Direction: 'Out', HostPort: undefined }], mutating: false },
  { method: 'DELETE', url: ids(['net-a', NET_A]).map((id) => `/networks/${id}`), mutating: true },
  { method: 'DELETE', url: ids(['ep-a', EP_A]).map((id) => `/endpoints/${id}`), mutating: true },
  { method: 'DELETE', url: ids(['/run/netns/b', NS_B, 'b']).map((id) => `/namespaces/${id}`), mutating: true },
  { method: 'GET', url: ids(['net-a', NET_A]).map((id) => `/networks/${id}`), mutating: false },
  { method: 'GET', url: ids(['ep-a', EP_A]).map((id) => `/endpoints/${id}`), mutating: false },
  { method: 'GET', url: ids(['ep-a', EP_A]).map((id) => `/endpoints/${id}/stats`), mutating: false },
  { method: 'GET', url: ids(['b', NS_A]).map((id) => `/namespaces/${id}`), mutating: false },
  { method: 'GET', url: oddQuery.map((q) => `/endpoints${q}`), mutating: false },
  { method: 'GET', url: oddQuery.map((q) => `/networks${q}`), mutating: false },
  { method: 'GET', url: fc.constantFrom('/status', '/metrics', '/healthz', '/namespaces?x=1', '/', '/nope', '/networks/', '//networks'), mutating: false },
  { method: 'PUT', url: fc.constantFrom('/networks', '/networks/net-a', '/endpoints/ep-a'), templates: [NETWORK], mutating: false },
];

interface Request {
  method: string;
  url: string;
  mutating: boolean;
  body?: RawBody;
}

const bodyOf = (templates: unknown[]): fc.Arbitrary<RawBody> =>
  fc.oneof(
    { weight: 6, arbitrary: spoiled(templates).map((d) => ({ body: JSON.stringify(d) ?? '', what: 'spoiled document' })) },
    { weight: 2, arbitrary: pollutedJson.map((d) => ({ body: JSON.stringify(d) ?? '', what: 'arbitrary JSON' })) },
    { weight: 2, arbitrary: rawBodies(templates) },
  );

const request: fc.Arbitrary<Request> = fc.oneof(
  ...ROUTES.map((route) =>
    fc
      .tuple(route.url, route.templates ? bodyOf(route.templates) : fc.constant(undefined))
      .map(([url, body]): Request => ({ method: route.method, url, mutating: route.mutating, ...(body ? { body } : {}) })),
  ),
);

async function seededHost(): Promise<{ h: TestHost; app: FastifyInstance }> {
  const h = await newTestHost();
  h.fake.listening = [{ protocol: 6, address: '0.0.0.0', port: 8081 }];
  await h.svc.createNetwork({ ID: NET_A, Name: 'net-a', Type: 'NAT', Dns: { ServerList: ['192.0.2.53'] }, Ipams: [{ Subnets: [{ IpAddressPrefix: '172.18.0.0/24' }] }] });
  await h.svc.createNamespace({ ID: NS_A, Path: '/run/netns/a' });
  await h.svc.createNamespace({ ID: NS_B, Path: '/run/netns/b' });
  await h.svc.createEndpoint({
    ID: EP_A,
    Name: 'ep-a',
    HostComputeNetwork: NET_A,
    HostComputeNamespace: NS_A,
    Policies: [{ Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 80, ExternalPort: 8080 } }, acl],
  });
  const app = buildApi(h.svc);
  await app.ready();
  return { h, app };
}

function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${HANG_MS} ms: ${what}`)), HANG_MS);
  });
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}

let host: { h: TestHost; app: FastifyInstance } | undefined;
after(async () => {
  await host?.app.close();
  host?.h.cleanup();
});

test(`host API: ${RUNS} random and malformed requests are refused cleanly and change nothing`, async (t) => {
  host = await seededHost();
  const seen = { refused: 0, succeeded: 0, byStatus: new Map<number, number>() };
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const { h, app } = host!;
      const before = snapshot(h);
      const headers: Record<string, string> = {};
      if (r.body?.contentType !== undefined) headers['content-type'] = r.body.contentType;
      else if (r.body) headers['content-type'] = 'application/json';
      const what = `${r.method} ${r.url.slice(0, 200)} (${r.body?.what ?? 'no body'})`;
      const res = await bounded(app.inject({ method: r.method as 'GET', url: r.url, headers, ...(r.body ? { payload: r.body.body } : {}) }), what);
      seen.byStatus.set(res.statusCode, (seen.byStatus.get(res.statusCode) ?? 0) + 1);
      assert.ok(res.statusCode < 500, `${what} → ${res.statusCode} ${res.body.slice(0, 500)}`);
      if (res.statusCode >= 400) {
        seen.refused++;
        const body = JSON.parse(res.body) as { Error?: unknown; Code?: unknown };
        assert.equal(typeof body.Error, 'string', `${what}: Error is a message: ${res.body.slice(0, 300)}`);
        assert.ok((body.Error as string).length > 0, `${what}: the message says something`);
        assert.match(String(body.Code), /^SY_[A-Z_]+$/, `${what}: Code is an SY_ code`);
        assert.equal(res.statusCode, httpStatusOf(body.Code as ErrorCode), `${what}: the status is the code's`);
        assert.deepEqual(snapshot(h), before, `${what} was refused (${String(body.Code)}) but changed state`);
      } else if (r.mutating) {
        // a valid request made something: start over from a fresh host so the next input meets the seed
        seen.succeeded++;
        await app.close();
        h.cleanup();
        host = await seededHost();
      } else {
        assert.deepEqual(snapshot(h), before, `${what} (${res.statusCode}) changed state`);
      }
    }),
    { numRuns: RUNS },
  );
  const statuses = [...seen.byStatus].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ');
  t.diagnostic(`fuzz host API (in-process, fake data plane): ${RUNS} inputs, ${seen.refused} refused (4xx), ${seen.succeeded} valid by chance (state rebuilt), statuses ${statuses}`);
});
