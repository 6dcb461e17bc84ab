/**
 * Every northbound resource over real HTTP on a SQLite store: create (201), get, list, replace (200,
 * instanceId kept, a new etag), the same PUT again (nothing written), etag preconditions (412 and
 * nothing changed), delete (204, then 404). Children at their own URLs and inline in their parent
 * are one thing seen twice. A credential's value is never returned and survives a replace without it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { resourceKey } from '../../src/controller/keys.js';
import { startController, type TestController } from './api-fixture.js';

let c: TestController;
before(async () => {
  c = await startController();
});
after(async () => {
  await c?.close();
});

interface Case {
  path: string;
  create: Record<string, unknown>;
  replace: Record<string, unknown>;
  /** a property of the replaced document to see in a GET */
  changed: (doc: Record<string, any>) => unknown;
  want: unknown;
}

const vnetProps = (extra: Record<string, unknown> = {}) => ({
  addressSpace: { addressPrefixes: ['10.0.0.0/16'] },
  logicalNetwork: { resourceRef: '/logicalNetworks/ln1' },
  subnets: [{ resourceId: 's1', properties: { addressPrefix: '10.0.1.0/24', accessControlList: { resourceRef: '/accessControlLists/acl1' }, routeTable: { resourceRef: '/routeTables/rt1' } } }],
  ...extra,
});

/** In dependency order: each refers only to those before it. */
const CASES: Case[] = [
  { path: '/credentials/cred1', create: { properties: { type: 'UsernamePassword', userName: 'ops', value: 's3cret' } }, replace: { properties: { type: 'UsernamePassword', userName: 'ops2' } }, changed: (d) => d.properties.userName, want: 'ops2' },
  {
    path: '/servers/h1',
    create: { properties: { connections: [{ managementAddresses: ['h1.example', '192.0.2.11'], credential: { resourceRef: '/credentials/cred1' } }] } },
    replace: { properties: { connections: [{ managementAddresses: ['192.0.2.12'], credential: { resourceRef: '/credentials/cred1' } }] } },
    changed: (d) => d.properties.connections[0].managementAddresses,
    want: ['192.0.2.12'],
  },
  {
    path: '/logicalNetworks/ln1',
    create: { properties: { networkVirtualizationEnabled: true, subnets: [{ resourceId: 'pa', properties: { addressPrefix: '192.168.0.0/24', vlanID: 7, defaultGateways: ['192.168.0.1'], dnsServers: ['192.168.0.53'], ipPools: [{ resourceId: 'p1', properties: { startIpAddress: '192.168.0.10', endIpAddress: '192.168.0.99' } }] } }] } },
    replace: { properties: { networkVirtualizationEnabled: true, subnets: [{ resourceId: 'pa', properties: { addressPrefix: '192.168.0.0/24', vlanID: 8 } }] } },
    changed: (d) => d.properties.subnets[0].properties.vlanID,
    want: 8,
  },
  { path: '/macPools/mp1', create: { properties: { startMacAddress: '00-1D-D8-00-00-00', endMacAddress: '00-1D-D8-00-00-FF' } }, replace: { properties: { startMacAddress: '00-1D-D8-00-00-00', endMacAddress: '00-1D-D8-00-0F-FF' } }, changed: (d) => d.properties.endMacAddress, want: '00-1D-D8-00-0F-FF' },
  {
    path: '/accessControlLists/acl1',
    create: { properties: { aclRules: [{ resourceId: 'web', properties: { protocol: 'TCP', destinationPortRange: '80', sourceAddressPrefix: '192.0.2.0/24', action: 'Allow', type: 'Inbound', priority: 100 } }] } },
    replace: { properties: { aclRules: [{ resourceId: 'web', properties: { protocol: 'TCP', destinationPortRange: '443', action: 'Allow', type: 'Inbound', priority: 100, logging: 'Enabled' } }] } },
    changed: (d) => d.properties.aclRules[0].properties,
    want: { protocol: 'TCP', destinationPortRange: '443', action: 'Allow', type: 'Inbound', priority: 100, logging: 'Enabled', sourcePortRange: '*', sourceAddressPrefix: '*', destinationAddressPrefix: '*', provisioningState: 'Succeeded' },
  },
  {
    path: '/routeTables/rt1',
    create: { properties: { routes: [{ resourceId: 'r1', properties: { addressPrefix: '0.0.0.0/0', nextHopType: 'VirtualAppliance', nextHopIpAddress: '10.0.1.4' } }] } },
    replace: { properties: { routes: [{ resourceId: 'r1', properties: { addressPrefix: '0.0.0.0/0', nextHopType: 'Internet' } }] } },
    changed: (d) => d.properties.routes[0].properties.nextHopType,
    want: 'Internet',
  },
  { path: '/publicIPAddresses/pip1', create: { properties: { ipAddress: '203.0.113.10' } }, replace: { properties: { ipAddress: '203.0.113.11', publicIPAllocationMethod: 'Static' } }, changed: (d) => d.properties.ipAddress, want: '203.0.113.11' },
  { path: '/virtualNetworks/vnet1', create: { tags: { env: 'test' }, properties: vnetProps() }, replace: { properties: vnetProps({ addressSpace: { addressPrefixes: ['10.0.0.0/16', '10.9.0.0/16'] } }) }, changed: (d) => d.properties.addressSpace.addressPrefixes, want: ['10.0.0.0/16', '10.9.0.0/16'] },
  {
    path: '/networkInterfaces/nic1',
    create: {
      properties: {
        server: { resourceRef: '/servers/h1' },
        dnsSettings: { dnsServers: ['10.0.0.53'] },
        portSettings: { macSpoofing: 'Disabled', qosSettings: { outboundMaximumMbps: 100, inboundMaximumMbps: 200 } },
        ipConfigurations: [{ resourceId: 'ip1', properties: { privateIPAddress: '10.0.1.10', privateIPAllocationMethod: 'Static', subnet: { resourceRef: '/virtualNetworks/vnet1/subnets/s1' }, accessControlList: { resourceRef: '/accessControlLists/acl1' }, publicIPAddress: { resourceRef: '/publicIPAddresses/pip1' } } }],
      },
    },
    replace: { properties: { portSettings: { qosSettings: { outboundMaximumMbps: 50 } }, ipConfigurations: [{ resourceId: 'ip1', properties: { subnet: { resourceRef: '/virtualNetworks/vnet1/subnets/s1' } } }] } },
    changed: (d) => [d.properties.portSettings, d.properties.ipConfigurations[0].properties.privateIPAllocationMethod],
    want: [{ qosSettings: { outboundMaximumMbps: 50 } }, 'Dynamic'],
  },
];

describe('every resource: create, get, list, replace, preconditions, delete', () => {
  for (const k of CASES) {
    it(k.path, async () => {
      const collection = k.path.split('/')[1]!;
      const id = k.path.split('/')[2]!;
      const made = await c.req('PUT', k.path, k.create);
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const doc = made.body;
      assert.equal(doc.resourceId, id);
      assert.equal(doc.resourceRef, k.path);
      assert.match(doc.instanceId, /^[0-9a-f-]{36}$/);
      assert.match(doc.etag, /^W\/"\d+"$/);
      assert.equal(made.headers.get('etag'), doc.etag);
      assert.equal(doc.properties.provisioningState, 'Succeeded');
      assert.equal(doc.resourceMetadata.tenantId, 'provider', 'stamped with the writer\'s tenant');

      const got = await c.req('GET', k.path);
      assert.equal(got.status, 200);
      assert.deepEqual(got.body, doc, 'a GET shows what the PUT answered');
      const list = await c.req('GET', `/${collection}`);
      assert.equal(list.status, 200);
      assert.deepEqual(list.body.value.find((d: { resourceId: string }) => d.resourceId === id), doc);

      // the same document again writes nothing: same etag
      const same = await c.req('PUT', k.path, k.create);
      assert.equal(same.status, 200, JSON.stringify(same.body));
      assert.equal(same.body.etag, doc.etag);

      // a GET written back is accepted as it is (read-only fields ignored), and changes nothing
      const back = await c.req('PUT', k.path, got.body);
      assert.equal(back.status, 200, JSON.stringify(back.body));
      assert.equal(back.body.etag, doc.etag);

      const before = await c.dump();
      const stale = await c.req('PUT', k.path, k.replace, { headers: { 'if-match': 'W/"1"' } });
      assert.equal(stale.status, 412);
      assert.equal(stale.body.code, 'PreconditionFailed');
      assert.equal((await c.req('PUT', k.path, k.replace, { headers: { 'if-none-match': '*' } })).status, 412);
      assert.equal(await c.dump(), before, 'a failed precondition writes nothing');

      const replaced = await c.req('PUT', k.path, k.replace, { headers: { 'if-match': doc.etag } });
      assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
      assert.equal(replaced.body.instanceId, doc.instanceId, 'instanceId is kept across a replace');
      assert.notEqual(replaced.body.etag, doc.etag);
      assert.deepEqual(k.changed((await c.req('GET', k.path)).body), k.want);
      assert.equal((await c.req('DELETE', k.path, undefined, { headers: { 'if-match': doc.etag } })).status, 412, 'a delete at a stale etag is refused');
    });
  }

  it('deletes every resource (dependents first): 204, then 404', async () => {
    for (const k of [...CASES].reverse()) {
      const del = await c.req('DELETE', k.path);
      assert.equal(del.status, 204, `${k.path}: ${JSON.stringify(del.body)}`);
      const gone = await c.req('GET', k.path);
      assert.equal(gone.status, 404);
      assert.equal(gone.body.code, 'ResourceNotFound');
      assert.equal((await c.req('DELETE', k.path)).status, 404);
    }
    // nothing is left behind: no claims, back references or resources
    const { kvs } = await c.store.range('/nc/');
    assert.deepEqual(kvs.map((kv) => kv.key).filter((key) => !key.startsWith('/nc/token/') && !key.startsWith('/nc/audit/') && !key.startsWith('/nc/refver') && !key.startsWith('/nc/guard/')), []);
  });
});

describe('credentials', () => {
  it('never return the value, and keep it over a replace that leaves it out', async () => {
    const put = await c.req('PUT', '/credentials/c2', { properties: { type: 'X509Certificate', value: 'PEM-DATA' } });
    assert.equal(put.status, 201);
    assert.equal(put.body.properties.value, undefined);
    assert.equal((await c.req('GET', '/credentials/c2')).body.properties.value, undefined);
    assert.ok(!JSON.stringify((await c.req('GET', '/credentials')).body).includes('PEM-DATA'));
    assert.equal((await c.req('PUT', '/credentials/c2', { properties: { type: 'X509Certificate' } })).status, 200);
    const stored = JSON.parse((await c.store.get(resourceKey('credentials', 'c2')))!.value);
    assert.equal(stored.doc.properties.value, 'PEM-DATA');
    const none = await c.req('PUT', '/credentials/c3', { properties: { type: 'X509Certificate' } });
    assert.equal(none.status, 400);
    assert.match(none.body.message, /\/properties\/value/);
    assert.equal((await c.req('DELETE', '/credentials/c2')).status, 204);
  });
});

describe('children at their own URLs and inline', () => {
  const CHILDREN = [
    { parent: '/virtualNetworks/vc', body: { properties: { addressSpace: { addressPrefixes: ['10.5.0.0/16'] } } }, child: 'subnets', item: { properties: { addressPrefix: '10.5.1.0/24' } } },
    { parent: '/logicalNetworks/lc', body: { properties: {} }, child: 'subnets', item: { properties: { addressPrefix: '172.16.1.0/24', vlanID: 3 } } },
    { parent: '/accessControlLists/ac', body: { properties: {} }, child: 'aclRules', item: { properties: { protocol: 'UDP', action: 'Deny', type: 'Outbound', priority: 200 } } },
    { parent: '/routeTables/rc', body: { properties: {} }, child: 'routes', item: { properties: { addressPrefix: '10.8.0.0/16', nextHopType: 'None' } } },
  ];
  for (const t of CHILDREN) {
    it(`${t.parent}/${t.child}`, async () => {
      assert.equal((await c.req('PUT', t.parent, t.body)).status, 201);
      const url = `${t.parent}/${t.child}/x1`;
      const made = await c.req('PUT', url, t.item);
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.resourceRef, url);
      const parent = await c.req('GET', t.parent);
      assert.equal(made.body.etag, parent.body.etag, "a child's etag is its parent's");
      assert.deepEqual(parent.body.properties[t.child], [made.body], 'the child is inline in its parent');
      assert.deepEqual((await c.req('GET', url)).body, made.body);
      assert.deepEqual((await c.req('GET', `${t.parent}/${t.child}`)).body, { value: [made.body] });
      // replace at the child's URL keeps its instanceId; a stale If-Match is refused
      const again = await c.req('PUT', url, made.body, { headers: { 'if-match': made.body.etag } });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal(again.body.instanceId, made.body.instanceId);
      assert.equal((await c.req('PUT', url, t.item, { headers: { 'if-none-match': '*' } })).status, 412);
      assert.equal((await c.req('PUT', `${t.parent}/${t.child}/x2`, t.item, { headers: { 'if-match': '*' } })).status, 412, 'If-Match "*" needs the child to exist');
      assert.equal((await c.req('PUT', url, { ...t.item, resourceId: 'other' })).status, 400);
      // the parent's inline PUT without it removes it at its own URL too
      const wiped = await c.req('PUT', t.parent, t.body);
      assert.equal(wiped.status, 200);
      assert.equal((await c.req('GET', url)).status, 404);
      assert.equal((await c.req('PUT', url, t.item)).status, 201);
      assert.equal((await c.req('DELETE', url)).status, 204);
      assert.equal((await c.req('GET', url)).status, 404);
      assert.deepEqual((await c.req('GET', t.parent)).body.properties[t.child], []);
      assert.equal((await c.req('DELETE', url)).status, 404);
      assert.equal((await c.req('PUT', `${t.parent}-missing/${t.child}/x1`, t.item)).status, 404, 'no child without its parent');
      assert.equal((await c.req('DELETE', t.parent)).status, 204);
    });
  }
});
