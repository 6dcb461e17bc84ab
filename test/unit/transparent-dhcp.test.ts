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
import { emptyPolicies } from '../../src/model/policies.js';
import type { EndpointRecord, NetworkRecord } from '../../src/model/records.js';
import { emptyState } from '../../src/model/state.js';
import { planHost } from '../../src/plan/host-plan.js';
import { newTestHost, snapshot } from './host-fixture.js';

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
    const doc = renderEndpoint(s.endpoints.get(ep(LEASE).id)!, s);
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
