/**
 * What the controller refuses, over HTTP: references to what does not exist (400 naming the field),
 * deletes of what is still referenced (409 listing who), subnets outside their address space or
 * overlapping, static addresses outside their subnet, reserved or taken, MACs outside every pool or
 * taken, pools shrunk from under NICs. Every refusal leaves the store exactly as it was; addresses
 * come back when a NIC is deleted or changes its address.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startController, type TestController } from './api-fixture.js';

let c: TestController;
before(async () => {
  c = await startController();
  const seed: [string, unknown][] = [
    ['/macPools/mp', { properties: { startMacAddress: '00-1D-D8-00-00-00', endMacAddress: '00-1D-D8-00-00-0F' } }],
    ['/accessControlLists/acl', { properties: {} }],
    ['/virtualNetworks/v', { properties: { addressSpace: { addressPrefixes: ['10.0.0.0/16'] }, subnets: [{ resourceId: 's', properties: { addressPrefix: '10.0.1.0/29', accessControlList: { resourceRef: '/accessControlLists/acl' } } }] } }],
    ['/publicIPAddresses/pip', { properties: { ipAddress: '203.0.113.5' } }],
  ];
  for (const [path, body] of seed) assert.equal((await c.req('PUT', path, body)).status, 201, path);
});
after(async () => {
  await c?.close();
});

const subnet = { resourceRef: '/virtualNetworks/v/subnets/s' };
const nic = (ipc: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ properties: { ...extra, ipConfigurations: [{ resourceId: 'c', properties: { subnet, ...ipc } }] } });

/** PUTs body and expects `status` with a message matching `message`, and (for a refusal) no change at all. */
async function expect(method: string, path: string, body: unknown, status: number, message?: RegExp): Promise<any> {
  const before = await c.dump();
  const r = await c.req(method, path, body);
  assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
  if (message) assert.match(r.body.message, message);
  if (status >= 400) {
    assert.equal(typeof r.body.code, 'string');
    assert.match(r.body.syCode, /^SY_/);
    assert.equal(await c.dump(), before, 'a refused request changes nothing');
  }
  return r.body;
}

describe('references', () => {
  it('to what does not exist are refused, naming the field and the reference', async () => {
    await expect('PUT', '/networkInterfaces/n', nic({}, { server: { resourceRef: '/servers/nope' } }), 400, /^\/properties\/server: "\/servers\/nope" does not exist/);
    await expect('PUT', '/networkInterfaces/n', { properties: { ipConfigurations: [{ resourceId: 'c', properties: { subnet: { resourceRef: '/virtualNetworks/v/subnets/zz' } } }] } }, 400, /ipConfigurations\/0\/properties\/subnet: "\/virtualNetworks\/v\/subnets\/zz" does not exist/);
    await expect('PUT', '/virtualNetworks/v2', { properties: { addressSpace: { addressPrefixes: ['10.1.0.0/16'] }, subnets: [{ resourceId: 's', properties: { addressPrefix: '10.1.0.0/24', routeTable: { resourceRef: '/routeTables/none' } } }] } }, 400, /routeTable: "\/routeTables\/none" does not exist/);
    await expect('PUT', '/virtualNetworks/v2', { properties: { addressSpace: { addressPrefixes: ['10.1.0.0/16'] }, logicalNetwork: { resourceRef: '/virtualNetworks/v' } } }, 400, /logicalNetwork\/resourceRef/);
  });

  it('in use block a delete (409 listing who) until the user goes', async () => {
    await expect('PUT', '/networkInterfaces/n', nic({ publicIPAddress: { resourceRef: '/publicIPAddresses/pip' } }), 201);
    await expect('DELETE', '/virtualNetworks/v', undefined, 409, /\/virtualNetworks\/v\/subnets\/s" is still referenced by \/networkInterfaces\/n\/ipConfigurations\/c/);
    await expect('DELETE', '/virtualNetworks/v/subnets/s', undefined, 409, /referenced by \/networkInterfaces\/n\/ipConfigurations\/c/);
    await expect('PUT', '/virtualNetworks/v', { properties: { addressSpace: { addressPrefixes: ['10.0.0.0/16'] } } }, 409, /Cannot remove \/virtualNetworks\/v\/subnets\/s/);
    await expect('DELETE', '/accessControlLists/acl', undefined, 409, /referenced by \/virtualNetworks\/v\/subnets\/s/);
    await expect('DELETE', '/publicIPAddresses/pip', undefined, 409, /referenced by \/networkInterfaces\/n\/ipConfigurations\/c/);
    await expect('PUT', '/virtualNetworks/v/subnets/s', { properties: { addressPrefix: '10.0.2.0/29' } }, 409, /Cannot change the addressPrefix/);
    // the subnet lists its user, read-only
    const v = await c.req('GET', '/virtualNetworks/v/subnets/s');
    assert.deepEqual(v.body.properties.ipConfigurations, [{ resourceRef: '/networkInterfaces/n/ipConfigurations/c' }]);
    // a second ipConfiguration cannot take a public IP already bound
    await expect('PUT', '/networkInterfaces/n2', nic({ publicIPAddress: { resourceRef: '/publicIPAddresses/pip' } }), 409, /pip is bound to \/networkInterfaces\/n\/ipConfigurations\/c/);
    await expect('DELETE', '/networkInterfaces/n', undefined, 204);
    await expect('DELETE', '/publicIPAddresses/pip', undefined, 204);
    assert.deepEqual((await c.req('GET', '/virtualNetworks/v/subnets/s')).body.properties.ipConfigurations, []);
  });
});

describe('virtual network subnets', () => {
  const vnet = (subnets: string[], space = ['10.2.0.0/16']) => ({ properties: { addressSpace: { addressPrefixes: space }, subnets: subnets.map((p, i) => ({ resourceId: `s${i}`, properties: { addressPrefix: p } })) } });
  it('lie inside the address space and do not overlap', async () => {
    await expect('PUT', '/virtualNetworks/w', vnet(['10.3.0.0/24']), 400, /subnets\/0\/properties\/addressPrefix: 10.3.0.0\/24 is outside the addressSpace/);
    await expect('PUT', '/virtualNetworks/w', vnet(['10.2.0.0/15']), 400, /outside the addressSpace/);
    await expect('PUT', '/virtualNetworks/w', vnet(['10.2.0.0/24', '10.2.0.128/25']), 400, /subnets\/1\/properties\/addressPrefix: 10.2.0.128\/25 overlaps 10.2.0.0\/24/);
    await expect('PUT', '/virtualNetworks/w', vnet([], ['10.2.0.0/16', '10.2.5.0/24']), 400, /overlaps/);
    await expect('PUT', '/virtualNetworks/w', vnet(['10.2.0.1/24']), 400, /host bits/);
    await expect('PUT', '/virtualNetworks/w', vnet(['10.2.0.0/24', '10.2.1.0/24']), 201);
    await expect('PUT', '/virtualNetworks/w/subnets/s9', { properties: { addressPrefix: '10.2.1.0/25' } }, 400, /overlaps/);
    await expect('DELETE', '/virtualNetworks/w', undefined, 204);
  });

  it('get a VSID each from the controller, kept across replaces, never shared, released with the subnet', async () => {
    const made = await expect('PUT', '/virtualNetworks/x', vnet(['10.2.0.0/24', '10.2.1.0/24']), 201);
    const vsids = made.properties.subnets.map((s: any) => s.properties.vsid);
    assert.ok(vsids.every((v: number) => Number.isInteger(v) && v >= 4096 && v <= 16_777_214), String(vsids));
    assert.notEqual(vsids[0], vsids[1]);
    const other = await expect('PUT', '/virtualNetworks/y', vnet(['10.2.0.0/24'], ['10.2.0.0/16']), 201);
    assert.ok(!vsids.includes(other.properties.subnets[0].properties.vsid), 'a VSID is never shared, even by overlapping address spaces');
    // a GET written back keeps them; another value is refused
    const back = await expect('PUT', '/virtualNetworks/x', (await c.req('GET', '/virtualNetworks/x')).body, 200);
    assert.deepEqual(back.properties.subnets.map((s: any) => s.properties.vsid), vsids);
    const spoiled = (await c.req('GET', '/virtualNetworks/x')).body;
    spoiled.properties.subnets[0].properties.vsid = 5000;
    await expect('PUT', '/virtualNetworks/x', spoiled, 400, /vsid: 5000 was not given/);
    // a removed subnet gives its VSID back; so does a deleted virtual network
    await expect('DELETE', '/virtualNetworks/x/subnets/s1', undefined, 204);
    const held = async () => (await c.store.range('/nc/alloc/vsid/')).kvs.map((kv) => kv.value).sort();
    assert.deepEqual(await held(), ['/virtualNetworks/v/subnets/s', '/virtualNetworks/x/subnets/s0', '/virtualNetworks/y/subnets/s0']);
    await expect('DELETE', '/virtualNetworks/x', undefined, 204);
    await expect('DELETE', '/virtualNetworks/y', undefined, 204);
    assert.deepEqual(await held(), ['/virtualNetworks/v/subnets/s']);
  });
});

describe('private IPs', () => {
  it('Static: inside the subnet, not reserved, not taken', async () => {
    await expect('PUT', '/networkInterfaces/a', nic({ privateIPAddress: '10.0.2.3' }), 400, /privateIPAddress: 10.0.2.3 is outside the subnet's addressPrefix 10.0.1.0\/29/);
    await expect('PUT', '/networkInterfaces/a', nic({ privateIPAddress: '10.0.1.1' }), 400, /gateway/);
    await expect('PUT', '/networkInterfaces/a', nic({ privateIPAddress: '10.0.1.7' }), 400, /broadcast/);
    await expect('PUT', '/networkInterfaces/a', nic({ privateIPAddress: '10.0.1.0' }), 400, /network address/);
    await expect('PUT', '/networkInterfaces/a', nic({ privateIPAllocationMethod: 'Static' }), 400, /Static allocation needs the address/);
    const a = await expect('PUT', '/networkInterfaces/a', nic({ privateIPAddress: '10.0.1.2' }), 201);
    assert.equal(a.properties.ipConfigurations[0].properties.privateIPAllocationMethod, 'Static');
    await expect('PUT', '/networkInterfaces/b', nic({ privateIPAddress: '10.0.1.2' }), 409, /10.0.1.2 in \/virtualNetworks\/v\/subnets\/s is taken by \/networkInterfaces\/a\/ipConfigurations\/c/);
  });

  it('Dynamic: the lowest free after the gateway, kept across replaces, until the subnet is full', async () => {
    const b = await expect('PUT', '/networkInterfaces/b', nic({}), 201);
    assert.equal(b.properties.ipConfigurations[0].properties.privateIPAddress, '10.0.1.3', '.2 is taken by a');
    assert.equal(b.properties.ipConfigurations[0].properties.privateIPAllocationMethod, 'Dynamic');
    const again = await expect('PUT', '/networkInterfaces/b', nic({}, { dnsSettings: { dnsServers: ['10.0.0.53'] } }), 200);
    assert.equal(again.properties.ipConfigurations[0].properties.privateIPAddress, '10.0.1.3', 'a replace keeps a Dynamic address');
    await expect('PUT', '/networkInterfaces/b', nic({ privateIPAddress: '10.0.1.5', privateIPAllocationMethod: 'Dynamic' }), 400, /use privateIPAllocationMethod Static/);
    const ipOf = (d: any) => d.properties.ipConfigurations[0].properties.privateIPAddress;
    for (const [n, ip] of [['d', '10.0.1.4'], ['e', '10.0.1.5'], ['f', '10.0.1.6']]) assert.equal(ipOf(await expect('PUT', `/networkInterfaces/${n}`, nic({}), 201)), ip);
    await expect('PUT', '/networkInterfaces/g', nic({}), 409, /no free address left in \/virtualNetworks\/v\/subnets\/s \(10.0.1.0\/29\)/);
  });

  it('come back when their NIC is deleted or takes another address', async () => {
    const ipOf = (d: any) => d.properties.ipConfigurations[0].properties.privateIPAddress;
    await expect('DELETE', '/networkInterfaces/e', undefined, 204);
    assert.equal(ipOf(await expect('PUT', '/networkInterfaces/g', nic({}), 201)), '10.0.1.5', "e's address is free again");
    await expect('DELETE', '/networkInterfaces/f', undefined, 204);
    await expect('PUT', '/networkInterfaces/a', nic({ privateIPAddress: '10.0.1.6' }), 200);
    assert.equal(ipOf(await expect('PUT', '/networkInterfaces/h', nic({}), 201)), '10.0.1.2', "a's old address is free again");
    // two ipConfigurations of one NIC never share an address
    await expect('PUT', '/virtualNetworks/v/subnets/big', { properties: { addressPrefix: '10.0.8.0/24' } }, 201);
    const big = { resourceRef: '/virtualNetworks/v/subnets/big' };
    const two = await expect('PUT', '/networkInterfaces/two', { properties: { ipConfigurations: [{ resourceId: 'x', properties: { subnet: big } }, { resourceId: 'y', properties: { subnet: big } }] } }, 201);
    assert.deepEqual(two.properties.ipConfigurations.map((x: any) => x.properties.privateIPAddress), ['10.0.8.2', '10.0.8.3']);
    await expect('PUT', '/networkInterfaces/two2', { properties: { ipConfigurations: [{ resourceId: 'x', properties: { subnet: big, privateIPAddress: '10.0.8.9' } }, { resourceId: 'y', properties: { subnet: big, privateIPAddress: '10.0.8.9' } }] } }, 409, /10.0.8.9 .* is taken by \/networkInterfaces\/two2\/ipConfigurations\/x/);
    for (const n of ['a', 'b', 'd', 'g', 'h', 'two']) await expect('DELETE', `/networkInterfaces/${n}`, undefined, 204);
    assert.deepEqual((await c.store.range('/nc/alloc/ip/')).kvs, [], 'every address claim is released (the subnets keep their VSIDs)');
  });
});

describe('MAC addresses', () => {
  it('Static: inside a pool and not taken; Dynamic: the lowest free; pools guard what NICs hold', async () => {
    const macOf = (d: any) => d.properties.privateMacAddress;
    await expect('PUT', '/networkInterfaces/m1', nic({}, { privateMacAddress: '00-1D-D8-00-01-00' }), 400, /privateMacAddress: 00-1D-D8-00-01-00 is in no macPool/);
    await expect('PUT', '/networkInterfaces/m1', nic({}, { privateMacAddress: 'zz' }), 400, /privateMacAddress: "zz" is not a MAC address/);
    assert.equal(macOf(await expect('PUT', '/networkInterfaces/m1', nic({}, { privateMacAddress: '00:1d:d8:00:00:05' }), 201)), '00-1D-D8-00-00-05', 'written the MS-NCNBI way');
    await expect('PUT', '/networkInterfaces/m2', nic({}, { privateMacAddress: '00-1D-D8-00-00-05' }), 409, /00-1D-D8-00-00-05 is taken by \/networkInterfaces\/m1/);
    const m2 = await expect('PUT', '/networkInterfaces/m2', nic({}), 201);
    assert.equal(macOf(m2), '00-1D-D8-00-00-00');
    assert.equal(m2.properties.privateMacAllocationMethod, 'Dynamic');
    assert.equal(macOf(await expect('PUT', '/networkInterfaces/m2', m2, 200)), '00-1D-D8-00-00-00', 'a Dynamic MAC is kept');
    await expect('PUT', '/macPools/mp', { properties: { startMacAddress: '00-1D-D8-00-00-00', endMacAddress: '00-1D-D8-00-00-03' } }, 409, /Cannot shrink the pool: NICs hold 00-1D-D8-00-00-05 \(\/networkInterfaces\/m1\)/);
    await expect('DELETE', '/macPools/mp', undefined, 409, /NICs hold 00-1D-D8-00-00-00 \(\/networkInterfaces\/m2\), 00-1D-D8-00-00-05/);
    await expect('PUT', '/macPools/mp2', { properties: { startMacAddress: '00-1D-D8-00-00-0F', endMacAddress: '00-1D-D8-00-00-1F' } }, 400, /overlaps \/macPools\/mp/);
    await expect('PUT', '/macPools/mp2', { properties: { startMacAddress: '01-00-00-00-00-00', endMacAddress: '01-00-00-00-00-01' } }, 400, /multicast/);
    await expect('DELETE', '/networkInterfaces/m1', undefined, 204);
    await expect('DELETE', '/networkInterfaces/m2', undefined, 204);
    await expect('PUT', '/macPools/mp', { properties: { startMacAddress: '00-1D-D8-00-00-00', endMacAddress: '00-1D-D8-00-00-00' } }, 200);
    await expect('PUT', '/networkInterfaces/m3', nic({}), 201);
    await expect('PUT', '/networkInterfaces/m4', nic({}), 409, /every macPool is used up/);
    await expect('DELETE', '/networkInterfaces/m3', undefined, 204);
  });
});

describe('ACLs, routes and public IPs', () => {
  it('refuse what would be ambiguous or unusable', async () => {
    const rule = (priority: number, type = 'Inbound', extra: Record<string, unknown> = {}) => ({ resourceId: `r${priority}${type}`, properties: { protocol: 'TCP', action: 'Allow', type, priority, ...extra } });
    await expect('PUT', '/accessControlLists/x', { properties: { aclRules: [rule(100), { ...rule(100), resourceId: 'other' }] } }, 400, /aclRules\/1\/properties\/priority: 100 is already the priority of Inbound rule aclRules\/0/);
    await expect('PUT', '/accessControlLists/x', { properties: { aclRules: [rule(100, 'Inbound', { protocol: 'ICMP', destinationPortRange: '80' })] } }, 400, /ports apply to TCP and UDP only/);
    await expect('PUT', '/accessControlLists/x', { properties: { aclRules: [rule(100, 'Inbound', { sourcePortRange: '90-80' })] } }, 400, /sourcePortRange/);
    await expect('PUT', '/accessControlLists/x', { properties: { aclRules: [rule(100, 'Inbound', { protocol: 'GRE' })] } }, 400, /protocol/);
    await expect('PUT', '/accessControlLists/x', { properties: { aclRules: [rule(100), rule(100, 'Outbound')] } }, 201);
    await expect('DELETE', '/accessControlLists/x', undefined, 204);
    await expect('PUT', '/routeTables/x', { properties: { routes: [{ resourceId: 'a', properties: { addressPrefix: '10.0.0.0/8', nextHopType: 'VirtualAppliance' } }] } }, 400, /needs the appliance's address/);
    await expect('PUT', '/routeTables/x', { properties: { routes: [{ resourceId: 'a', properties: { addressPrefix: '10.0.0.0/8', nextHopType: 'Internet', nextHopIpAddress: '10.0.0.1' } }] } }, 400, /only a VirtualAppliance hop/);
    await expect('PUT', '/publicIPAddresses/x', { properties: { publicIPAllocationMethod: 'Dynamic' } }, 400, /Dynamic public IPs need a public pool/);
    await expect('PUT', '/publicIPAddresses/x', { properties: { ipAddress: '203.0.113.77' } }, 201);
    await expect('PUT', '/publicIPAddresses/y', { properties: { ipAddress: '203.0.113.77' } }, 409, /taken by \/publicIPAddresses\/x/);
    await expect('DELETE', '/publicIPAddresses/x', undefined, 204);
    await expect('PUT', '/logicalNetworks/x', { properties: { subnets: [{ resourceId: 'a', properties: { addressPrefix: '192.168.0.0/24', defaultGateways: ['192.168.1.1'] } }] } }, 400, /defaultGateways\/0: 192.168.1.1 is outside/);
    await expect('PUT', '/logicalNetworks/x', { properties: { subnets: [{ resourceId: 'a', properties: { addressPrefix: '192.168.0.0/24', ipPools: [{ properties: { startIpAddress: '192.168.0.50', endIpAddress: '192.168.0.10' } }] } }] } }, 400, /startIpAddress comes after/);
    await expect('PUT', '/logicalNetworks/x', { properties: { subnets: [{ resourceId: 'a', properties: { addressPrefix: '192.168.0.0/24', vlanID: 4095 } }] } }, 400, /vlanID/);
  });
});
