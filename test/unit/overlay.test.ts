/**
 * Overlay networks without root: the planner's parts (kept in a golden with the fake data plane's
 * dump of a host with two tenants), the remote entries a create, a move and a removal change (only
 * the endpoint's own), the refusals that change nothing, the resync that puts back entries removed
 * behind hostd's back, and teardown back to the empty host.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SyError, type ErrorCode } from '../../src/errors.js';
import { planNetworkParts } from '../../src/plan/host-plan.js';
import { entriesChange, entryText, type RemoteEntry } from '../../src/plan/remote-entries.js';
import { expectGolden } from './golden.js';
import { newTestHost, snapshot, type TestHost } from './host-fixture.js';

const NET_A = '0a0a0a0a-0000-4000-8000-00000000000a';
const NET_B = '0b0b0b0b-0000-4000-8000-00000000000b';
const PA = '192.0.2.1';

const overlay = (id: string, name: string, vsid: number, subnets = ['10.1.0.0/24'], extra: Record<string, unknown> = {}) => ({
  ID: id,
  Name: name,
  Type: 'Overlay',
  Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: PA } }],
  Ipams: [{ Type: 'Static', Subnets: subnets.map((s) => ({ IpAddressPrefix: s, Policies: [{ Type: 'VSID', Settings: { IsolationId: vsid } }] })) }],
  ...extra,
});
const remote = (name: string, net: string, ip: string, mac: string, pa: string, extra: Record<string, unknown> = {}) => ({
  Name: name,
  HostComputeNetwork: net,
  Flags: 1,
  IpConfigurations: [{ IpAddress: ip }],
  MacAddress: mac,
  Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: pa } }],
  ...extra,
});
const entries = (h: TestHost) => [...h.fake.remotes.values()].map(entryText).sort();

describe('overlay networks over the fake data plane', () => {
  let h: TestHost;
  before(async () => {
    h = await newTestHost();
    await h.svc.createNetwork(overlay(NET_A, 'tenA', 4096, ['10.1.0.0/24', '10.1.1.0/24'], { Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: PA } }, { Type: 'VxlanPort', Settings: { Port: 4790 } }] }));
    await h.svc.createNetwork(overlay(NET_B, 'tenB', 5000));
    await h.svc.createNamespace({ Path: '/run/netns/a1' });
    await h.svc.createEndpoint({ ID: '0d0d0d0d-0000-4000-8000-00000000000d', Name: 'a1', HostComputeNetwork: 'tenA', HostComputeNamespace: '/run/netns/a1', IpConfigurations: [{ IpAddress: '10.1.1.11' }], Policies: [{ Type: 'OutBoundNAT', Settings: { Exceptions: ['192.168.0.0/16'] } }] });
    // a0 and b0 share a CA (allowed: neither has ACLs nor OutBoundNAT)
    await h.svc.createEndpoint({ ID: '0e0e0e0e-0000-4000-8000-00000000000e', Name: 'a0', HostComputeNetwork: 'tenA', IpConfigurations: [{ IpAddress: '10.1.0.11' }] });
    await h.svc.createEndpoint({ ID: '0f0f0f0f-0000-4000-8000-00000000000f', Name: 'b0', HostComputeNetwork: 'tenB', IpConfigurations: [{ IpAddress: '10.1.0.11' }] });
    await h.svc.createEndpoint(remote('r-a2', 'tenA', '10.1.0.12', '02:00:00:00:00:12', '192.0.2.12'));
    await h.svc.createEndpoint(remote('r-b2', 'tenB', '10.1.0.12', '02:00:00:00:00:12', '192.0.2.12'));
  });
  after(() => h?.cleanup());

  it('plans a bridge with every gateway, its VXLAN port and its own routing table', () => {
    const parts = planNetworkParts(h.svc.findNetwork('tenA'));
    assert.deepEqual(parts.bridge, {
      name: 'sy-ov-0a0a0a0a',
      networkId: NET_A,
      mac: '02:53:44:52:4d:43',
      mtu: 1450,
      overlay: { vxlans: [{ vni: 4096, name: 'sy-vx-0a0a0a0a' }], local: PA, port: 4790, table: 0x53001000, addresses: ['10.1.0.1/24', '10.1.1.1/24'], subnets: ['10.1.0.0/24', '10.1.1.0/24'] },
    });
    const a1 = h.svc.endpointDoc(h.svc.findEndpoint('a1'));
    assert.equal(a1.Routes[0]!.NextHop, '10.1.1.1', 'the gateway of its own subnet');
    assert.equal(a1.Mtu, 1450, 'underlay less the VXLAN overhead');
  });

  it('trace says which PA and VNI a packet to a remote endpoint goes to, and what never leaves', async () => {
    const t = (RemoteAddress: string, Protocol = 'TCP') => h.svc.trace({ Endpoint: 'a1', Direction: 'Out', Protocol, RemoteAddress, RemotePort: 80 });
    const remote = await t('10.1.0.12');
    assert.equal(remote.Verdict, 'Allow');
    assert.match(remote.Path.join(' | '), /routed by the distributed gateway 10\.1\.1\.1 .* r-a2 .* VXLAN VNI 4096: UDP 192\.0\.2\.1 → 192\.0\.2\.12:4790/);
    const nobody = await t('10.1.0.99');
    assert.equal(nobody.Verdict, 'Block');
    assert.match(nobody.DecidedBy.Reason, /nothing is flooded/);
    const world = await t('198.18.0.1');
    assert.equal(world.Verdict, 'Allow');
    assert.match(world.Nat.join(), /masquerade/);
    assert.equal((await t('192.168.1.1')).Verdict, 'Block', 'an OutBoundNAT exception would leave untranslated: it does not leave');
    assert.equal((await t('10.1.1.1')).Verdict, 'Block', 'no TCP to the host');
    assert.equal((await t('10.1.1.1', 'ICMP')).Verdict, 'Allow', 'ping of the gateway');
  });

  it('holds the data plane of two tenants sharing a CA subnet (golden)', () => {
    expectGolden('fake-dataplane-overlay.txt', h.fake.dump());
  });

  it('moves one remote endpoint by replacing its FDB entry alone, and removes only its entries', async () => {
    const before = entries(h);
    assert.equal(before.length, 6);
    await h.svc.modifyEndpoint('r-a2', { ResourceType: 'Policy', RequestType: 'Update', Settings: { Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: '192.0.2.13' } }] } });
    const moved = entries(h);
    assert.deepEqual(moved.filter((e) => !before.includes(e)), ['fdb sy-vx-0a0a0a0a 02:00:00:00:00:12 dst 192.0.2.13']);
    assert.deepEqual(before.filter((e) => !moved.includes(e)), ['fdb sy-vx-0a0a0a0a 02:00:00:00:00:12 dst 192.0.2.12']);
    await h.svc.deleteEndpoint('r-a2');
    assert.deepEqual(entries(h), before.filter((e) => e.includes('0b0b0b0b')), 'tenant B\'s entries are untouched');
    await h.svc.createEndpoint(remote('r-a2', 'tenA', '10.1.0.12', '02:00:00:00:00:12', '192.0.2.12'));
    assert.deepEqual(entries(h), before);
  });

  const refusals: [string, ErrorCode, () => Promise<unknown>][] = [
    ['VSID 4095', 'SY_INVALID_POLICY', () => h.svc.createNetwork(overlay('0c0c0c0c-0000-4000-8000-00000000000c', 'x', 4095))],
    ['VSID 16777215', 'SY_INVALID_POLICY', () => h.svc.createNetwork(overlay('0c0c0c0c-0000-4000-8000-00000000000c', 'x', 16777215))],
    ['a VSID another network has', 'SY_IN_USE', () => h.svc.createNetwork(overlay('0c0c0c0c-0000-4000-8000-00000000000c', 'x', 5000, ['10.9.0.0/24']))],
    ['a PA that is not the host\'s', 'SY_BAD_REQUEST', () => h.svc.createNetwork({ ...overlay('0c0c0c0c-0000-4000-8000-00000000000c', 'x', 6000), Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: '192.0.2.77' } }] })],
    ['a second subnet whose VSID another network has', 'SY_IN_USE', () => h.svc.createNetwork({ ...overlay('0c0c0c0c-0000-4000-8000-00000000000c', 'x', 6000), Ipams: [{ Subnets: [{ IpAddressPrefix: '10.5.0.0/24', Policies: [{ Type: 'VSID', Settings: { IsolationId: 6000 } }] }, { IpAddressPrefix: '10.6.0.0/24', Policies: [{ Type: 'VSID', Settings: { IsolationId: 5000 } }] }] }] })],
    ['overlapping subnets in one network', 'SY_SUBNET_OVERLAP', () => h.svc.createNetwork(overlay('0c0c0c0c-0000-4000-8000-00000000000c', 'x', 6000, ['10.5.0.0/16', '10.5.1.0/24']))],
    ['a remote endpoint whose PA is this host\'s', 'SY_BAD_REQUEST', () => h.svc.createEndpoint(remote('x', 'tenA', '10.1.0.50', '02:00:00:00:00:50', PA))],
    ['a remote endpoint without a PA', 'SY_BAD_REQUEST', () => h.svc.createEndpoint({ ...remote('x', 'tenA', '10.1.0.50', '02:00:00:00:00:50', PA), Policies: [] })],
    ['a duplicate CA in one VSID', 'SY_ADDRESS_IN_USE', () => h.svc.createEndpoint(remote('x', 'tenA', '10.1.0.12', '02:00:00:00:00:50', '192.0.2.12'))],
    ['a duplicate MAC in one VSID', 'SY_ADDRESS_IN_USE', () => h.svc.createEndpoint(remote('x', 'tenA', '10.1.0.50', '02:00:00:00:00:12', '192.0.2.12'))],
    ['the DR MAC', 'SY_ADDRESS_IN_USE', () => h.svc.createEndpoint(remote('x', 'tenA', '10.1.0.50', '02:53:44:52:4d:43', '192.0.2.12'))],
    ['an ACL on a remote overlay endpoint', 'SY_NOT_SUPPORTED', () => h.svc.createEndpoint(remote('x', 'tenA', '10.1.0.50', '02:00:00:00:00:50', '192.0.2.12', { Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: '192.0.2.12' } }, { Type: 'ACL', Settings: { Action: 'Block', Direction: 'In', Priority: 100 } }] }))],
    ['a local endpoint with another host\'s PA', 'SY_BAD_REQUEST', () => h.svc.createEndpoint({ Name: 'x', HostComputeNetwork: 'tenA', Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: '192.0.2.12' } }] })],
    ['OutBoundNAT on an endpoint whose CA another tenant\'s endpoint has here', 'SY_NOT_SUPPORTED', () => h.svc.modifyEndpoint('b0', { ResourceType: 'Policy', RequestType: 'Add', Settings: { Policies: [{ Type: 'OutBoundNAT', Settings: {} }] } })],
    ['a NetworkACL on a network whose endpoint shares its CA with another tenant\'s', 'SY_NOT_SUPPORTED', () => h.svc.modifyNetwork('tenB', { ResourceType: 'Policy', RequestType: 'Add', Settings: { Policies: [{ Type: 'NetworkACL', Settings: { Id: 'x', Action: 'Block', Direction: 'In', Priority: 100 } }] } })],
    ['moving a remote endpoint to this host\'s PA', 'SY_BAD_REQUEST', () => h.svc.modifyEndpoint('r-a2', { ResourceType: 'Policy', RequestType: 'Update', Settings: { Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: PA } }] } })],
  ];
  for (const [what, code, send] of refusals) {
    it(`refuses ${what} with ${code}, changing nothing`, async () => {
      const was = snapshot(h);
      await assert.rejects(send(), (e) => e instanceof SyError && e.code === code);
      assert.deepEqual(snapshot(h), was);
    });
  }

  it('refuses a remote endpoint and a ProviderAddress on a NAT network', async () => {
    await h.svc.createNetwork({ Name: 'nat', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.18.0.0/24' }] }] });
    const was = snapshot(h);
    await assert.rejects(h.svc.createEndpoint(remote('x', 'nat', '172.18.0.9', '02:00:00:00:00:50', '192.0.2.12')), (e) => e instanceof SyError && e.code === 'SY_NOT_SUPPORTED');
    await assert.rejects(h.svc.createEndpoint({ Name: 'x', HostComputeNetwork: 'nat', Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: PA } }] }), (e) => e instanceof SyError && e.code === 'SY_NOT_SUPPORTED');
    assert.deepEqual(snapshot(h), was);
    await h.svc.deleteNetwork('nat');
  });

  it('a resync puts back entries removed behind its back, and removes entries it does not want', async () => {
    const want = entries(h);
    h.fake.remotes.delete('neigh sy-ov-0a0a0a0a 10.1.0.12');
    const stray: RemoteEntry = { kind: 'fdb', dev: 'sy-vx-0a0a0a0a', mac: '02:00:00:00:00:99', dst: '192.0.2.99' };
    h.fake.remotes.set('fdb sy-vx-0a0a0a0a 02:00:00:00:00:99', stray);
    await h.svc.resync();
    assert.deepEqual(entries(h), want);
  });

  it('removing the networks leaves the empty host (host-wide sysctls stay, as ip_forward does)', async () => {
    await h.svc.deleteNetwork('tenA');
    await h.svc.deleteNetwork('tenB');
    await h.svc.deleteNamespace('/run/netns/a1');
    expectGolden('fake-dataplane-overlay-empty.txt', h.fake.dump());
  });
});

describe('remote entries: what changes', () => {
  const fdb = (mac: string, dst: string): RemoteEntry => ({ kind: 'fdb', dev: 'sy-vx-1', mac, dst });
  it('a move replaces in place and removes nothing; a stray entry is removed', () => {
    const c = entriesChange([fdb('02:00:00:00:00:01', '10.0.0.12'), fdb('02:00:00:00:00:02', '10.0.0.12')], [fdb('02:00:00:00:00:01', '10.0.0.13')]);
    assert.deepEqual(c, { remove: [fdb('02:00:00:00:00:02', '10.0.0.12')], write: [fdb('02:00:00:00:00:01', '10.0.0.13')] });
  });
});

describe('subnets with VSIDs of their own', () => {
  it('get a VXLAN port each on the one bridge, and a remote endpoint\'s entries go on its subnet\'s', async () => {
    const h = await newTestHost();
    try {
      await h.svc.createNetwork({ ...overlay(NET_A, 'two', 4096), Ipams: [{ Subnets: [4096, 4097].map((vsid, i) => ({ IpAddressPrefix: `10.1.${i}.0/24`, Policies: [{ Type: 'VSID', Settings: { IsolationId: vsid } }] })) }] });
      assert.deepEqual(planNetworkParts(h.svc.findNetwork('two')).bridge.overlay?.vxlans, [{ vni: 4096, name: 'sy-vx-0a0a0a0a' }, { vni: 4097, name: 'sy-vx-0a0a0a0a1' }]);
      await h.svc.createEndpoint(remote('r0', 'two', '10.1.0.7', '02:00:00:00:00:07', '192.0.2.12'));
      await h.svc.createEndpoint(remote('r1', 'two', '10.1.1.7', '02:00:00:00:01:07', '192.0.2.12'));
      assert.deepEqual(entries(h).filter((e) => e.startsWith('fdb')), ['fdb sy-vx-0a0a0a0a 02:00:00:00:00:07 dst 192.0.2.12', 'fdb sy-vx-0a0a0a0a1 02:00:00:00:01:07 dst 192.0.2.12']);
      const t = await h.svc.trace({ Endpoint: (await h.svc.createEndpoint({ Name: 'l', HostComputeNetwork: 'two', IpConfigurations: [{ IpAddress: '10.1.0.5' }] })).ID, Direction: 'Out', Protocol: 'TCP', RemoteAddress: '10.1.1.7', RemotePort: 80 });
      assert.match(t.Path.join(' | '), /VXLAN VNI 4097/);
      await h.svc.deleteNetwork('two');
      assert.deepEqual([...h.fake.links.keys()], []);
    } finally {
      h.cleanup();
    }
  });
});

describe('the underlay MTU', () => {
  it('is read from the link holding the provider address, unless the network gives its MTU', async () => {
    const h = await newTestHost();
    try {
      h.fake.uplinkMtu = 9000;
      await h.svc.createNetwork(overlay(NET_A, 'jumbo', 4096));
      await h.svc.createNetwork({ ...overlay(NET_B, 'small', 5000), MTU: 1400 });
      const mtu = async (net: string, name: string) => (await h.svc.createEndpoint({ Name: name, HostComputeNetwork: net })).Mtu;
      assert.equal(await mtu('jumbo', 'j'), 8950);
      assert.equal(await mtu('small', 's'), 1350);
      assert.equal(planNetworkParts(h.svc.findNetwork('jumbo')).bridge.mtu, 8950, 'the bridge and its VXLAN port too');
    } finally {
      h.cleanup();
    }
  });
});
