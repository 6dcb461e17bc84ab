/**
 * The Docker front door's uplink drivers (transparent, l2bridge, l2tunnel) without root: what
 * `docker network create -d l2bridge ...` becomes as an HCN document, the options that apply and the
 * ones refused, and the NetworkDriver handlers over the fake data plane (an adapter eth1): a -p on
 * such a network is refused at Join before anything is made, and network rm gives everything back.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SyError } from '../../src/errors.js';
import { networkDriver, Serial } from '../../src/docker/driver.js';
import { NETWORK_DRIVERS, networkDoc, networkRequest, type NetworkExtras } from '../../src/docker/translate.js';
import type { CreateNetworkRequest } from '../../src/docker/messages.js';
import { JsonRecords } from '../../src/docker/json-records.js';
import { newTestHost, snapshot } from './host-fixture.js';

const NET = 'd'.repeat(8) + '4'.repeat(56);
const EP = 'e'.repeat(8) + '5'.repeat(56);
const SANDBOX = '/proc/self/ns/net';
const SHIM = 'com.docker.network.windowsshim.';
const v4 = [{ AddressSpace: 'LocalDefault', Pool: '10.0.0.0/24', Gateway: '10.0.0.1/24' }];

function throwsCode(fn: () => unknown, code: string, message?: RegExp) {
  assert.throws(fn, (e: unknown) => e instanceof SyError && e.code === code && (!message || message.test(e.message)), `expected ${code} ${message ?? ''}`);
}

/** A CreateNetwork as Docker 20.10 sends it for `-o KEY=VALUE ...`. */
function create(opts: Record<string, string>, ipv4 = v4): CreateNetworkRequest {
  return { NetworkID: NET, Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': opts }, IPv4Data: ipv4, IPv6Data: [] };
}

describe('Docker uplink drivers: translation', () => {
  it('serves transparent, l2bridge, l2tunnel and sdnoverlay beside nat', () => {
    assert.deepEqual(NETWORK_DRIVERS, { nat: 'NAT', transparent: 'Transparent', l2bridge: 'L2Bridge', l2tunnel: 'L2Tunnel', sdnoverlay: 'Overlay' });
  });

  it('makes the HCN document of docker network create -d l2bridge --subnet --gateway -o interface=eth1', () => {
    const doc = networkDoc('l2bridge', create({ [`${SHIM}interface`]: 'eth1' }));
    assert.deepEqual(doc, {
      ID: 'dddddddd-4444-4444-4444-444444444444',
      Name: 'docker-net-dddddddd4444',
      Type: 'L2Bridge',
      SchemaVersion: { Major: 2, Minor: 0 },
      Policies: [{ Type: 'NetAdapterName', Settings: { NetworkAdapterName: 'eth1' } }],
      Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: '10.0.0.0/24', Routes: [{ NextHop: '10.0.0.1', DestinationPrefix: '0.0.0.0/0' }] }] }],
    });
    assert.equal(networkDoc('transparent', create({ [`${SHIM}interface`]: 'eth1' })).Type, 'Transparent');
    assert.equal(networkDoc('l2tunnel', create({ [`${SHIM}interface`]: 'eth1' })).Type, 'L2Tunnel');
  });

  it('takes -o parent=eth1 as macvlan does, and one adapter only', () => {
    assert.deepEqual(networkDoc('transparent', create({ parent: 'eth1' })).Policies, [{ Type: 'NetAdapterName', Settings: { NetworkAdapterName: 'eth1' } }]);
    assert.deepEqual(networkDoc('l2bridge', create({ parent: 'eth1', [`${SHIM}interface`]: 'eth1' })).Policies?.length, 1);
    throwsCode(() => networkDoc('l2bridge', create({ parent: 'eth1', [`${SHIM}interface`]: 'eth2' })), 'SY_BAD_REQUEST', /one adapter/);
    throwsCode(() => networkDoc('nat', create({ parent: 'eth1' })), 'SY_NOT_SUPPORTED', /uplink drivers/);
  });

  it('requires the adapter on every uplink driver, with a message naming the option', () => {
    for (const d of ['transparent', 'l2bridge', 'l2tunnel']) {
      throwsCode(() => networkDoc(d, create({})), 'SY_BAD_REQUEST', /binds its network to a host adapter: give it with -o com\.docker\.network\.windowsshim\.interface=IFNAME/);
    }
  });

  it('applies networkname, dns, macpool and switchyard.* keys as on nat', () => {
    const doc = networkDoc('l2bridge', create({
      [`${SHIM}interface`]: 'eth1',
      [`${SHIM}networkname`]: 'lan',
      [`${SHIM}dnsservers`]: '10.0.0.53,10.0.0.54',
      [`${SHIM}dnssuffix`]: 'corp.example',
      [`${SHIM}macpool`]: '00-15-5D-52-C0-00,00-15-5D-52-CF-FF',
      'switchyard.mtu': '1400',
    }));
    assert.equal(doc.Name, 'lan');
    assert.deepEqual(doc.Dns, { ServerList: ['10.0.0.53', '10.0.0.54'], Domain: 'corp.example' });
    assert.deepEqual(doc.MacPool, { Ranges: [{ StartMacAddress: '00-15-5D-52-C0-00', EndMacAddress: '00-15-5D-52-CF-FF' }] });
    assert.equal(doc.MTU, 1400);
  });

  it('gives every l2bridge endpoint an OutBoundNAT policy when asked, and refuses it where it means nothing', () => {
    const eth1 = { [`${SHIM}interface`]: 'eth1' };
    assert.deepEqual(networkRequest('l2bridge', create(eth1)).extras.endpointPolicies, []);
    assert.deepEqual(networkRequest('l2bridge', create({ ...eth1, [`${SHIM}enable_outboundnat`]: 'true' })).extras.endpointPolicies, [{ Type: 'OutBoundNAT', Settings: { Exceptions: [] } }]);
    assert.deepEqual(
      networkRequest('l2bridge', create({ ...eth1, [`${SHIM}enable_outboundnat`]: 'true', [`${SHIM}outboundnat_exceptions`]: '192.168.0.0/16,172.16.0.0/12' })).extras.endpointPolicies,
      [{ Type: 'OutBoundNAT', Settings: { Exceptions: ['192.168.0.0/16', '172.16.0.0/12'] } }],
    );
    assert.deepEqual(networkRequest('l2bridge', create({ ...eth1, [`${SHIM}enable_outboundnat`]: 'false' })).extras.endpointPolicies, []);
    throwsCode(() => networkDoc('l2bridge', create({ ...eth1, [`${SHIM}enable_outboundnat`]: 'false', [`${SHIM}outboundnat_exceptions`]: '192.168.0.0/16' })), 'SY_BAD_REQUEST', /needs outbound NAT/);
    throwsCode(() => networkDoc('l2bridge', create({ ...eth1, [`${SHIM}outboundnat_exceptions`]: '192.168.0.1/16' })), 'SY_INVALID_POLICY', /host bits/);
    throwsCode(() => networkDoc('transparent', create({ ...eth1, [`${SHIM}enable_outboundnat`]: 'true' })), 'SY_NOT_SUPPORTED', /own addresses/);
    throwsCode(() => networkDoc('l2tunnel', create({ ...eth1, [`${SHIM}outboundnat_exceptions`]: '10.0.0.0/8' })), 'SY_NOT_SUPPORTED', /own addresses/);
    // nat keeps its rules: false refused, exceptions alone make the policy
    throwsCode(() => networkDoc('nat', create({ [`${SHIM}enable_outboundnat`]: 'false' })), 'SY_NOT_SUPPORTED', /always translate/);
    assert.deepEqual(networkRequest('nat', create({ [`${SHIM}enable_outboundnat`]: 'true' })).extras.endpointPolicies, []);
  });

  it('passes vlanid to hostd as the subnet VLAN policy (nat refuses it itself)', () => {
    const doc = networkDoc('l2bridge', create({ [`${SHIM}interface`]: 'eth1', [`${SHIM}vlanid`]: '7' }));
    assert.deepEqual(doc.Ipams?.[0]?.Subnets?.[0]?.Policies, [{ Type: 'VLAN', Settings: { IsolationId: 7 } }]);
    throwsCode(() => networkDoc('nat', create({ [`${SHIM}vlanid`]: '7' })), 'SY_NOT_SUPPORTED', /vlanid.*untagged/);
    throwsCode(() => networkDoc('transparent', create({ [`${SHIM}interface`]: 'eth1', [`${SHIM}vlanid`]: 'seven' })), 'SY_BAD_REQUEST');
    throwsCode(() => networkDoc('l2bridge', create({ [`${SHIM}interface`]: 'eth1', [`${SHIM}vsid`]: '4096' })), 'SY_NOT_SUPPORTED', /overlay/);
  });
});

describe('Docker uplink drivers: handlers over the fake data plane', () => {
  const setup = async () => {
    const h = await newTestHost();
    h.fake.uplinks.push('eth1');
    h.fake.namespaces.add(SANDBOX);
    const extras = new JsonRecords<NetworkExtras>(join(h.dir, 'docker', 'networks.json'), 'networks');
    const drv = networkDriver('l2bridge', h.svc, new Serial(), { log: { info: () => undefined, warn: () => undefined }, sandboxTimeoutMs: 2000, extras });
    const call = (m: string, body: unknown) => drv.handlers[`NetworkDriver.${m}`]!(body);
    return { h, call };
  };
  const portmap = { 'com.docker.network.portmap': [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 }] };
  const iface = { Address: '10.0.0.50/24', AddressIPv6: '', MacAddress: '' };

  it('hostd takes the l2bridge network; vlanid comes back as hostd\'s kernel refusal', async () => {
    const { h, call } = await setup();
    try {
      await assert.rejects(call('CreateNetwork', create({ [`${SHIM}interface`]: 'eth1', [`${SHIM}vlanid`]: '7' })), (e: unknown) => e instanceof SyError && e.code === 'SY_NOT_SUPPORTED' && /802\.1Q/.test(e.message));
      assert.equal(h.svc.state.networks.size, 0);
      await call('CreateNetwork', create({ [`${SHIM}interface`]: 'eth1', [`${SHIM}enable_outboundnat`]: 'true' }));
      const doc = h.svc.networkDoc(h.svc.findNetwork('dddddddd-4444-4444-4444-444444444444')) as { Type: string; Uplink?: { Adapter: string } };
      assert.equal(doc.Type, 'L2Bridge');
      assert.equal(doc.Uplink?.Adapter, 'eth1');
      await call('CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: iface, Options: {} });
      const ep = h.svc.endpointDoc(h.svc.findEndpoint('eeeeeeee-5555-5555-5555-555555555555')) as { Policies?: { Type: string }[] };
      assert.deepEqual(ep.Policies?.map((p) => p.Type), ['OutBoundNAT']);
      await call('DeleteEndpoint', { NetworkID: NET, EndpointID: EP });
      await call('DeleteNetwork', { NetworkID: NET });
      assert.equal(h.svc.state.networks.size, 0);
    } finally {
      h.cleanup();
    }
  });

  it('a container leaving its nat network hands the default route to its l2bridge endpoint, but not the -p mappings', async () => {
    const { h, call } = await setup();
    const serial = new Serial();
    const extras = new JsonRecords<NetworkExtras>(join(h.dir, 'docker', 'networks2.json'), 'networks');
    const nat = networkDriver('nat', h.svc, serial, { log: { info: () => undefined, warn: (m) => assert.fail(m) }, sandboxTimeoutMs: 2000, extras }).handlers;
    const NATNET = 'f'.repeat(8) + '6'.repeat(56);
    const NATEP = '9'.repeat(8) + '7'.repeat(56);
    try {
      await nat['NetworkDriver.CreateNetwork']!({ NetworkID: NATNET, Options: {}, IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.99.0.0/24', Gateway: '10.99.0.1/24' }], IPv6Data: [] });
      await call('CreateNetwork', create({ [`${SHIM}interface`]: 'eth1' }));
      await nat['NetworkDriver.CreateEndpoint']!({ NetworkID: NATNET, EndpointID: NATEP, Interface: { Address: '10.99.0.2/24', AddressIPv6: '', MacAddress: '' }, Options: portmap });
      await nat['NetworkDriver.Join']!({ NetworkID: NATNET, EndpointID: NATEP, SandboxKey: SANDBOX, Options: portmap });
      await call('CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: iface, Options: portmap });
      await call('Join', { NetworkID: NET, EndpointID: EP, SandboxKey: SANDBOX, Options: portmap });
      await nat['NetworkDriver.Leave']!({ NetworkID: NATNET, EndpointID: NATEP });
      const heir = h.svc.state.endpoints.get('eeeeeeee-5555-5555-5555-555555555555')!;
      assert.ok(heir.namespaceId, 'still attached');
      assert.deepEqual(heir.portMappings, []);
    } finally {
      h.cleanup();
    }
  });

  it('refuses -p at Join before anything is attached; Docker\'s DeleteEndpoint then leaves the host as it was', async () => {
    const { h, call } = await setup();
    try {
      await call('CreateNetwork', create({ [`${SHIM}interface`]: 'eth1' }));
      const before = snapshot(h);
      await call('CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: iface, Options: portmap });
      await assert.rejects(
        call('Join', { NetworkID: NET, EndpointID: EP, SandboxKey: SANDBOX, Options: portmap }),
        (e: unknown) => e instanceof SyError && e.code === 'SY_NOT_SUPPORTED' && /Ports cannot be published \(-p, -P\) on this L2Bridge network/.test(e.message),
      );
      const ep = h.svc.state.endpoints.get('eeeeeeee-5555-5555-5555-555555555555')!;
      assert.equal(ep.namespaceId, undefined);
      assert.deepEqual(ep.portMappings, []);
      await call('DeleteEndpoint', { NetworkID: NET, EndpointID: EP });
      assert.deepEqual(snapshot(h), before);
      // without -p the same container joins
      await call('CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: iface, Options: {} });
      await call('Join', { NetworkID: NET, EndpointID: EP, SandboxKey: SANDBOX, Options: {} });
      assert.ok(h.svc.state.endpoints.get('eeeeeeee-5555-5555-5555-555555555555')!.namespaceId);
      await call('Leave', { NetworkID: NET, EndpointID: EP });
      await call('DeleteEndpoint', { NetworkID: NET, EndpointID: EP });
      await call('DeleteNetwork', { NetworkID: NET });
    } finally {
      h.cleanup();
    }
  });
});
