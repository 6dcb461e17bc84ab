/**
 * Network-level settings: NetAdapterName (the one way out of a NAT network), MacPool (where endpoint
 * MACs come from) and the Internal flag (no port mappings there), parsed, checked against the host,
 * and refused clearly when wrong, without a trace in the store or the (fake) kernel.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SyError } from '../../src/errors.js';
import { freeMacInPool, parseMacPool, parseNetworkPolicies } from '../../src/model/network-settings.js';
import { newTestHost, snapshot } from './host-fixture.js';

const code = (c: string, m?: RegExp) => (e: unknown) => e instanceof SyError && e.code === c && (!m || m.test(e.message));
const adapter = (name: unknown) => [{ Type: 'NetAdapterName', Settings: { NetworkAdapterName: name } }];
const net = (o: Record<string, unknown>) => ({ Name: 'n', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.30.0.0/24' }] }], ...o });

describe('network settings', () => {
  it('parses NetAdapterName and refuses what is not an interface name or not a way out', () => {
    assert.deepEqual(parseNetworkPolicies(adapter('eth1')), { stored: [{ Type: 'NetAdapterName', Settings: { NetworkAdapterName: 'eth1' } }], adapter: 'eth1' });
    assert.deepEqual(parseNetworkPolicies([]), { stored: [] });
    assert.throws(() => parseNetworkPolicies(adapter('eth0"; drop')), code('SY_INVALID_POLICY'));
    assert.throws(() => parseNetworkPolicies(adapter('a-very-long-interface')), code('SY_INVALID_POLICY'));
    assert.throws(() => parseNetworkPolicies(adapter(7)), code('SY_INVALID_POLICY'));
    assert.throws(() => parseNetworkPolicies(adapter('sy-br-12345678')), code('SY_INVALID_POLICY', /Switchyard's own/));
    assert.throws(() => parseNetworkPolicies([...adapter('eth0'), ...adapter('eth1')]), code('SY_BAD_REQUEST', /one NetAdapterName/));
    assert.throws(() => parseNetworkPolicies([{ Type: 'VxlanPort', Settings: {} }]), code('SY_NOT_SUPPORTED', /VxlanPort/));
  });

  it('parses MacPool ranges, hands out the first free MAC, and refuses bad ranges', () => {
    const pool = parseMacPool({ Ranges: [{ StartMacAddress: '00-15-5D-52-C0-00', EndMacAddress: '00-15-5D-52-C0-01' }, { StartMacAddress: '02:aa:00:00:00:ff', EndMacAddress: '02:aa:00:00:01:00' }] })!;
    assert.deepEqual(pool, [{ start: '00:15:5d:52:c0:00', end: '00:15:5d:52:c0:01' }, { start: '02:aa:00:00:00:ff', end: '02:aa:00:00:01:00' }]);
    assert.equal(freeMacInPool(pool, new Set()), '00:15:5d:52:c0:00');
    assert.equal(freeMacInPool(pool, new Set(['00:15:5d:52:c0:00', '00:15:5d:52:c0:01'])), '02:aa:00:00:00:ff');
    assert.equal(freeMacInPool(pool, new Set(['00:15:5d:52:c0:00', '00:15:5d:52:c0:01', '02:aa:00:00:00:ff'])), '02:aa:00:00:01:00');
    assert.equal(freeMacInPool(pool, new Set(['00:15:5d:52:c0:00', '00:15:5d:52:c0:01', '02:aa:00:00:00:ff', '02:aa:00:00:01:00'])), undefined);
    assert.equal(parseMacPool(undefined), undefined);
    assert.equal(parseMacPool({}), undefined);
    const range = (a: string, b: string) => ({ Ranges: [{ StartMacAddress: a, EndMacAddress: b }] });
    assert.throws(() => parseMacPool(range('00-15-5D-52-C0-09', '00-15-5D-52-C0-00')), code('SY_BAD_REQUEST', /comes after/));
    assert.throws(() => parseMacPool(range('01-00-00-00-00-00', '01-00-00-00-00-05')), code('SY_BAD_REQUEST', /multicast/));
    assert.throws(() => parseMacPool(range('00-00-00-00-00-00', '02-00-00-00-00-00')), code('SY_BAD_REQUEST', /first octet/));
    assert.throws(() => parseMacPool(range('00-15-5D', '00-15-5D-52-C0-00')), code('SY_BAD_REQUEST', /not a MAC/));
    assert.throws(() => parseMacPool({ Ranges: [{ StartMacAddress: '00-15-5D-52-C0-00' }] }), code('SY_BAD_REQUEST', /EndMacAddress/));
    assert.throws(() => parseMacPool({ Ranges: [range('02-00-00-00-00-00', '02-00-00-00-00-10').Ranges[0]!, range('02-00-00-00-00-05', '02-00-00-00-00-06').Ranges[0]!] }), code('SY_BAD_REQUEST', /overlaps/));
  });

  it('the host service honours them and refuses what does not fit the host, changing nothing', async () => {
    const h = await newTestHost();
    try {
      const doc = await h.svc.createNetwork(net({ Name: 'pooled', Policies: adapter('eth0'), MacPool: { Ranges: [{ StartMacAddress: '00-15-5D-00-00-00', EndMacAddress: '00-15-5D-00-00-01' }] } }));
      assert.deepEqual(doc.Policies, adapter('eth0'));
      assert.deepEqual(doc.MacPool, { Ranges: [{ StartMacAddress: '00-15-5D-00-00-00', EndMacAddress: '00-15-5D-00-00-01' }] });
      const a = await h.svc.createEndpoint({ Name: 'a', HostComputeNetwork: 'pooled' });
      const b = await h.svc.createEndpoint({ Name: 'b', HostComputeNetwork: 'pooled', MacAddress: '02-00-00-00-00-01' });
      const c = await h.svc.createEndpoint({ Name: 'c', HostComputeNetwork: 'pooled' });
      assert.deepEqual([a.MacAddress, b.MacAddress, c.MacAddress], ['00-15-5D-00-00-00', '02-00-00-00-00-01', '00-15-5D-00-00-01']);
      let before = snapshot(h);
      await assert.rejects(h.svc.createEndpoint({ Name: 'd', HostComputeNetwork: 'pooled' }), code('SY_MAC_POOL_FULL', /"pooled"/));
      assert.deepEqual(snapshot(h), before);
      await h.svc.deleteEndpoint('a');
      assert.equal((await h.svc.createEndpoint({ Name: 'e', HostComputeNetwork: 'pooled' })).MacAddress, '00-15-5D-00-00-00', 'a freed MAC is handed out again');
      before = snapshot(h);
      await assert.rejects(h.svc.createNetwork(net({ Name: 'x', Ipams: [], Policies: adapter('eth7') })), code('SY_BAD_REQUEST', /"eth7" is not an interface of this host/));
      await assert.rejects(h.svc.createNetwork(net({ Name: 'y', Ipams: [], Internal: true, Policies: adapter('eth0') })), code('SY_BAD_REQUEST', /internal network/));
      assert.deepEqual(snapshot(h), before);
      const inner = await h.svc.createNetwork(net({ Name: 'inner', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.31.0.0/24' }] }], Internal: true }));
      assert.equal(inner.Internal, true);
      before = snapshot(h);
      const pm = { Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 80, ExternalPort: 8080 } };
      await assert.rejects(h.svc.createEndpoint({ Name: 'p', HostComputeNetwork: 'inner', Policies: [pm] }), code('SY_NOT_SUPPORTED', /"inner" is internal/));
      assert.deepEqual(snapshot(h), before);
    } finally {
      h.cleanup();
    }
  });
});
