/**
 * Who may do what, over HTTP: no token, a malformed, unknown or revoked token → 401 (the body is not
 * even read); a tenant sees and writes only its own resources, gets 404 (never 403) for another
 * tenant's, cannot refer to them, and cannot touch provider collections; an admin sees everything;
 * the audit log records who changed what with the etags before and after, and only admins read it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createToken, revokeToken } from '../../src/controller/auth.js';
import { startController, type TestController } from './api-fixture.js';

let c: TestController;
let red: string;
let blue: string;
before(async () => {
  c = await startController();
  red = await c.tenant('red');
  blue = await c.tenant('blue');
  assert.equal((await c.req('PUT', '/macPools/mp', { properties: { startMacAddress: '00-1D-D8-00-00-00', endMacAddress: '00-1D-D8-00-00-FF' } })).status, 201);
});
after(async () => {
  await c?.close();
});

const vnet = (prefix: string) => ({ properties: { addressSpace: { addressPrefixes: [prefix] }, subnets: [{ resourceId: 's', properties: { addressPrefix: prefix } }] } });

describe('authentication', () => {
  it('refuses requests without a valid token, on every route', async () => {
    const bad = [null, 'short', 'nc1.0000000000000000.' + 'A'.repeat(43), `${c.admin}x`, c.admin.replace(/.$/, (ch) => (ch === 'A' ? 'B' : 'A'))];
    for (const token of bad) {
      for (const [m, p] of [['GET', '/virtualNetworks'], ['PUT', '/virtualNetworks/x'], ['GET', '/openapi.json'], ['GET', '/auditLog'], ['DELETE', '/macPools/mp'], ['GET', '/nope']]) {
        const before = await c.dump();
        const r = await c.req(m!, p!, m === 'PUT' ? vnet('10.0.0.0/24') : undefined, { token });
        assert.equal(r.status, 401, `${m} ${p} with ${String(token)}`);
        assert.equal(r.body.code, 'Unauthorized');
        assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
        assert.equal(await c.dump(), before);
      }
    }
    assert.equal((await c.req('GET', '/virtualNetworks', undefined, { token: null, headers: { authorization: `Basic ${c.admin}` } })).status, 401, 'Bearer only');
    assert.equal((await c.req('GET', '/virtualNetworks', undefined, { token: null, headers: { authorization: `bearer ${c.admin}` } })).status, 200, 'the scheme is case-insensitive');
  });

  it('stops taking a token the moment it is revoked', async () => {
    const t = await createToken(c.store, 'green', 'tenant');
    assert.equal((await c.req('GET', '/virtualNetworks', undefined, { token: t.token })).status, 200);
    await revokeToken(c.store, t.id);
    assert.equal((await c.req('GET', '/virtualNetworks', undefined, { token: t.token })).status, 401);
    const stored = JSON.stringify((await c.store.range('/nc/token/')).kvs);
    assert.ok(!stored.includes(red.split('.')[2]!), 'the store holds no token, only hashes');
  });
});

describe('tenants', () => {
  it('see and change only their own resources; others\' are 404, never 403', async () => {
    const made = await c.req('PUT', '/virtualNetworks/red-net', vnet('10.1.0.0/24'), { token: red });
    assert.equal(made.status, 201);
    assert.equal(made.body.resourceMetadata.tenantId, 'red');
    assert.equal((await c.req('PUT', '/virtualNetworks/blue-net', vnet('10.1.0.0/24'), { token: blue })).status, 201, 'tenants may use the same prefixes');

    const before = await c.dump();
    for (const [m, p] of [['GET', '/virtualNetworks/red-net'], ['GET', '/virtualNetworks/red-net/subnets'], ['GET', '/virtualNetworks/red-net/subnets/s'], ['DELETE', '/virtualNetworks/red-net'], ['DELETE', '/virtualNetworks/red-net/subnets/s']]) {
      const r = await c.req(m!, p!, undefined, { token: blue });
      assert.equal(r.status, 404, `${m} ${p}`);
      const none = await c.req(m!, p!.replace('red-net', 'no-net'), undefined, { token: blue });
      assert.deepEqual(r.body, JSON.parse(JSON.stringify(none.body).replace('no-net', 'red-net')), 'answered as if it did not exist');
    }
    assert.equal((await c.req('PUT', '/virtualNetworks/red-net', vnet('10.9.0.0/24'), { token: blue })).status, 404, 'a PUT on the id of another tenant\'s resource');
    assert.equal((await c.req('PUT', '/virtualNetworks/red-net/subnets/t', { properties: { addressPrefix: '10.1.0.0/25' } }, { token: blue })).status, 404);
    assert.equal(await c.dump(), before, 'nothing of red\'s changed');

    const blueList = (await c.req('GET', '/virtualNetworks', undefined, { token: blue })).body.value.map((d: { resourceId: string }) => d.resourceId);
    assert.deepEqual(blueList, ['blue-net']);
    const all = (await c.req('GET', '/virtualNetworks')).body.value.map((d: { resourceId: string }) => d.resourceId).sort();
    assert.deepEqual(all, ['blue-net', 'red-net'], 'an admin sees every tenant');
  });

  it('cannot refer to another tenant\'s resources (they are missing)', async () => {
    const r = await c.req('PUT', '/networkInterfaces/blue-nic', { properties: { ipConfigurations: [{ resourceId: 'c', properties: { subnet: { resourceRef: '/virtualNetworks/red-net/subnets/s' } } }] } }, { token: blue });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /"\/virtualNetworks\/red-net\/subnets\/s" does not exist/);
    const ok = await c.req('PUT', '/networkInterfaces/blue-nic', { properties: { ipConfigurations: [{ resourceId: 'c', properties: { subnet: { resourceRef: '/virtualNetworks/blue-net/subnets/s' } } }] } }, { token: blue });
    assert.equal(ok.status, 201, 'macPools are the provider\'s, shared by every tenant');
    // an admin writing for red cannot wire red's NIC to blue's subnet either
    const cross = await c.req('PUT', '/networkInterfaces/red-nic', { resourceMetadata: { tenantId: 'red' }, properties: { ipConfigurations: [{ resourceId: 'c', properties: { subnet: { resourceRef: '/virtualNetworks/blue-net/subnets/s' } } }] } });
    assert.equal(cross.status, 400);
    const forRed = await c.req('PUT', '/networkInterfaces/red-nic', { resourceMetadata: { tenantId: 'red' }, properties: { ipConfigurations: [{ resourceId: 'c', properties: { subnet: { resourceRef: '/virtualNetworks/red-net/subnets/s' } } }] } });
    assert.equal(forRed.status, 201);
    assert.equal((await c.req('GET', '/networkInterfaces/red-nic', undefined, { token: red })).status, 200, 'made by an admin for red: red\'s');
    assert.equal((await c.req('PUT', '/virtualNetworks/x', { resourceMetadata: { tenantId: 'blue' }, ...vnet('10.7.0.0/24') }, { token: red })).status, 400, 'a tenant token makes only its own tenant\'s');
  });

  it('may not touch provider collections (logicalNetworks, servers, credentials, macPools)', async () => {
    for (const coll of ['logicalNetworks', 'servers', 'credentials', 'macPools']) {
      assert.equal((await c.req('GET', `/${coll}`, undefined, { token: red })).status, 403, coll);
      assert.equal((await c.req('GET', `/${coll}/mp`, undefined, { token: red })).status, 403, coll);
      const r = await c.req('PUT', `/${coll}/t`, { properties: {} }, { token: red });
      assert.equal(r.status, 403, coll);
      assert.equal(r.body.code, 'Forbidden');
    }
    assert.equal((await c.req('DELETE', '/macPools/mp', undefined, { token: red })).status, 403);
    assert.equal((await c.req('GET', '/macPools/mp')).status, 200);
  });
});

describe('the audit log', () => {
  it('says who changed what, with etags before and after; admins only', async () => {
    const t = await createToken(c.store, 'audited', 'tenant');
    const made = await c.req('PUT', '/accessControlLists/audited-acl', { properties: {} }, { token: t.token });
    const changed = await c.req('PUT', '/accessControlLists/audited-acl/aclRules/r', { properties: { protocol: 'All', action: 'Deny', type: 'Inbound', priority: 1 } }, { token: t.token });
    assert.equal((await c.req('DELETE', '/accessControlLists/audited-acl', undefined, { token: t.token })).status, 204);
    assert.equal((await c.req('PUT', '/accessControlLists/audited-acl-bad', { properties: { x: 1 } }, { token: t.token })).status, 400);
    assert.equal((await c.req('GET', '/auditLog', undefined, { token: t.token })).status, 403);
    const log = (await c.req('GET', '/auditLog?limit=1000')).body.value.filter((e: { tokenId: string }) => e.tokenId === t.id);
    assert.deepEqual(
      log.map((e: any) => [e.method, e.resourceRef, e.tenant, e.role, e.etagBefore, e.etagAfter]),
      [
        ['PUT', '/accessControlLists/audited-acl', 'audited', 'tenant', null, made.body.etag],
        ['PUT', '/accessControlLists/audited-acl/aclRules/r', 'audited', 'tenant', made.body.etag, changed.body.etag],
        ['DELETE', '/accessControlLists/audited-acl', 'audited', 'tenant', changed.body.etag, null],
      ],
      'refused writes leave no entry',
    );
    assert.ok(log.every((e: { time: string }) => !Number.isNaN(Date.parse(e.time))));
    assert.equal((await c.req('GET', '/auditLog?limit=2')).body.value.length, 2);
    assert.equal((await c.req('GET', '/auditLog?limit=0')).status, 400);
  });
});
