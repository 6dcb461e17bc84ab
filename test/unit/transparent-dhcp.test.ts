/**
 * Transparent networks with DHCP, without root: which Ipams a network may have, what an endpoint
 * request on such a network may ask (refusals change nothing), how a lease shapes the endpoint's
 * veth and document, and when hostd acts on a lease it tracks. The exchange itself and everything
 * around it on a real kernel: test/kernel/transparent-dhcp.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SyError } from '../../src/errors.js';
import { FakeDataPlane } from '../../src/dataplane/fake.js';
import type { Lease } from '../../src/dhcp/lease.js';
import { MIN_RETRY_MS } from '../../src/dhcp/schedule.js';
import { renderEndpoint } from '../../src/hcn/render.js';
import { dhcpHostname, dhcpMac, dnsOfLease, nextAttemptAt } from '../../src/hostd/dhcp-leases.js';
import { checkIpamTypes } from '../../src/hostd/network-request.js';
import { withLease } from '../../src/hostd/endpoint-lease.js';
import { parseRequest } from '../../src/cni/config.js';
import { CniError } from '../../src/cni/errors.js';
import { dhcpNetworkRequest } from '../../src/cni/translate.js';
import { emptyPolicies } from '../../src/model/policies.js';
import type { EndpointRecord, NetworkRecord } from '../../src/model/records.js';
import { emptyState } from '../../src/model/state.js';
import { planHost } from '../../src/plan/host-plan.js';
import { newTestHost, snapshot, type TestHost } from './host-fixture.js';
import { FakeDhcpServer } from './fake-dhcp-server.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { vethName } from '../../src/model/names.js';

const macOf = (hcn: string) => hcn.toLowerCase().replaceAll('-', ':');

const T0 = Date.UTC(2026, 11, 7, 12, 0, 0);
const LEASE: Lease = {
  address: '198.18.0.120',
  prefixLength: 25,
  gateway: '198.18.0.1',
  dnsServers: ['198.18.0.53'],
  domain: 'lab.test',
  serverId: '198.18.0.2',
  leaseSeconds: 600,
  renewAt: T0 + 300_000,
  rebindAt: T0 + 525_000,
  expiresAt: T0 + 600_000,
  mac: '02:44:aa:bb:cc:dd',
  obtainedAt: T0,
};

function refusal(fn: () => unknown): SyError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SyError, String(e));
    return e;
  }
  assert.fail('expected a refusal');
}

async function rejection(p: Promise<unknown>): Promise<SyError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SyError, String(e));
    return e;
  }
  assert.fail('expected a rejection');
}

describe('Ipam Types', () => {
  it('DHCP on Transparent only, alone; Static anywhere; nothing else', () => {
    assert.equal(checkIpamTypes(['DHCP'], 'Transparent'), true);
    assert.equal(checkIpamTypes(['dhcp'], 'Transparent'), true);
    assert.equal(checkIpamTypes(['Static'], 'Transparent'), false);
    assert.equal(checkIpamTypes([], 'NAT'), false);
    for (const mode of ['NAT', 'L2Bridge', 'L2Tunnel'] as const) {
      const e = refusal(() => checkIpamTypes(['DHCP'], mode));
      assert.equal(e.code, 'SY_NOT_SUPPORTED');
      assert.match(e.message, /"DHCP" is for Transparent networks/);
    }
    assert.match(refusal(() => checkIpamTypes(['DHCP', 'Static'], 'Transparent')).message, /"DHCP" or "Static"/);
    assert.match(refusal(() => checkIpamTypes(['Bootp'], 'Transparent')).message, /"Bootp" is not supported; use Static or DHCP/);
    assert.match(refusal(() => checkIpamTypes(['DHCP'], 'L2Bridge')).message, /share the adapter's MAC/);
  });
});

describe('a DHCP network through the host service (fake data plane)', () => {
  it('needs the prefix when the adapter has no address; endpoint requests it cannot lease for change nothing', async () => {
    const fake = new FakeDataPlane();
    fake.uplinks = ['eth1'];
    const h = await newTestHost(fake);
    try {
      const adapter = { Type: 'NetAdapterName', Settings: { NetworkAdapterName: 'eth1' } };
      const noPrefix = await rejection(h.svc.createNetwork({ Name: 'dh', Type: 'Transparent', Policies: [adapter], Ipams: [{ Type: 'DHCP' }] }));
      assert.equal(noPrefix.code, 'SY_BAD_REQUEST');
      assert.match(noPrefix.message, /no IPv4 address to learn the physical network's prefix from: give it in Ipams\[0\]\.Subnets\[0\]\.IpAddressPrefix/);
      const net = await h.svc.createNetwork({ Name: 'dh', Type: 'Transparent', Policies: [adapter], Ipams: [{ Type: 'DHCP', Subnets: [{ IpAddressPrefix: '198.18.0.0/24' }] }] });
      assert.deepEqual(net.Ipams, [{ Type: 'DHCP', Subnets: [{ IpAddressPrefix: '198.18.0.0/24' }] }], 'no router of its own: each lease names one');
      await h.svc.createNamespace({ Path: 'c1' });
      const before = snapshot(h);
      const noNs = await rejection(h.svc.createEndpoint({ Name: 'a', HostComputeNetwork: 'dh' }));
      assert.equal(noNs.code, 'SY_BAD_REQUEST');
      assert.match(noNs.message, /^Network "dh" leases its endpoints' addresses by DHCP, from inside their namespace: give HostComputeNamespace$/);
      const asks = await rejection(h.svc.createEndpoint({ Name: 'a', HostComputeNetwork: 'dh', HostComputeNamespace: 'c1', IpConfigurations: [{ IpAddress: '198.18.0.9' }] }));
      assert.equal(asks.code, 'SY_BAD_REQUEST');
      assert.match(asks.message, /the server chooses the address/);
      assert.deepEqual(snapshot(h), before);
    } finally {
      h.svc.leases.stop();
      h.cleanup();
    }
  });
});

describe('an endpoint with a lease', () => {
  const net: NetworkRecord = {
    id: '11111111-0000-4000-8000-000000000001',
    name: 'dh',
    type: 'Transparent',
    uplink: { name: 'eth1', mac: '02:00:00:00:00:01' },
    subnet: '198.18.0.0/24',
    gateway: '198.18.0.1',
    dns: { search: [], servers: [], options: [] },
    flags: 0,
    policies: [],
    dhcp: true,
    createdAt: '2026-12-07T12:00:00.000Z',
  };
  const ns = { id: '22222222-0000-4000-8000-000000000002', path: '/run/netns/c1', owned: true, createdAt: '2026-12-07T12:00:00.000Z' };
  const ep = (lease: Lease): EndpointRecord => ({
    id: '33333333-0000-4000-8000-000000000003',
    name: 'c1',
    networkId: net.id,
    namespaceId: ns.id,
    ip: lease.address,
    mac: lease.mac,
    ifName: 'eth0',
    portMappings: [],
    policies: emptyPolicies(),
    dhcp: lease,
    createdAt: '2026-12-07T12:00:00.000Z',
  });
  const stateWith = (e: EndpointRecord) => {
    const s = emptyState();
    s.networks.set(net.id, net);
    s.namespaces.set(ns.id, ns);
    s.endpoints.set(e.id, e);
    return s;
  };

  it("takes the lease's prefix and router in its namespace, not the network's", () => {
    const v = planHost(stateWith(ep(LEASE))).veths[0]!;
    assert.equal(v.address, '198.18.0.120/25');
    assert.equal(v.gateway, '198.18.0.1');
    const { gateway: _none, ...noRouter } = LEASE;
    const bare = planHost(stateWith(ep({ ...noRouter, gateway: undefined as unknown as string }))).veths[0]!;
    assert.equal(bare.gateway, undefined, 'a lease without a router gives no default route');
  });

  it('shows the lease in its document: address, prefix, router, server and times', () => {
    const s = stateWith(ep(LEASE));
    const rec = s.endpoints.get(ep(LEASE).id)!;
    const doc = withLease(renderEndpoint(rec, s), rec);
    assert.deepEqual(doc.IpConfigurations, [{ IpAddress: '198.18.0.120', PrefixLength: 25 }]);
    assert.deepEqual(doc.Routes, [{ NextHop: '198.18.0.1', DestinationPrefix: '0.0.0.0/0' }]);
    assert.deepEqual(doc.Dhcp, {
      Server: '198.18.0.2',
      LeaseSeconds: 600,
      ObtainedAt: '2026-12-07T12:00:00.000Z',
      RenewAt: '2026-12-07T12:05:00.000Z',
      RebindAt: '2026-12-07T12:08:45.000Z',
      ExpiresAt: '2026-12-07T12:10:00.000Z',
    });
  });

  it('gets its DNS settings from the lease, and a MAC and host name from itself', () => {
    assert.deepEqual(dnsOfLease(LEASE), { domain: 'lab.test', search: [], servers: ['198.18.0.53'], options: [] });
    assert.equal(dnsOfLease({ ...LEASE, dnsServers: [], domain: undefined as unknown as string }), undefined);
    // a server's domain that a user's Dns.Domain could not be (a space, a comment sign) is left out of resolv.conf
    assert.deepEqual(dnsOfLease({ ...LEASE, domain: 'lab.test #search evil' }), { search: [], servers: ['198.18.0.53'], options: [] });
    assert.equal(dhcpMac('3f2a9c01-0000-4000-8000-000000000003'), '02:44:3f:2a:9c:01');
    assert.equal(dhcpHostname('web-1'), 'web-1');
    assert.equal(dhcpHostname('web_1'), undefined, '"_" is no host name character');
    assert.equal(dhcpHostname('a.b'), undefined);
  });
});

describe('when hostd acts on a lease', () => {
  it('renews at T1; after a failed renewal retries per the schedule; a lost or expired lease every MIN_RETRY_MS', () => {
    assert.equal(nextAttemptAt({ lease: LEASE }), LEASE.renewAt);
    const failedAt = LEASE.renewAt + 1_000;
    const retry = nextAttemptAt({ lease: LEASE, failedAt });
    assert.ok(retry > failedAt && retry <= LEASE.rebindAt, `${retry - failedAt} ms after the failure, not past T2`);
    assert.equal(nextAttemptAt({ lease: LEASE, failedAt, lost: 'NAK' }), failedAt + MIN_RETRY_MS);
    const late = LEASE.expiresAt + 5_000;
    assert.equal(nextAttemptAt({ lease: LEASE, failedAt: late }), late + MIN_RETRY_MS, 'an expired lease is asked for again, not in a loop');
  });
});

describe('DHCP endpoints through the host service (fake data plane, a DHCP server in memory)', () => {
  const adapter = { Type: 'NetAdapterName', Settings: { NetworkAdapterName: 'eth1' } };
  const until = async (what: string, cond: () => boolean) => {
    for (let i = 0; i < 200; i++) {
      if (cond()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.fail(`timed out waiting for ${what}`);
  };

  async function host(server = new FakeDhcpServer(), dir?: string) {
    const fake = new FakeDataPlane();
    fake.uplinks = ['eth1'];
    const h = await newTestHost(fake, dir, { dhcp: server });
    if (!dir) {
      await h.svc.createNetwork({ Name: 'dh', Type: 'Transparent', Policies: [adapter], Ipams: [{ Type: 'DHCP', Subnets: [{ IpAddressPrefix: '198.18.0.0/24' }] }] });
      await h.svc.createNamespace({ Path: 'c1' });
    }
    return { h, server };
  }
  const create = (h: TestHost, name = 'c1') => h.svc.createEndpoint({ Name: name, HostComputeNetwork: 'dh', HostComputeNamespace: name });

  it('create stores and returns the lease; the veth gets its address, prefix and router; delete releases it before the veth goes', async () => {
    const { h, server } = await host();
    try {
      const doc = await create(h);
      assert.deepEqual(doc.IpConfigurations, [{ IpAddress: '198.18.0.100', PrefixLength: 24 }]);
      assert.deepEqual(doc.Routes, [{ NextHop: '198.18.0.1', DestinationPrefix: '0.0.0.0/0' }]);
      assert.deepEqual(doc.Dns.ServerList, ['198.18.0.53']);
      assert.equal(doc.Dhcp?.Server, '198.18.0.2');
      assert.match(doc.MacAddress, /^02-44-/);
      assert.equal(server.portsMade, 1);
      assert.equal(server.portsUp.size, 0, 'the lease port is gone when the request ends');
      assert.equal(server.acquires[0]!.hostname, 'c1');
      assert.match(h.fake.dump(), /198\.18\.0\.100\/24/);
      const stored = JSON.parse(readFileSync(join(h.dir, 'endpoints', `${doc.ID}.json`), 'utf8')) as { record: { dhcp: Lease } };
      assert.equal(stored.record.dhcp.address, '198.18.0.100');
      let dumpAtRelease = '';
      server.onRelease = () => (dumpAtRelease = h.fake.dump());
      await h.svc.deleteEndpoint(doc.ID);
      assert.deepEqual(server.released, [{ mac: macOf(doc.MacAddress), address: '198.18.0.100', portAddressed: false }]);
      assert.match(dumpAtRelease, new RegExp(vethName(doc.ID)), 'the release went out while the endpoint still had its veth');
      assert.doesNotMatch(h.fake.dump(), new RegExp(vethName(doc.ID)));
    } finally {
      h.svc.leases.stop();
      h.cleanup();
    }
  });

  it('no answer: SY_TIMEOUT and nothing changed; a lease outside the network is released and refused', async () => {
    const { h, server } = await host();
    try {
      const before = snapshot(h);
      server.answer = false;
      const e = await rejection(create(h));
      assert.equal(e.code, 'SY_TIMEOUT');
      assert.match(e.message, /^No DHCP server answered for MAC 02:44:[0-9a-f:]{11} within 6 s/);
      assert.deepEqual(snapshot(h), before);
      server.answer = true;
      const outside = new FakeDhcpServer('10.9.9');
      const { h: h2 } = await host(outside);
      try {
        const before2 = snapshot(h2);
        const e2 = await rejection(create(h2));
        assert.equal(e2.code, 'SY_INVALID_ADDRESS');
        assert.match(e2.message, /leased 10\.9\.9\.100\/24, outside subnet 198\.18\.0\.0\/24 of network "dh"; the lease was released/);
        assert.deepEqual(outside.released.map((r) => [r.address, r.portAddressed]), [['10.9.9.100', true]], 'released from the lease port, with the address on it');
        assert.deepEqual(snapshot(h2), before2);
        assert.equal(outside.portsUp.size, 0);
      } finally {
        h2.svc.leases.stop();
        h2.cleanup();
      }
    } finally {
      h.svc.leases.stop();
      h.cleanup();
    }
  });

  it('renews on schedule and stores the renewed lease; a NAK turns Health to Error (State Degraded) with the reason the server gave', async () => {
    const server = new FakeDhcpServer();
    server.renewInMs = 20;
    const { h } = await host(server);
    try {
      const doc = await create(h);
      const obtained = () => h.svc.state.endpoints.get(doc.ID)!.dhcp!.obtainedAt;
      const first = obtained();
      await until('a renewal stored', () => obtained() > first && server.renewals > 0);
      const file = JSON.parse(readFileSync(join(h.dir, 'endpoints', `${doc.ID}.json`), 'utf8')) as { record: { dhcp: Lease } };
      assert.ok(file.record.dhcp.obtainedAt > first, 'the store holds the renewed lease');
      server.nak = true;
      await until('the NAK in Health', () => h.svc.leases.problem(doc.ID) !== undefined);
      const sick = h.svc.endpointDoc(h.svc.findEndpoint(doc.ID));
      assert.equal(sick.Health.Status, 'Error');
      assert.match((sick.Health as { Reason: string }).Reason, /^DHCP server refused the lease of 198\.18\.0\.100 \(.*NAK: wrong address\)\); the address is not leased any more$/);
      assert.equal(sick.State, 'Degraded');
    } finally {
      h.svc.leases.stop();
      h.cleanup();
    }
  });

  it('after a restart a stored lease that expired is asked for again (the same address requested)', async () => {
    const { h, server } = await host();
    const doc = await create(h);
    h.svc.leases.stop();
    // hostd away past the lease's end: the stored lease, aged.
    const file = join(h.dir, 'endpoints', `${doc.ID}.json`);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { record: { dhcp: Lease } };
    const past = Date.now() - 1_000;
    Object.assign(stored.record.dhcp, { renewAt: past - 2_000, rebindAt: past - 1_000, expiresAt: past });
    writeFileSync(file, JSON.stringify(stored));
    const fake = new FakeDataPlane();
    fake.uplinks = ['eth1'];
    const again = await newTestHost(fake, h.dir, { dhcp: server });
    try {
      await until('the lease asked for again', () => server.acquires.length === 2);
      assert.equal(server.acquires[1]!.requestedAddress, '198.18.0.100');
      await until('the new lease stored', () => again.svc.state.endpoints.get(doc.ID)!.dhcp!.expiresAt > Date.now());
      assert.equal(again.svc.endpointDoc(again.svc.findEndpoint(doc.ID)).Health.Status, 'Ready');
    } finally {
      again.svc.leases.stop();
      h.cleanup();
    }
  });
});

describe('CNI ipam type dhcp (mode transparent)', () => {
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
  const dhcp = { cniVersion: '1.1.0', name: 'lan', type: 'switchyard', mode: 'transparent', master: 'eth1', ipam: { type: 'dhcp' } };
  const refused = (o: Record<string, unknown>, code: number, msg: RegExp) =>
    assert.throws(() => request(o), (e: unknown) => e instanceof CniError && e.code === code && msg.test(e.message));
  const request = (o: Record<string, unknown>) => dhcpNetworkRequest(parseRequest(env, JSON.stringify({ ...dhcp, ...o })).conf);

  it('makes a Transparent network whose Ipam is DHCP, with the subnet when the config names one', () => {
    assert.deepEqual(request({}).Ipams, [{ Type: 'DHCP' }]);
    assert.equal(request({}).Type, 'Transparent');
    assert.deepEqual(request({ subnet: '10.0.0.0/24' }).Ipams, [{ Type: 'DHCP', Subnets: [{ IpAddressPrefix: '10.0.0.0/24' }] }]);
    // any other ipam section is left alone, as before
    assert.equal((request({ ipam: { type: 'host-local' }, subnet: '10.0.0.0/24' }).Ipams as { Type: string }[])[0]!.Type, 'Static');
  });

  it('refuses dhcp in other modes (code 2), with a gateway, and an ipam that is no object', () => {
    refused({ mode: 'l2bridge' }, 2, /ipam type "dhcp" is for mode transparent/);
    refused({ gateway: '10.0.0.1' }, 7, /each lease names its router/);
    refused({ ipam: 'dhcp' }, 7, /ipam is not an object/);
  });
});
