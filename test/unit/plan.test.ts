/**
 * The plan of a whole host, kept in golden files: two NAT networks and an internal one, two namespaces
 * hostd creates, and an endpoint publishing every kind of port mapping. Then everything is removed through the service,
 * and the data plane must be back to the "all removed" golden: teardown is the exact inverse of setup.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { planHost } from '../../src/plan/host-plan.js';
import { renderTable } from '../../src/plan/nft-table.js';
import { expectGolden } from './golden.js';
import { newTestHost, storeFiles, type TestHost } from './host-fixture.js';
import { buildFullHost, EP_CLI, EP_DB, NET_INT, NET_TWO, NS_CLI } from './full-host.js';

let h: TestHost;

before(async () => {
  h = await newTestHost();
  await buildFullHost(h);
});

after(() => h?.cleanup());

test('the data plane of the full host matches its golden', () => {
  assert.deepEqual(h.warnings, []);
  expectGolden('fake-dataplane-full.txt', h.fake.dump());
});

test('the nft table of the full host matches its golden', () => {
  const table = planHost(h.svc.state).nft;
  expectGolden('nft-full.nft', renderTable(table));
  // The fake holds exactly the planned table: nothing was lost on the way to the data plane.
  assert.deepEqual(h.fake.nft, table);
});

test('the ephemeral host port is chosen from the ephemeral range', () => {
  const ephemeral = h.svc.findEndpoint('web').portMappings.filter((m) => m.ephemeral);
  assert.equal(ephemeral.length, 1);
  assert.ok(ephemeral[0]!.externalPort >= 49152 && ephemeral[0]!.externalPort <= 65535, `port ${ephemeral[0]!.externalPort}`);
});

test('removing every endpoint, namespace and network leaves nothing behind', async () => {
  await h.svc.deleteEndpoint('web');
  await h.svc.deleteEndpoint(EP_CLI);
  await h.svc.deleteEndpoint(EP_DB);
  await h.svc.deleteNamespace('/run/netns/web');
  await h.svc.deleteNamespace(NS_CLI);
  await h.svc.deleteNetwork('MyNatNetwork');
  await h.svc.deleteNetwork(NET_TWO);
  await h.svc.deleteNetwork(NET_INT);
  assert.deepEqual(h.warnings, []);
  expectGolden('fake-dataplane-empty.txt', h.fake.dump());
  assert.equal(h.fake.links.size, 0);
  assert.equal(h.fake.namespaces.size, 0);
  assert.equal(h.fake.files.size, 0);
  assert.equal(h.fake.nft, null);
  assert.deepEqual(
    storeFiles(h.dir).filter(([p]) => p.endsWith('.json')),
    [],
  );
});

test('teardown leaves no sysctl of a deleted bridge', () => {
  const left = [...h.fake.sysctls.keys()].filter((k) => k.startsWith('net/ipv4/conf/'));
  assert.deepEqual(left, []);
});

test('an adopted namespace keeps existing, and its resolv.conf goes with the endpoint', async () => {
  const a = await newTestHost();
  try {
    a.fake.namespaces.add('/run/netns/adopted');
    await a.svc.createNetwork({ Name: 'dns-net', Type: 'NAT', Dns: { ServerList: ['192.0.2.53'] }, Ipams: [{ Subnets: [{ IpAddressPrefix: '172.20.0.0/24' }] }] });
    const ns = await a.svc.createNamespace({ Path: '/run/netns/adopted' });
    assert.equal(ns.Owned, false);
    await a.svc.createEndpoint({ Name: 'ep', HostComputeNetwork: 'dns-net', HostComputeNamespace: ns.ID });
    assert.ok(a.fake.files.has('/etc/netns/adopted/resolv.conf'));
    await a.svc.deleteEndpoint('ep');
    await a.svc.deleteNamespace(ns.ID);
    await a.svc.deleteNetwork('dns-net');
    assert.deepEqual([...a.fake.namespaces], ['/run/netns/adopted'], 'a namespace hostd did not create is never removed');
    assert.deepEqual([...a.fake.files.keys()], []);
  } finally {
    a.cleanup();
  }
});
