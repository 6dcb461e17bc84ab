/**
 * The Docker front door without root: translation of Docker's messages and options (pure), the
 * switchyard IPAM against its file, and the NetworkDriver handlers driving a HostService over the fake
 * data plane (the sandbox is /proc/self/ns/net, a mounted namespace every process has).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SyError } from '../../src/errors.js';
import { networkDriver, Serial } from '../../src/docker/driver.js';
import { ipamHandlers, IpamStore } from '../../src/docker/ipam.js';
import { endpointDoc, guidOf, networkDoc, networkRequest, portPolicies, type NetworkExtras } from '../../src/docker/translate.js';
import { JsonRecords } from '../../src/docker/json-records.js';
import { newTestHost, snapshot } from './host-fixture.js';

const NET = 'a'.repeat(8) + '1'.repeat(56);
const EP = 'b'.repeat(8) + '2'.repeat(56);
const EP2 = 'c'.repeat(8) + '3'.repeat(56);
const SANDBOX = '/proc/self/ns/net';
const v4 = [{ AddressSpace: 'LocalDefault', Pool: '10.99.0.0/24', Gateway: '10.99.0.1/24' }];

function throwsCode(fn: () => unknown, code: string, message?: RegExp) {
  assert.throws(fn, (e: unknown) => e instanceof SyError && e.code === code && (!message || message.test(e.message)));
}

describe('Docker translation', () => {
  it('maps Docker ids to GUIDs and CreateNetwork to an HCN NAT network', () => {
    assert.equal(guidOf(NET), 'aaaaaaaa-1111-1111-1111-111111111111');
    const doc = networkDoc('nat', { NetworkID: NET, Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': {} }, IPv4Data: v4, IPv6Data: [] });
    assert.equal(doc.Type, 'NAT');
    assert.equal(doc.Name, 'docker-net-aaaaaaaa1111');
    assert.deepEqual(doc.Ipams, [{ Type: 'Static', Subnets: [{ IpAddressPrefix: '10.99.0.0/24', Routes: [{ NextHop: '10.99.0.1', DestinationPrefix: '0.0.0.0/0' }] }] }]);
  });

  it('honours switchyard.* and windowsshim keys that mean something, refuses the rest clearly', () => {
    const generic = (g: Record<string, string>) => ({ NetworkID: NET, Options: { 'com.docker.network.generic': g }, IPv4Data: v4 });
    const doc = networkDoc('nat', generic({
      'com.docker.network.windowsshim.networkname': 'MyNat',
      'com.docker.network.windowsshim.dnsservers': '192.0.2.53,192.0.2.54',
      'com.docker.network.windowsshim.dnssuffix': 'corp.example',
      'com.docker.network.windowsshim.enable_outboundnat': 'true',
      'switchyard.mtu': '1400',
      'switchyard.dns-search': 'a.example b.example',
    }));
    assert.equal(doc.Name, 'MyNat');
    assert.equal(doc.MTU, 1400);
    assert.deepEqual(doc.Dns, { ServerList: ['192.0.2.53', '192.0.2.54'], Domain: 'corp.example', Search: ['a.example', 'b.example'] });
    throwsCode(() => networkDoc('nat', generic({ foo: 'bar' })), 'SY_BAD_REQUEST', /Unknown network option "foo"/);
    const { extras } = networkRequest('nat', generic({ 'com.docker.network.windowsshim.outboundnat_exceptions': '10.0.0.0/8,192.0.2.7' }));
    assert.deepEqual(extras.endpointPolicies, [{ Type: 'OutBoundNAT', Settings: { Exceptions: ['10.0.0.0/8', '192.0.2.7'] } }]);
    throwsCode(() => networkDoc('nat', generic({ 'com.docker.network.windowsshim.outboundnat_exceptions': '10.0.0.1/8' })), 'SY_INVALID_POLICY', /host bits/);
    throwsCode(() => networkDoc('nat', generic({ 'com.docker.network.windowsshim.vsid': '4096' })), 'SY_NOT_SUPPORTED', /vsid.*overlay network \(driver sdnoverlay/);
    throwsCode(() => networkDoc('nat', generic({ 'com.docker.network.windowsshim.vlanid': '7' })), 'SY_NOT_SUPPORTED', /vlanid.*l2bridge or transparent.*untagged/);
    const shim = networkDoc('nat', generic({ 'com.docker.network.windowsshim.interface': 'eth1', 'com.docker.network.windowsshim.macpool': '00-15-5D-52-C0-00,00-15-5D-52-CF-FF' }));
    assert.deepEqual(shim.Policies, [{ Type: 'NetAdapterName', Settings: { NetworkAdapterName: 'eth1' } }]);
    assert.deepEqual(shim.MacPool, { Ranges: [{ StartMacAddress: '00-15-5D-52-C0-00', EndMacAddress: '00-15-5D-52-CF-FF' }] });
    throwsCode(() => networkDoc('nat', generic({ 'com.docker.network.windowsshim.macpool': '00-15-5D-52-C0-00' })), 'SY_BAD_REQUEST', /START,END pairs/);
    throwsCode(() => networkDoc('nat', generic({ 'com.docker.network.windowsshim.enable_outboundnat': 'false' })), 'SY_NOT_SUPPORTED');
    throwsCode(() => networkDoc('nat', generic({ 'switchyard.mtu': '1400; rm -rf /' })), 'SY_BAD_REQUEST');
    assert.equal(networkDoc('nat', { NetworkID: NET, Options: { 'com.docker.network.internal': true }, IPv4Data: v4 }).Internal, true);
    throwsCode(() => networkDoc('nat', { NetworkID: NET, Options: { 'com.docker.network.enable_ipv6': true }, IPv4Data: v4 }), 'SY_NOT_SUPPORTED', /IPv6/);
    throwsCode(() => networkDoc('transparent', generic({})), 'SY_BAD_REQUEST', /binds its network to a host adapter/);
  });

  it('turns port bindings into PortMapping policies and the base64 MAC into a MAC', () => {
    assert.deepEqual(portPolicies([
      { Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 },
      { Proto: 17, IP: '', Port: 53, HostIP: '127.0.0.1', HostPort: 5353, HostPortEnd: 5353 },
      { Proto: 6, IP: '', Port: 81, HostIP: '0.0.0.0', HostPort: 0, HostPortEnd: 0 },
    ]), [
      { Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 80, ExternalPort: 8080 } },
      { Type: 'PortMapping', Settings: { Protocol: 17, InternalPort: 53, ExternalPort: 5353, VIP: '127.0.0.1' } },
      { Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 81, ExternalPort: 0 } },
    ]);
    throwsCode(() => portPolicies([{ Proto: 6, Port: 80, HostPort: 8080, HostPortEnd: 8090 }]), 'SY_NOT_SUPPORTED', /range/);
    throwsCode(() => portPolicies([{ Proto: 6, Port: 80, HostIP: '::', HostPort: 8080 }]), 'SY_NOT_SUPPORTED', /IPv6/);
    const doc = endpointDoc('n', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.99.0.7/24', AddressIPv6: '', MacAddress: '' },
      Options: { 'com.docker.network.endpoint.macaddress': Buffer.from([2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]).toString('base64') } });
    assert.deepEqual(doc.IpConfigurations, [{ IpAddress: '10.99.0.7' }]);
    assert.equal(doc.MacAddress, '02:aa:bb:cc:dd:ee');
  });
});

describe('Docker IPAM driver switchyard', () => {
  it('hands out pools and addresses, refuses overlaps, and keeps them in its file', async () => {
    const h = await newTestHost();
    const file = join(h.dir, 'docker', 'ipam.json');
    try {
      const ipam = ipamHandlers(h.svc, new IpamStore(file), new Serial());
      const pool = (await ipam['IpamDriver.RequestPool']!({ AddressSpace: 'switchyard-local', Pool: '10.97.0.0/24', Options: {}, V6: false })) as { PoolID: string; Pool: string };
      assert.equal(pool.Pool, '10.97.0.0/24');
      await assert.rejects(ipam['IpamDriver.RequestPool']!({ Pool: '10.97.0.0/16' }), /overlaps the IPAM pool/);
      const auto = (await ipam['IpamDriver.RequestPool']!({ Pool: '' })) as { Pool: string };
      assert.equal(auto.Pool, '172.16.0.0/24');
      const gw = (await ipam['IpamDriver.RequestAddress']!({ PoolID: pool.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } })) as { Address: string };
      assert.equal(gw.Address, '10.97.0.1/24');
      const a = (await ipam['IpamDriver.RequestAddress']!({ PoolID: pool.PoolID, Options: null })) as { Address: string };
      assert.equal(a.Address, '10.97.0.2/24');
      await assert.rejects(ipam['IpamDriver.RequestAddress']!({ PoolID: pool.PoolID, Address: '10.97.0.2' }), /already in use/);
      await assert.rejects(ipam['IpamDriver.RequestAddress']!({ PoolID: pool.PoolID, Address: '10.98.0.2' }), /not a host address/);
      // a restart of hostd: the pools come back from the file
      await ipam['IpamDriver.ReleaseAddress']!({ PoolID: pool.PoolID, Address: '10.97.0.2' });
      const again = ipamHandlers(h.svc, new IpamStore(file), new Serial());
      const b = (await again['IpamDriver.RequestAddress']!({ PoolID: pool.PoolID })) as { Address: string };
      assert.equal(b.Address, '10.97.0.2/24');
      await again['IpamDriver.ReleasePool']!({ PoolID: pool.PoolID });
      await again['IpamDriver.ReleaseAddress']!({ PoolID: pool.PoolID, Address: '10.97.0.2' });
      assert.deepEqual(Object.keys(JSON.parse(readFileSync(file, 'utf8')).pools), ['switchyard-local/172.16.0.0/24']);
    } finally {
      h.cleanup();
    }
  });
});

describe('Docker NetworkDriver handlers over the fake data plane', () => {
  const setup = async () => {
    const h = await newTestHost();
    h.fake.namespaces.add(SANDBOX);
    const extras = new JsonRecords<NetworkExtras>(join(h.dir, 'docker', 'networks.json'), 'networks');
    const drv = networkDriver('nat', h.svc, new Serial(), { log: { info: () => undefined, warn: () => undefined }, sandboxTimeoutMs: 2000, extras });
    const call = (m: string, body: unknown) => drv.handlers[`NetworkDriver.${m}`]!(body);
    return { h, drv, call };
  };
  const portmap = { 'com.docker.network.portmap': [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 }] };

  it('runs the call sequence of docker run / rm / network rm, and every removal twice', async () => {
    const { h, call } = await setup();
    try {
      const empty = snapshot(h);
      await call('CreateNetwork', { NetworkID: NET, Options: {}, IPv4Data: v4, IPv6Data: [] });
      await call('CreateNetwork', { NetworkID: NET, Options: {}, IPv4Data: v4, IPv6Data: [] });
      const created = (await call('CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.99.0.2/24', AddressIPv6: '', MacAddress: '' }, Options: portmap })) as { Interface: { MacAddress?: string } };
      assert.equal(created.Interface.MacAddress, '02:53:0a:63:00:02', 'the MAC Switchyard chose, as Docker did not give one');
      assert.deepEqual(await call('Join', { NetworkID: NET, EndpointID: EP, SandboxKey: SANDBOX, Options: portmap }), { DisableGatewayService: true });
      const ep = h.svc.findEndpoint(guidOf(EP));
      assert.equal(ep.ifName, 'eth0');
      assert.deepEqual(ep.portMappings.map((m) => m.externalPort), [8080]);
      assert.equal(h.svc.findNamespace(SANDBOX).owned, false, "Docker's sandbox is adopted, never removed by hostd");
      // a second network on the same sandbox: eth1, and the ports stay with the first
      await call('CreateEndpoint', { NetworkID: NET, EndpointID: EP2, Interface: { Address: '10.99.0.3/24' }, Options: portmap });
      await call('Join', { NetworkID: NET, EndpointID: EP2, SandboxKey: SANDBOX, Options: portmap });
      const ep2 = h.svc.findEndpoint(guidOf(EP2));
      assert.equal(ep2.ifName, 'eth1');
      assert.equal(ep2.portMappings.length, 0);
      for (const id of [EP2, EP]) {
        for (let i = 0; i < 2; i++) {
          await call('RevokeExternalConnectivity', { NetworkID: NET, EndpointID: id });
          await call('Leave', { NetworkID: NET, EndpointID: id });
          await call('DeleteEndpoint', { NetworkID: NET, EndpointID: id });
        }
      }
      for (let i = 0; i < 2; i++) await call('DeleteNetwork', { NetworkID: NET });
      const end = snapshot(h);
      assert.equal(end.store, empty.store, 'nothing left in the store');
      assert.equal(h.svc.state.networks.size + h.svc.state.endpoints.size + h.svc.state.namespaces.size, 0, 'no records');
      // ip_forward stays on once set (hostd never turns a host-wide switch back off)
      const kernel = (d: string) => d.split('\n').filter((l) => !l.startsWith('sysctl net/ipv4/ip_forward')).join('\n');
      assert.equal(kernel(end.dataplane), kernel(empty.dataplane), 'nothing left in the (fake) kernel');
    } finally {
      h.cleanup();
    }
  });

  it('a Join whose sandbox does not exist yet attaches when it appears; Leave before that cancels it', async () => {
    const { h, call } = await setup();
    const dir = mkdtempSync(join(tmpdir(), 'sy-sandbox-'));
    try {
      await call('CreateNetwork', { NetworkID: NET, Options: {}, IPv4Data: v4 });
      await call('CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.99.0.2/24' } });
      await call('Join', { NetworkID: NET, EndpointID: EP, SandboxKey: join(dir, 'never') });
      assert.equal(h.svc.findEndpoint(guidOf(EP)).namespaceId, undefined, 'not attached before the namespace exists');
      await call('Leave', { NetworkID: NET, EndpointID: EP });
      await call('DeleteEndpoint', { NetworkID: NET, EndpointID: EP });
      assert.equal(h.svc.state.endpoints.size, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      h.cleanup();
    }
  });

  it('--internal: no default route and -p publishes nothing there; the first other network takes both', async () => {
    const { h, call } = await setup();
    const NET2 = 'd'.repeat(8) + '4'.repeat(56);
    try {
      await call('CreateNetwork', { NetworkID: NET, Options: { 'com.docker.network.internal': true }, IPv4Data: v4 });
      await call('CreateNetwork', { NetworkID: NET2, Options: {}, IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.98.0.0/24', Gateway: '10.98.0.1/24' }] });
      assert.equal(h.svc.networkDoc(h.svc.findNetwork(guidOf(NET))).Internal, true);
      await call('CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.99.0.2/24' }, Options: portmap });
      await call('Join', { NetworkID: NET, EndpointID: EP, SandboxKey: SANDBOX, Options: portmap });
      assert.equal(h.svc.findEndpoint(guidOf(EP)).portMappings.length, 0, 'as with Docker\'s bridge: nothing published on an internal network');
      await call('CreateEndpoint', { NetworkID: NET2, EndpointID: EP2, Interface: { Address: '10.98.0.2/24' }, Options: portmap });
      await call('Join', { NetworkID: NET2, EndpointID: EP2, SandboxKey: SANDBOX, Options: portmap });
      assert.deepEqual(h.svc.findEndpoint(guidOf(EP2)).portMappings.map((m) => m.externalPort), [8080], 'the mappings go to the first network that is not internal');
      const veths = h.fake.dump().split('\n').filter((l) => l.includes('peer='));
      assert.match(veths.find((l) => l.includes('10.99.0.2'))!, /10\.99\.0\.2\/24 mac/, 'no default route on the internal network');
      assert.match(veths.find((l) => l.includes('10.98.0.2'))!, /via 10\.98\.0\.1/);
      // the host API refuses what Docker's -p would have asked for
      await assert.rejects(h.svc.modifyEndpoint(guidOf(EP), { ResourceType: 'Policy', RequestType: 'Add', Settings: { Policies: [{ Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 80, ExternalPort: 8081 } }] } }), /is internal: its endpoints cannot publish ports/);
      for (const [n, e] of [[NET, EP], [NET2, EP2]]) {
        await call('Leave', { NetworkID: n, EndpointID: e });
        await call('DeleteEndpoint', { NetworkID: n, EndpointID: e });
      }
      assert.equal(h.svc.state.endpoints.size, 0);
    } finally {
      h.cleanup();
    }
  });

  it('failures reach Docker as errors and leave nothing: unknown network, bad body, address taken', async () => {
    const { h, call } = await setup();
    try {
      await assert.rejects(call('CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.99.0.2/24' } }), /Network "aaaaaaaa-1111-1111-1111-111111111111" not found/);
      await assert.rejects(call('CreateNetwork', { NetworkID: 'not-an-id' }), /Invalid CreateNetwork request/);
      await call('CreateNetwork', { NetworkID: NET, Options: {}, IPv4Data: v4 });
      await call('CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.99.0.2/24' } });
      const before = snapshot(h);
      await assert.rejects(call('CreateEndpoint', { NetworkID: NET, EndpointID: EP2, Interface: { Address: '10.99.0.2/24' } }), /already used/);
      assert.deepEqual(snapshot(h), before);
    } finally {
      h.cleanup();
    }
  });
});
