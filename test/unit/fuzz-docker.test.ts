/**
 * Fuzz test of the Docker plugin sockets (property-based, fast-check): the NetworkDriver and
 * IpamDriver methods, served by DockerFrontDoor on real unix sockets in a temporary directory over a
 * HostService with the fake data plane, get Docker's messages with fields spoiled, arbitrary JSON,
 * malformed bodies and method names that are not methods ("/constructor", "/__proto__"). Property:
 * every answer is HTTP 200 with the protocol's error field (`Err`, `Error` for IPAM) holding a
 * message with its SY_ code — never an internal error — or 404 for what is not a method; a refusal
 * changes nothing (records, store, ipam.json, networks.json, fake kernel). A call that succeeds
 * either changes nothing (idempotent calls on unknown objects, queries) or was valid by chance: the
 * host is then started afresh and the success counted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { DockerFrontDoor } from '../../src/docker/plugin-server.js';
import { newTestHost, snapshot, type TestHost } from './host-fixture.js';
import { hostileString, PROTOTYPE_KEYS, pollutedJson, rawBodies, requestRaw, spoiled, type RawBody } from './fuzz-inputs.js';

const RUNS = Number(process.env.SWITCHYARD_FUZZ_RUNS ?? 3000);
const HANG_MS = 30_000;

const NET = 'a'.repeat(8) + '1'.repeat(56);
const NET2 = 'd'.repeat(8) + '4'.repeat(56);
const EP = 'b'.repeat(8) + '2'.repeat(56);
const EP2 = 'c'.repeat(8) + '3'.repeat(56);
const SANDBOX = '/proc/self/ns/net';
const POOL = 'switchyard-local/10.97.0.0/24';
const portmap = [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8081, HostPortEnd: 8081 }, { Proto: 17, IP: '', Port: 53, HostIP: '127.0.0.1', HostPort: 0, HostPortEnd: 0 }];
const generic = {
  'switchyard.name': 'docknet',
  'switchyard.mtu': '1400',
  'switchyard.dns-servers': '192.0.2.53',
  'switchyard.dns-search': 'a.example b.example',
  'com.docker.network.windowsshim.dnssuffix': 'corp.example',
  'com.docker.network.windowsshim.enable_outboundnat': 'true',
  'com.docker.network.windowsshim.outboundnat_exceptions': '10.0.0.0/8,192.0.2.7',
};
const endpoint = { NetworkID: NET, EndpointID: EP2 };

/** Docker's messages, valid for the seeded host; each input spoils one to three fields of one. */
const METHODS: Record<string, unknown[]> = {
  'NetworkDriver.GetCapabilities': [{}],
  'NetworkDriver.CreateNetwork': [
    { NetworkID: NET2, Options: { 'com.docker.network.generic': generic, 'com.docker.network.enable_ipv6': false }, IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.96.0.0/24', Gateway: '10.96.0.1/24', AuxAddresses: {} }], IPv6Data: [] },
  ],
  'NetworkDriver.DeleteNetwork': [{ NetworkID: NET }],
  'NetworkDriver.CreateEndpoint': [
    { ...endpoint, Interface: { Address: '10.99.0.9/24', AddressIPv6: '', MacAddress: '02:42:0a:63:00:09' }, Options: { 'com.docker.network.portmap': portmap } },
    { ...endpoint, Interface: { Address: '10.99.0.9/24' }, Options: { 'com.docker.network.endpoint.macaddress': Buffer.from([2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]).toString('base64') } },
  ],
  'NetworkDriver.DeleteEndpoint': [{ NetworkID: NET, EndpointID: EP }],
  'NetworkDriver.EndpointOperInfo': [{ NetworkID: NET, EndpointID: EP }],
  'NetworkDriver.Join': [{ NetworkID: NET, EndpointID: EP, SandboxKey: SANDBOX, Options: { 'com.docker.network.portmap': portmap } }],
  'NetworkDriver.Leave': [{ NetworkID: NET, EndpointID: EP }],
  'NetworkDriver.ProgramExternalConnectivity': [{ NetworkID: NET, EndpointID: EP, Options: { 'com.docker.network.portmap': portmap } }],
  'NetworkDriver.RevokeExternalConnectivity': [{ NetworkID: NET, EndpointID: EP }],
  'NetworkDriver.AllocateNetwork': [{}],
  'NetworkDriver.FreeNetwork': [{}],
  'NetworkDriver.DiscoverNew': [{}],
  'NetworkDriver.DiscoverDelete': [{}],
  'Plugin.Activate': [{}],
  'IpamDriver.GetCapabilities': [{}],
  'IpamDriver.GetDefaultAddressSpaces': [{}],
  'IpamDriver.RequestPool': [{ AddressSpace: 'switchyard-local', Pool: '10.95.0.0/24', SubPool: '', Options: {}, V6: false }],
  'IpamDriver.ReleasePool': [{ PoolID: POOL }],
  'IpamDriver.RequestAddress': [{ PoolID: POOL, Address: '10.97.0.9', Options: { RequestAddressType: 'com.docker.network.gateway' } }],
  'IpamDriver.ReleaseAddress': [{ PoolID: POOL, Address: '10.97.0.1' }],
};
/** Calls that never change anything, whatever they are sent. */
const QUERIES = new Set([
  'NetworkDriver.GetCapabilities',
  'NetworkDriver.EndpointOperInfo',
  'NetworkDriver.ProgramExternalConnectivity',
  'NetworkDriver.RevokeExternalConnectivity',
  'NetworkDriver.AllocateNetwork',
  'NetworkDriver.FreeNetwork',
  'NetworkDriver.DiscoverNew',
  'NetworkDriver.DiscoverDelete',
  'Plugin.Activate',
  'IpamDriver.GetCapabilities',
  'IpamDriver.GetDefaultAddressSpaces',
]);

interface Call {
  socket: 'nat' | 'switchyard';
  httpMethod: string;
  path: string;
  body: RawBody;
  method?: string;
}

const bodyFor = (templates: unknown[]): fc.Arbitrary<RawBody> =>
  fc.oneof(
    { weight: 6, arbitrary: spoiled(templates).map((d) => ({ body: JSON.stringify(d) ?? '', what: 'spoiled message' })) },
    { weight: 2, arbitrary: pollutedJson.map((d) => ({ body: JSON.stringify(d) ?? '', what: 'arbitrary JSON' })) },
    { weight: 2, arbitrary: rawBodies(templates) },
  );

const known: fc.Arbitrary<Call> = fc.oneof(
  ...Object.entries(METHODS).map(([method, templates]) =>
    fc.tuple(bodyFor(templates), fc.constantFrom<Call['socket']>('nat', 'switchyard')).map(([body, socket]): Call => ({
      // Plugin.Activate is on both sockets; the others on their own (a call on the other socket is a 404)
      socket: method.startsWith('IpamDriver.') ? 'switchyard' : method.startsWith('NetworkDriver.') ? 'nat' : socket,
      httpMethod: 'POST',
      path: `/${method}`,
      body,
      method,
    })),
  ),
);

const unknown: fc.Arbitrary<Call> = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(...PROTOTYPE_KEYS),
      fc.constantFrom(...PROTOTYPE_KEYS).map((k) => `NetworkDriver.${k}`),
      fc.constantFrom('NetworkDriver.', 'IpamDriver.RequestPool/x', 'networkdriver.createnetwork', 'NetworkDriver.CreateNetwork?x=1', ''),
      hostileString.map((s) => encodeURIComponent(s)),
    ),
    fc.constantFrom<Call['socket']>('nat', 'switchyard'),
    fc.constantFrom('POST', 'POST', 'GET', 'PUT', 'DELETE'),
  )
  .map(([path, socket, httpMethod]): Call => ({ socket, httpMethod, path: `/${path}`, body: { body: '{}', what: 'empty object' } }));

const misdirected: fc.Arbitrary<Call> = fc.constantFrom(...Object.keys(METHODS).filter((m) => !QUERIES.has(m))).map((m): Call => ({
  socket: m.startsWith('IpamDriver.') ? 'nat' : 'switchyard',
  httpMethod: 'GET',
  path: `/${m}`,
  body: { body: JSON.stringify(METHODS[m]![0]), what: 'GET of a method' },
}));

const call: fc.Arbitrary<Call> = fc.oneof({ weight: 8, arbitrary: known }, { weight: 1, arbitrary: unknown }, { weight: 1, arbitrary: misdirected });

interface Plugins {
  h: TestHost;
  door: DockerFrontDoor;
  dir: string;
  warnings: string[];
}

async function seeded(): Promise<Plugins> {
  const h = await newTestHost();
  h.fake.namespaces.add(SANDBOX);
  const warnings: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-plugins-'));
  const door = new DockerFrontDoor({ svc: h.svc, pluginDir: dir, ipamFile: join(h.dir, 'docker', 'ipam.json'), log: { info: () => undefined, warn: (m) => warnings.push(m) } });
  await door.start();
  const p = { h, door, dir, warnings };
  const ok = async (socket: Call['socket'], method: string, body: unknown) => {
    const res = await post(p, { socket, httpMethod: 'POST', path: `/${method}`, body: { body: JSON.stringify(body), what: 'seed' } });
    assert.equal(res.status, 200);
    assert.ok(!/"Err(or)?":"./.test(res.text), `seed ${method}: ${res.text}`);
  };
  await ok('switchyard', 'IpamDriver.RequestPool', { AddressSpace: 'switchyard-local', Pool: '10.97.0.0/24' });
  await ok('switchyard', 'IpamDriver.RequestAddress', { PoolID: POOL, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  await ok('nat', 'NetworkDriver.CreateNetwork', { NetworkID: NET, Options: {}, IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.99.0.0/24', Gateway: '10.99.0.1/24' }], IPv6Data: [] });
  await ok('nat', 'NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.99.0.2/24' }, Options: {} });
  await ok('nat', 'NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: SANDBOX, Options: { 'com.docker.network.portmap': [portmap[0]] } });
  return p;
}

/** Ends a host: DeleteEndpoint cancels any Join still waiting for a sandbox that a spoiled path named. */
async function teardown(p: Plugins): Promise<void> {
  for (const id of [EP, EP2]) await post(p, { socket: 'nat', httpMethod: 'POST', path: '/NetworkDriver.DeleteEndpoint', body: { body: JSON.stringify({ NetworkID: NET, EndpointID: id }), what: 'teardown' } });
  await p.door.stop();
  p.h.cleanup();
  rmSync(p.dir, { recursive: true, force: true });
}

function post(p: Plugins, c: Call): Promise<{ status: number; text: string }> {
  return requestRaw(join(p.dir, `${c.socket}.sock`), c.httpMethod, c.path, c.body, HANG_MS);
}

let plugins: Plugins | undefined;
after(async () => {
  if (plugins) await teardown(plugins);
});

test(`Docker plugins: ${RUNS} random and malformed calls get the protocol's error and change nothing`, async (t) => {
  plugins = await seeded();
  const seen = { refused: 0, notFound: 0, unchanged: 0, succeeded: 0 };
  await fc.assert(
    fc.asyncProperty(call, async (c) => {
      const p = plugins!;
      const before = snapshot(p.h);
      const what = `${c.httpMethod} ${c.socket}.sock ${c.path.slice(0, 100)} (${c.body.what}) ${String(c.body.body).slice(0, 300)}`;
      const res = await post(p, c);
      const answer = JSON.parse(res.text) as Record<string, unknown>;
      const field = c.path.startsWith('/IpamDriver.') ? 'Error' : 'Err';
      const error = answer[field];
      if (res.status === 404) {
        seen.notFound++;
        assert.ok(!c.method || c.httpMethod !== 'POST', `${what}: a method answered 404`);
        assert.match(String(error), /no method/, `${what}: a 404 says there is no such method`);
        assert.deepEqual(snapshot(p.h), before, `${what}: a 404 changed state`);
        return;
      }
      if (res.status === 400 || res.status === 431) {
        seen.refused++; // Node's HTTP parser refused it (a URL past 16 kB)
        assert.match(String(answer.Err), /^switchyard: .+ \(SY_BAD_REQUEST\)$/, `${what}: an unreadable request says so`);
        assert.deepEqual(snapshot(p.h), before, `${what}: an unreadable request changed state`);
        return;
      }
      assert.equal(res.status, 200, `${what} → HTTP ${res.status} ${res.text.slice(0, 300)}`);
      assert.ok(c.method, `${what}: a path that is no method was answered ${res.text.slice(0, 200)}`);
      if (error !== undefined && error !== '') {
        seen.refused++;
        assert.match(String(error), /^switchyard: .+ \(SY_[A-Z_]+\)$/s, `${what}: the error says what and its code`);
        assert.doesNotMatch(String(error), /\(SY_INTERNAL\)$/, `${what}: an internal error: ${String(error)}`);
        assert.deepEqual(snapshot(p.h), before, `${what} was refused (${String(error).slice(0, 200)}) but changed state`);
      } else if (QUERIES.has(c.method!)) {
        seen.unchanged++;
        assert.deepEqual(snapshot(p.h), before, `${what}: a query changed state`);
      } else if (JSON.stringify(snapshot(p.h)) === JSON.stringify(before)) {
        seen.unchanged++; // an idempotent call on an unknown object, as Docker expects
      } else {
        seen.succeeded++;
        await teardown(p);
        plugins = await seeded();
      }
    }),
    { numRuns: RUNS, includeErrorInReport: true },
  );
  t.diagnostic(`fuzz Docker plugins (in-process, fake data plane): ${RUNS} inputs, ${seen.refused} refused with Err/Error, ${seen.notFound} not a method (404), ${seen.unchanged} answered without change, ${seen.succeeded} valid by chance (state rebuilt)`);
});
