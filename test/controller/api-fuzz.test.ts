/**
 * Fuzz test of the northbound API (property-based, fast-check) over real HTTP on SQLite: valid
 * documents of every kind spoiled by one to three mutations (wrong types, hostile and huge strings,
 * huge arrays, deep nesting, prototype keys), arbitrary JSON, malformed and binary bodies, odd ids.
 * Property: every answer is a 4xx with `{code, message, syCode}` (never a 5xx, never a hang), and the
 * store — every key, value and revision — is exactly what it was. A request that happens to be valid
 * may succeed: the test then starts over from a freshly seeded controller, and counts it.
 * SWITCHYARD_FUZZ_RUNS scales the number of inputs; a failure prints fast-check's seed to replay it.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { oddIds, pollutedJson, rawBodies, spoiled, type RawBody } from '../unit/fuzz-inputs.js';
import { startController, type TestController } from './api-fixture.js';

const RUNS = Number(process.env.SWITCHYARD_FUZZ_RUNS ?? 400);
const HANG_MS = 30_000;

const subnet = { resourceRef: '/virtualNetworks/v/subnets/s' };
/** [path, valid body] of every kind and child: the seed, in order, and the templates spoiled. */
const DOCS: [string, Record<string, unknown>][] = [
  ['/credentials/cr', { properties: { type: 'UsernamePassword', userName: 'u', value: 'p' } }],
  ['/servers/h', { properties: { connections: [{ managementAddresses: ['192.0.2.1'], credential: { resourceRef: '/credentials/cr' } }] } }],
  ['/logicalNetworks/ln', { properties: { subnets: [{ resourceId: 'pa', properties: { addressPrefix: '192.168.0.0/24', vlanID: 5, defaultGateways: ['192.168.0.1'], ipPools: [{ properties: { startIpAddress: '192.168.0.10', endIpAddress: '192.168.0.20' } }] } }] } }],
  ['/macPools/mp', { properties: { startMacAddress: '00-1D-D8-00-00-00', endMacAddress: '00-1D-D8-00-00-FF' } }],
  ['/accessControlLists/acl', { properties: { aclRules: [{ resourceId: 'r', properties: { protocol: 'TCP', destinationPortRange: '80-90', sourceAddressPrefix: '10.0.0.0/8', action: 'Allow', type: 'Inbound', priority: 100 } }] } }],
  ['/routeTables/rt', { properties: { routes: [{ resourceId: 'r', properties: { addressPrefix: '0.0.0.0/0', nextHopType: 'VirtualAppliance', nextHopIpAddress: '10.0.0.4' } }] } }],
  ['/publicIPAddresses/pip', { properties: { ipAddress: '203.0.113.1', publicIPAllocationMethod: 'Static' } }],
  ['/virtualNetworks/v', { tags: { a: 'b' }, properties: { addressSpace: { addressPrefixes: ['10.0.0.0/16'] }, logicalNetwork: { resourceRef: '/logicalNetworks/ln' }, subnets: [{ resourceId: 's', properties: { addressPrefix: '10.0.0.0/24', accessControlList: { resourceRef: '/accessControlLists/acl' }, routeTable: { resourceRef: '/routeTables/rt' } } }] } }],
  ['/networkInterfaces/n', { properties: { server: { resourceRef: '/servers/h' }, privateMacAddress: '00-1D-D8-00-00-05', portSettings: { qosSettings: { outboundMaximumMbps: 10 } }, dnsSettings: { dnsServers: ['10.0.0.53'] }, ipConfigurations: [{ resourceId: 'c', properties: { privateIPAddress: '10.0.0.9', subnet, publicIPAddress: { resourceRef: '/publicIPAddresses/pip' } } }] } }],
  ['/loadBalancers/lb', { properties: {
    frontendIPConfigurations: [{ resourceId: 'f', properties: { subnet } }],
    backendAddressPools: [{ resourceId: 'p', properties: { backendIPConfigurations: [{ resourceRef: '/networkInterfaces/n/ipConfigurations/c' }] } }],
    probes: [{ resourceId: 'hp', properties: { protocol: 'HTTP', port: 80, requestPath: '/health', intervalInSeconds: 5, numberOfProbes: 2 } }],
    loadBalancingRules: [{ resourceId: 'r', properties: { frontendIPConfigurations: [{ resourceRef: '/loadBalancers/lb/frontendIPConfigurations/f' }], backendAddressPool: { resourceRef: '/loadBalancers/lb/backendAddressPools/p' }, protocol: 'TCP', frontendPort: 80, backendPort: 8080, loadDistribution: 'SourceIP', probe: { resourceRef: '/loadBalancers/lb/probes/hp' } } }],
    inboundNatRules: [{ resourceId: 'ssh', properties: { frontendIPConfigurations: [{ resourceRef: '/loadBalancers/lb/frontendIPConfigurations/f' }], backendIPConfiguration: { resourceRef: '/networkInterfaces/n/ipConfigurations/c' }, protocol: 'TCP', frontendPort: 2222, backendPort: 22 } }],
    outboundNatRules: [{ resourceId: 'o', properties: { frontendIPConfigurations: [{ resourceRef: '/loadBalancers/lb/frontendIPConfigurations/f' }], backendAddressPool: { resourceRef: '/loadBalancers/lb/backendAddressPools/p' }, protocol: 'All' } }],
  } }],
];
const CHILDREN: [string, Record<string, unknown>][] = [
  ['/loadBalancers/lb/probes/hp2', { properties: { protocol: 'TCP', port: 443 } }],
  ['/virtualNetworks/v/subnets/s2', { properties: { addressPrefix: '10.0.1.0/24' } }],
  ['/accessControlLists/acl/aclRules/r2', { properties: { protocol: 'UDP', action: 'Deny', type: 'Outbound', priority: 7 } }],
  ['/networkInterfaces/n/ipConfigurations/c2', { properties: { subnet } }],
  ['/routeTables/rt/routes/r2', { properties: { addressPrefix: '10.9.0.0/16', nextHopType: 'None' } }],
  ['/logicalNetworks/ln/subnets/pb', { properties: { addressPrefix: '192.168.1.0/24' } }],
];
/** The same documents at fresh ids, so that a valid one is a create and a spoiled one is a refused create. */
const FRESH: [string, Record<string, unknown>][] = DOCS.map(([p, d]) => [p.replace(/\/[^/]+$/, '/fz'), d]);
const TEMPLATES = [...DOCS, ...CHILDREN, ...FRESH];

interface FuzzRequest {
  method: string;
  path: string;
  body?: RawBody;
  what: string;
}

const json = (v: unknown): RawBody => ({ body: JSON.stringify(v) ?? 'null', what: 'json' });
const target = fc.constantFrom(...TEMPLATES);
const request: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(target, fc.integer()).chain(([[path, doc]]) => spoiled([doc]).map((b) => ({ method: 'PUT', path, body: json(b), what: 'spoiled' }))) },
  { weight: 2, arbitrary: fc.tuple(target, rawBodies(TEMPLATES.map(([, d]) => d))).map(([[path], body]) => ({ method: 'PUT', path, body, what: body.what })) },
  fc.tuple(target, pollutedJson).map(([[path], v]) => ({ method: 'PUT', path, body: json(v), what: 'arbitrary JSON' })),
  fc.tuple(fc.constantFrom('virtualNetworks', 'networkInterfaces', 'macPools', 'accessControlLists'), oddIds(['v', 'n', 'mp', 'acl']), fc.constantFrom('GET', 'PUT', 'DELETE')).map(([coll, id, method]) => ({
    method,
    path: `/networking/v1/${coll}/${id}${method === 'PUT' ? '/subnets/x' : ''}`,
    ...(method === 'PUT' ? { body: json({ properties: { addressPrefix: '10.0.3.0/24' } }) } : {}),
    what: 'odd id',
  })),
  fc.tuple(target, fc.constantFrom('W/"1"', '"x"', '', '*')).map(([[path, doc], etag]) => ({ method: 'PUT', path, body: { ...json(doc), contentType: 'application/json', ifMatch: etag } as RawBody, what: 'stale If-Match' })),
);

function send(base: string, token: string, r: FuzzRequest): Promise<{ status: number; text: string }> {
  const url = new URL(r.path.startsWith('/networking') ? r.path : `/networking/v1${r.path}`, base);
  return new Promise((resolve, reject) => {
    const bytes = r.body?.body ?? '';
    const headers: Record<string, string | number> = { authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(bytes) };
    const type = r.body?.contentType ?? (r.body ? 'application/json' : undefined);
    if (type) headers['content-type'] = type;
    const ifMatch = (r.body as { ifMatch?: string } | undefined)?.ifMatch;
    if (ifMatch !== undefined) headers['if-match'] = ifMatch;
    const req = httpRequest({ host: '127.0.0.1', port: url.port, method: r.method, path: url.pathname + url.search, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.setTimeout(HANG_MS, () => req.destroy(new Error(`no answer within ${HANG_MS} ms: ${r.method} ${r.path}`)));
    req.on('error', reject);
    req.end(bytes);
  });
}

async function seeded(): Promise<TestController> {
  const c = await startController();
  for (const [path, body] of DOCS) {
    const r = await c.req('PUT', path, body);
    assert.equal(r.status, 201, `seed ${path}: ${JSON.stringify(r.body)}`);
  }
  return c;
}

let c: TestController | undefined;
after(async () => {
  await c?.close();
});

test(`northbound API: ${RUNS} malformed requests are refused cleanly and change nothing`, async (t) => {
  c = await seeded();
  const seen = { refused: 0, succeeded: 0, byStatus: new Map<number, number>() };
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const before = await c!.dump();
      const res = await send(c!.url, c!.admin, r);
      seen.byStatus.set(res.status, (seen.byStatus.get(res.status) ?? 0) + 1);
      assert.ok(res.status < 500, `${r.method} ${r.path} (${r.what}) → ${res.status}: ${res.text.slice(0, 500)}`);
      if (res.status < 300) {
        // valid by chance: fine, but the seed is no longer what the next input expects
        seen.succeeded++;
        await c!.close();
        c = await seeded();
        return;
      }
      seen.refused++;
      const doc = JSON.parse(res.text) as { code?: unknown; message?: unknown; syCode?: unknown };
      assert.equal(typeof doc.code, 'string', res.text);
      assert.equal(typeof doc.message, 'string', res.text);
      assert.match(String(doc.syCode), /^SY_[A-Z_]+$/);
      assert.equal(await c!.dump(), before, `${r.method} ${r.path} (${r.what}) → ${res.status} changed the store`);
    }),
    // a counterexample may be megabytes: print the seed and a short form
    { numRuns: RUNS, reporter: (out) => { if (out.failed) throw new Error(`seed ${out.seed} path ${String(out.counterexamplePath)}: ${String(out.errorInstance).slice(0, 2000)} on ${JSON.stringify(out.counterexample).slice(0, 1000)}`); } },
  );
  t.diagnostic(`refused ${seen.refused}, valid by chance ${seen.succeeded}; statuses ${[...seen.byStatus].map(([s, n]) => `${s}×${n}`).join(' ')}`);
  assert.ok(seen.refused > RUNS / 2, 'most inputs are malformed');
});
