/**
 * loadBalancers over real HTTP: a whole load balancer (VIP, pool of NIC ipConfigurations, rules with
 * a probe, inbound and outbound NAT) is stored with its defaults and its VIP claimed from the subnet;
 * every refusal the issue names is a 4xx that leaves the store byte for byte as it was; pool members
 * are references (a NIC in a pool cannot go), the VIP is released with the load balancer; children
 * at their own URLs; the load balancer reaches the span of the servers of its backends and VIP's
 * virtual network.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createToken } from '../../src/controller/auth.js';
import { request, startController, type TestController } from './api-fixture.js';

let c: TestController;
before(async () => {
  c = await startController();
  const seed: [string, unknown][] = [
    ['/servers/h1', { properties: {} }],
    ['/macPools/mp', { properties: { startMacAddress: '00-1D-D8-00-00-00', endMacAddress: '00-1D-D8-00-00-FF' } }],
    ['/virtualNetworks/v', { properties: { addressSpace: { addressPrefixes: ['10.0.0.0/16'] }, subnets: [{ resourceId: 's', properties: { addressPrefix: '10.0.0.0/24' } }] } }],
    ['/virtualNetworks/w', { properties: { addressSpace: { addressPrefixes: ['10.9.0.0/16'] }, subnets: [{ resourceId: 's', properties: { addressPrefix: '10.9.0.0/24' } }] } }],
    ['/networkInterfaces/b1', nic('v', '10.0.0.11', 'h1')],
    ['/networkInterfaces/b2', nic('v', '10.0.0.12')],
    ['/networkInterfaces/far', nic('w', '10.9.0.11')],
  ];
  for (const [path, body] of seed) assert.equal((await c.req('PUT', path, body)).status, 201, path);
});
after(async () => {
  await c?.close();
});

function nic(vnet: string, ip: string, server?: string) {
  return { properties: { ...(server ? { server: { resourceRef: `/servers/${server}` } } : {}), ipConfigurations: [{ resourceId: 'c', properties: { privateIPAddress: ip, subnet: { resourceRef: `/virtualNetworks/${vnet}/subnets/s` } } }] } };
}
const fe = (lb = 'lb') => [{ resourceRef: `/loadBalancers/${lb}/frontendIPConfigurations/f` }];
const pool = (lb = 'lb') => ({ resourceRef: `/loadBalancers/${lb}/backendAddressPools/p` });
function lbDoc(over: { vip?: Record<string, unknown>; members?: string[]; rules?: Record<string, unknown>[]; nat?: Record<string, unknown>[]; probes?: Record<string, unknown>[] } = {}, lb = 'lb') {
  return {
    properties: {
      frontendIPConfigurations: [{ resourceId: 'f', properties: over.vip ?? { subnet: { resourceRef: '/virtualNetworks/v/subnets/s' } } }],
      backendAddressPools: [{ resourceId: 'p', properties: { backendIPConfigurations: (over.members ?? ['b1', 'b2']).map((n) => ({ resourceRef: `/networkInterfaces/${n}/ipConfigurations/c` })) } }],
      probes: over.probes ?? [{ resourceId: 'hp', properties: { protocol: 'HTTP', port: 80, requestPath: '/healthz' } }],
      loadBalancingRules: over.rules ?? [{ resourceId: 'web', properties: { frontendIPConfigurations: fe(lb), backendAddressPool: pool(lb), protocol: 'TCP', frontendPort: 80, probe: { resourceRef: `/loadBalancers/${lb}/probes/hp` } } }],
      inboundNatRules: over.nat ?? [{ resourceId: 'ssh', properties: { frontendIPConfigurations: fe(lb), backendIPConfiguration: { resourceRef: '/networkInterfaces/b1/ipConfigurations/c' }, protocol: 'TCP', frontendPort: 2222, backendPort: 22 } }],
      outboundNatRules: [{ resourceId: 'out', properties: { frontendIPConfigurations: fe(lb), backendAddressPool: pool(lb) } }],
    },
  };
}

describe('loadBalancers', () => {
  it('stores a whole load balancer with its defaults and a VIP from the subnet that no NIC holds', async () => {
    const r = await c.req('PUT', '/loadBalancers/lb', lbDoc());
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const p = r.body.properties;
    const vip = p.frontendIPConfigurations[0].properties;
    assert.equal(vip.privateIPAllocationMethod, 'Dynamic');
    assert.equal(vip.privateIPAddress, '10.0.0.2', 'the lowest free address: .1 is the gateway, .11/.12 are NICs');
    const rule = p.loadBalancingRules[0].properties;
    assert.deepEqual([rule.backendPort, rule.loadDistribution], [80, 'Default']);
    assert.deepEqual([p.probes[0].properties.intervalInSeconds, p.probes[0].properties.numberOfProbes], [15, 2]);
    assert.equal(p.inboundNatRules[0].properties.backendPort, 22);
    // the VIP is claimed: a NIC cannot take it
    const taken = await c.req('PUT', '/networkInterfaces/thief', nic('v', '10.0.0.2'));
    assert.equal(taken.status, 409);
    assert.match(taken.body.message, /frontendIPConfigurations\/f/);
    // a child at its own URL
    assert.equal((await c.req('PUT', '/loadBalancers/lb/probes/tcp', { properties: { protocol: 'TCP', port: 443 } })).status, 201);
    assert.equal((await c.req('GET', '/loadBalancers/lb/probes')).body.value.length, 2);
  });

  it('refuses what the issue names, each with a 4xx that changes nothing', async () => {
    const rule = (o: Record<string, unknown>) => ({ resourceId: 'x', properties: { frontendIPConfigurations: fe('lb2'), backendAddressPool: pool('lb2'), protocol: 'TCP', frontendPort: 80, ...o } });
    const noProbes: Record<string, unknown>[] = [];
    const cases: [string, unknown, number, RegExp][] = [
      ['a VIP that is an endpoint IP', lbDoc({ vip: { subnet: { resourceRef: '/virtualNetworks/v/subnets/s' }, privateIPAddress: '10.0.0.11', privateIPAllocationMethod: 'Static' } }, 'lb2'), 409, /taken by \/networkInterfaces\/b1/],
      ['a duplicate frontend port/protocol', lbDoc({ probes: noProbes, rules: [rule({}), { ...rule({}), resourceId: 'y' }], nat: [] }, 'lb2'), 400, /TCP 80 .* already used/],
      ['an inbound NAT port a rule uses', lbDoc({ probes: noProbes, rules: [rule({})], nat: [{ resourceId: 'n', properties: { frontendIPConfigurations: fe('lb2'), backendIPConfiguration: { resourceRef: '/networkInterfaces/b1/ipConfigurations/c' }, protocol: 'TCP', frontendPort: 80 } }] }, 'lb2'), 400, /already used/],
      ['a backend on another network', lbDoc({ probes: noProbes, members: ['b1', 'far'], rules: [rule({})], nat: [] }, 'lb2'), 400, /\/virtualNetworks\/w cannot be reached/],
      ['an unknown distribution type', lbDoc({ probes: noProbes, rules: [rule({ loadDistribution: 'RoundRobinish' })], nat: [] }, 'lb2'), 400, /loadDistribution/],
      ['port 0', lbDoc({ probes: noProbes, rules: [rule({ frontendPort: 0 })], nat: [] }, 'lb2'), 400, /frontendPort/],
      ['port 65536', lbDoc({ probes: noProbes, rules: [rule({ backendPort: 65536 })], nat: [] }, 'lb2'), 400, /backendPort/],
      ['a rule to a frontend that is not there', lbDoc({ probes: noProbes, rules: [rule({ frontendIPConfigurations: [{ resourceRef: '/loadBalancers/lb2/frontendIPConfigurations/nope' }] })], nat: [] }, 'lb2'), 400, /nope" does not exist/],
      ["a rule to another load balancer's pool", lbDoc({ probes: noProbes, rules: [rule({ backendAddressPool: pool('lb') })], nat: [] }, 'lb2'), 400, /is not part of \/loadBalancers\/lb2/],
      ['an HTTP probe without a path', lbDoc({ probes: [{ resourceId: 'hp', properties: { protocol: 'HTTP', port: 80 } }], rules: [rule({})], nat: [] }, 'lb2'), 400, /requestPath/],
      ['a VIP with neither subnet nor public IP', lbDoc({ vip: {} }, 'lb2'), 400, /one of them/],
    ];
    for (const [what, body, status, message] of cases) {
      const before = await c.dump();
      const r = await c.req('PUT', '/loadBalancers/lb2', body);
      assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
      assert.match(r.body.message, message, what);
      assert.equal(await c.dump(), before, `${what}: the store is unchanged`);
    }
  });

  it("keeps pool members' NICs while they are in a pool, and gives the VIP back with the load balancer", async () => {
    const held = await c.req('DELETE', '/networkInterfaces/b2');
    assert.equal(held.status, 409);
    assert.match(held.body.message, /\/loadBalancers\/lb/);
    const lb = (await c.req('GET', '/loadBalancers/lb')).body;
    lb.properties.backendAddressPools[0].properties.backendIPConfigurations = [{ resourceRef: '/networkInterfaces/b1/ipConfigurations/c' }];
    assert.equal((await c.req('PUT', '/loadBalancers/lb', lb, { headers: { 'if-match': lb.etag } })).status, 200);
    assert.equal((await c.req('DELETE', '/networkInterfaces/b2')).status, 204, 'out of the pool, the NIC may go');
    assert.equal((await c.req('DELETE', '/loadBalancers/lb')).status, 204);
    assert.equal((await c.req('PUT', '/networkInterfaces/thief', nic('v', '10.0.0.2'))).status, 201, 'the VIP is free again');
  });

  it("a tenant cannot pool another tenant's NIC", async () => {
    const blue = await c.tenant('blue');
    const r = await c.req('PUT', '/loadBalancers/blue-lb', lbDoc({ probes: [], rules: [], nat: [] }, 'blue-lb'), { token: blue });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /does not exist/);
  });

  it("is in the span of its backends' servers", async () => {
    assert.equal((await c.req('PUT', '/loadBalancers/lb3', lbDoc({ members: ['b1'], probes: [], rules: [{ resourceId: 'web', properties: { frontendIPConfigurations: fe('lb3'), backendAddressPool: pool('lb3'), protocol: 'TCP', frontendPort: 80 } }], nat: [] }, 'lb3'))).status, 201);
    const host = (await createToken(c.store, 'provider', 'host', 'h1')).token;
    const span = await request(c.url, 'GET', '/networking/v1/southbound/servers/h1/span', undefined, { token: host });
    assert.ok(span.body.resources.some((r: { resourceRef: string }) => r.resourceRef === '/loadBalancers/lb3'), JSON.stringify(span.body.resources.map((r: { resourceRef: string }) => r.resourceRef)));
  });
});
