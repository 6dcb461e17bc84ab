/**
 * The southbound channel over real HTTP: a server's span holds exactly its NICs and what they
 * reference plus the CA→PA mappings of the other NICs in their virtual networks; host tokens are
 * scoped to one server; the watch sends what differs from what the host has and then one change per
 * change (one ACL edited: one put; an unrelated change: nothing); heartbeats give PAs and health;
 * reports become configurationState aggregated over hosts, refused outside the span.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createToken } from '../../src/controller/auth.js';
import { request, startController, type TestController } from './api-fixture.js';
import { openEventStream, type SseEvent, type SseStream } from './sse-client.js';

let c: TestController;
const tokens: Record<string, string> = {};
const streams: SseStream[] = [];
before(async () => {
  c = await startController({ watch: { keepaliveMs: 200 } });
  for (const h of ['h1', 'h2', 'h3']) {
    assert.equal((await c.req('PUT', `/servers/${h}`, { properties: {} })).status, 201);
    tokens[h] = (await createToken(c.store, 'provider', 'host', h)).token;
  }
  const acl = (prio: number) => ({ properties: { aclRules: [{ resourceId: 'r1', properties: { protocol: 'TCP', action: 'Allow', type: 'Inbound', priority: prio, destinationPortRange: '80' } }] } });
  const docs: [string, unknown][] = [
    ['/macPools/mp', { properties: { startMacAddress: '00-1D-D8-00-00-00', endMacAddress: '00-1D-D8-00-00-FF' } }],
    ['/accessControlLists/a1', acl(100)],
    ['/accessControlLists/a2', acl(100)],
    ['/accessControlLists/other', acl(100)],
    ['/virtualNetworks/v1', { properties: { addressSpace: { addressPrefixes: ['10.1.0.0/16'] }, subnets: [
      { resourceId: 's1', properties: { addressPrefix: '10.1.1.0/24', accessControlList: { resourceRef: '/accessControlLists/a1' } } },
      { resourceId: 's2', properties: { addressPrefix: '10.1.2.0/24' } },
    ] } }],
    ['/virtualNetworks/v2', { properties: { addressSpace: { addressPrefixes: ['10.1.0.0/16'] }, subnets: [{ resourceId: 's1', properties: { addressPrefix: '10.1.1.0/24' } }] } }],
    ['/networkInterfaces/n1', nic('h1', '/virtualNetworks/v1/subnets/s1', '/accessControlLists/a2')],
    ['/networkInterfaces/n2', nic('h2', '/virtualNetworks/v1/subnets/s2')],
    ['/networkInterfaces/n3', nic('h3', '/virtualNetworks/v2/subnets/s1')],
  ];
  for (const [path, body] of docs) assert.equal((await c.req('PUT', path, body)).status, 201, path);
});
after(async () => {
  for (const s of streams) s.close();
  await c?.close();
});

function nic(server: string, subnet: string, acl?: string) {
  return { properties: { server: { resourceRef: `/servers/${server}` }, ipConfigurations: [{ resourceId: 'ip', properties: { subnet: { resourceRef: subnet }, ...(acl ? { accessControlList: { resourceRef: acl } } : {}) } }] } };
}
const sb = (host: string, method: string, path: string, body?: unknown, token = tokens[host]) => request(c.url, method, `/networking/v1/southbound/servers/${host}${path}`, body, { token: token ?? null });
/** POST …/watch with what the host has, read as server-sent events */
async function postWatch(host: string, have: Record<string, string>): Promise<SseStream> {
  const s = await openEventStream(`${c.url}/networking/v1/southbound/servers/${host}/watch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens[host]}`, 'content-type': 'application/json' },
    body: JSON.stringify({ have }),
  });
  assert.equal(s.status, 200);
  streams.push(s);
  return s;
}
const refs = (list: { resourceRef: string }[]) => list.map((r) => r.resourceRef).sort();
const haveOf = (span: any): Record<string, string> => Object.fromEntries([...span.resources, ...span.remoteEndpoints].map((r: { resourceRef?: string; etag: string; remoteEndpoint?: { resourceRef: string } }) => [r.resourceRef ?? r.remoteEndpoint!.resourceRef, r.etag]));

describe('southbound: span, scope, watch, heartbeat, reports', () => {
  it("a server's span is its NICs, what they reference, and the other NICs of their virtual networks as remote endpoints", async () => {
    const span = (await sb('h1', 'GET', '/span')).body;
    assert.deepEqual(refs(span.resources), ['/accessControlLists/a1', '/accessControlLists/a2', '/networkInterfaces/n1', '/servers/h1', '/virtualNetworks/v1']);
    assert.equal(span.remoteEndpoints.length, 1);
    const r = span.remoteEndpoints[0].remoteEndpoint;
    const n2 = (await c.req('GET', '/networkInterfaces/n2')).body;
    assert.deepEqual(r, {
      resourceRef: '/networkInterfaces/n2/ipConfigurations/ip',
      networkInterface: '/networkInterfaces/n2',
      macAddress: n2.properties.privateMacAddress,
      ipAddress: n2.properties.ipConfigurations[0].properties.privateIPAddress,
      subnet: '/virtualNetworks/v1/subnets/s2',
      virtualNetwork: '/virtualNetworks/v1',
      server: '/servers/h2',
      providerAddresses: [],
    });
    const h3 = (await sb('h3', 'GET', '/span')).body;
    assert.deepEqual(refs(h3.resources), ['/networkInterfaces/n3', '/servers/h3', '/virtualNetworks/v2']);
    assert.deepEqual(h3.remoteEndpoints, [], 'v2 has no NIC elsewhere: the overlapping v1 is not in its span');
  });

  it('scopes host tokens to their server and the southbound API', async () => {
    assert.equal((await sb('h2', 'GET', '/span', undefined, tokens.h1)).status, 403);
    assert.equal((await request(c.url, 'GET', '/virtualNetworks', undefined, { token: tokens.h1! })).status, 403);
    assert.equal((await request(c.url, 'GET', '/watch', undefined, { token: tokens.h1! })).status, 403);
    assert.equal((await sb('h1', 'GET', '/span', undefined, await c.tenant('blue'))).status, 403);
    assert.equal((await sb('h1', 'GET', '/span', undefined, c.admin)).status, 200, 'an admin may look');
    assert.equal((await request(c.url, 'GET', '/networking/v1/southbound/servers/h1/span', undefined, { token: null })).status, 401);
    assert.equal((await sb('nope', 'GET', '/span', undefined, c.admin)).status, 404);
  });

  it('a heartbeat shows as the server’s health and gives its NICs their provider address', async () => {
    assert.equal((await sb('h2', 'PUT', '/heartbeat', { hostdVersion: '0.1.0', supportedModes: ['NAT', 'Overlay'], providerAddresses: ['10.0.0.12'] })).status, 204);
    const h2 = (await c.req('GET', '/servers/h2')).body;
    assert.equal(h2.properties.configurationState.hostdVersion, '0.1.0');
    assert.deepEqual(h2.properties.configurationState.supportedModes, ['NAT', 'Overlay']);
    assert.ok(Date.now() - Date.parse(h2.properties.configurationState.lastHeartbeat) < 60_000);
    const span = (await sb('h1', 'GET', '/span')).body;
    assert.deepEqual(span.remoteEndpoints[0].remoteEndpoint.providerAddresses, ['10.0.0.12']);
    for (const bad of [{ hostdVersion: '0.1', supportedModes: ['Bogus'] }, { hostdVersion: '0.1', supportedModes: [], providerAddresses: ['300.1.1.1'] }, { hostdVersion: 'x y', supportedModes: [] }]) {
      assert.equal((await sb('h2', 'PUT', '/heartbeat', bad)).status, 400, JSON.stringify(bad));
    }
  });

  it('watch: only what differs from what the host has, then one event per change that concerns it', async () => {
    const span = (await sb('h1', 'GET', '/span')).body;
    const have = haveOf(span);
    // the host has all but a2 at an old etag, and something that has left its span since
    have['/accessControlLists/a2'] = 'W/"1"';
    have['/networkInterfaces/gone'] = 'W/"2"';
    const s = await postWatch('h1', have);
    const first: SseEvent[] = [];
    for (;;) {
      const e = await s.next();
      if (e.event === 'ready') break;
      first.push(e);
    }
    assert.deepEqual(first.map((e) => [e.event, e.data.resourceRef]), [['put', '/accessControlLists/a2'], ['delete', '/networkInterfaces/gone']]);
    assert.equal(first[0]!.data.resource.properties.aclRules[0].properties.priority, 100);

    // an ACL outside the span changes: nothing is sent; then one rule of a1 changes: one put of a1
    const acl = (prio: number) => ({ properties: { aclRules: [{ resourceId: 'r1', properties: { protocol: 'TCP', action: 'Allow', type: 'Inbound', priority: prio, destinationPortRange: '80' } }] } });
    assert.equal((await c.req('PUT', '/accessControlLists/other', acl(300))).status, 200);
    assert.equal((await c.req('PUT', '/accessControlLists/a1/aclRules/r1', acl(200).properties.aclRules[0])).status, 200);
    const put = await s.next();
    assert.deepEqual([put.event, put.data.resourceRef], ['put', '/accessControlLists/a1']);
    assert.equal(put.data.resource.properties.aclRules[0].properties.priority, 200);
    assert.equal(put.id, String(put.data.revision));

    // a NIC appears on h2 in v1: one remote endpoint for h1
    assert.equal((await c.req('PUT', '/networkInterfaces/n4', nic('h2', '/virtualNetworks/v1/subnets/s1'))).status, 201);
    const remote = await s.next();
    assert.deepEqual([remote.event, remote.data.resourceRef], ['remote', '/networkInterfaces/n4/ipConfigurations/ip']);
    assert.deepEqual(remote.data.remoteEndpoint.providerAddresses, ['10.0.0.12']);

    // h2 moves to another PA: both its mappings change
    assert.equal((await sb('h2', 'PUT', '/heartbeat', { hostdVersion: '0.1.0', supportedModes: ['Overlay'], providerAddresses: ['10.0.0.22'] })).status, 204);
    const moved = [await s.next(), await s.next()];
    assert.deepEqual(moved.map((e) => e.data.resourceRef).sort(), ['/networkInterfaces/n2/ipConfigurations/ip', '/networkInterfaces/n4/ipConfigurations/ip']);
    assert.ok(moved.every((e) => e.event === 'remote' && e.data.remoteEndpoint.providerAddresses[0] === '10.0.0.22'));

    // n4 goes: its mapping is deleted; n1 leaves h1: everything it brought leaves the span
    assert.equal((await c.req('DELETE', '/networkInterfaces/n4')).status, 204);
    const gone = await s.next();
    assert.deepEqual([gone.event, gone.data.resourceRef], ['delete', '/networkInterfaces/n4/ipConfigurations/ip']);
    const n1 = (await c.req('GET', '/networkInterfaces/n1')).body;
    delete n1.properties.server;
    assert.equal((await c.req('PUT', '/networkInterfaces/n1', n1)).status, 200);
    const left = await Promise.all(Array.from({ length: 5 }, () => s.next()));
    assert.deepEqual(left.map((e) => `${e.event} ${e.data.resourceRef}`).sort(), [
      'delete /accessControlLists/a1',
      'delete /accessControlLists/a2',
      'delete /networkInterfaces/n1',
      'delete /networkInterfaces/n2/ipConfigurations/ip',
      'delete /virtualNetworks/v1',
    ]);
    assert.deepEqual(refs((await sb('h1', 'GET', '/span')).body.resources), ['/servers/h1'], 'the server alone is left');
  });

  it('reports become configurationState, aggregated over the hosts; refs outside the span are refused', async () => {
    // n1 is back on h1
    const n1 = (await c.req('GET', '/networkInterfaces/n1')).body;
    n1.properties.server = { resourceRef: '/servers/h1' };
    assert.equal((await c.req('PUT', '/networkInterfaces/n1', n1)).status, 200);
    assert.equal((await sb('h1', 'PUT', '/reports', { reports: [{ resourceRef: '/networkInterfaces/n1', status: 'Success' }, { resourceRef: '/virtualNetworks/v1', status: 'Success' }] })).status, 204);
    const nicState = (await c.req('GET', '/networkInterfaces/n1')).body.properties.configurationState;
    assert.equal(nicState.status, 'Success');
    assert.equal(nicState.hosts.h1.status, 'Success');
    assert.equal((await sb('h2', 'PUT', '/reports', { reports: [{ resourceRef: '/virtualNetworks/v1', status: 'Failure', detailedInfo: [{ code: 'SY_KERNEL', message: 'vxlan: no such device' }] }] })).status, 204);
    const v1 = (await c.req('GET', '/virtualNetworks/v1')).body.properties.configurationState;
    assert.equal(v1.status, 'Failure', 'one host failed: the resource failed');
    assert.deepEqual(v1.detailedInfo, [{ source: '/servers/h2', code: 'SY_KERNEL', message: 'vxlan: no such device' }]);
    assert.deepEqual(Object.keys(v1.hosts).sort(), ['h1', 'h2']);
    const before = await c.dump();
    for (const bad of [
      { reports: [{ resourceRef: '/virtualNetworks/v2', status: 'Success' }] },
      { reports: [{ resourceRef: '/servers/h1', status: 'Success' }] },
      { reports: [{ resourceRef: '/networkInterfaces/n1', status: 'Fine' }] },
      { reports: [] },
    ]) {
      const r = await sb('h1', 'PUT', '/reports', bad);
      assert.ok(r.status === 403 || r.status === 400, `${JSON.stringify(bad)}: ${r.status}`);
    }
    assert.equal(await c.dump(), before, 'refused reports changed nothing');
  });
});
