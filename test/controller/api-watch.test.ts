/**
 * The northbound change stream (GET /networking/v1/watch, server-sent events) over real HTTP: a list's
 * X-Sy-Revision and a watch from it miss nothing, events carry what a GET shows, tenants see only
 * their own resources, Last-Event-ID resumes, a compacted revision and a revoked token end the
 * stream with an error event, and bad parameters are refused before any stream starts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createToken, revokeToken } from '../../src/controller/auth.js';
import { statusKey } from '../../src/controller/keys.js';
import { startController, type TestController } from './api-fixture.js';
import { openWatch, type SseEvent, type SseStream } from './sse-client.js';

let c: TestController;
const streams: SseStream[] = [];
before(async () => {
  c = await startController({ watch: { keepaliveMs: 200 } });
});
after(async () => {
  for (const s of streams) s.close();
  await c?.close();
});

/** a virtual network of `prefix` with one subnet s1, the first /24 of it */
const vnet = (prefix: string) => ({ properties: { addressSpace: { addressPrefixes: [prefix] }, subnets: [{ resourceId: 's1', properties: { addressPrefix: prefix.replace(/\/\d+$/, '/24') } }] } });
async function watch(token: string, query = '', headers: Record<string, string> = {}): Promise<SseStream> {
  const s = await openWatch(c.url, token, query, headers);
  streams.push(s);
  return s;
}
const isPut = (ref: string) => (e: SseEvent) => e.event === 'put' && e.data.resourceRef === ref;

describe('GET /networking/v1/watch', () => {
  it('after a list, streams puts and deletes from the list revision on, each as a GET shows it', async () => {
    assert.equal((await c.req('PUT', '/virtualNetworks/before', vnet('10.10.0.0/16'))).status, 201);
    const listed = await c.req('GET', '/virtualNetworks');
    const rev = Number(listed.headers.get('x-sy-revision'));
    assert.ok(rev > 0, 'a list says its revision');
    const put = await c.req('PUT', '/virtualNetworks/w1', vnet('10.11.0.0/16'));
    assert.equal(put.status, 201);
    // opened after the PUT, from the list's revision: the PUT is not missed
    const s = await watch(c.admin, `?fromRevision=${rev + 1}`);
    assert.equal(s.status, 200);
    assert.match(s.contentType ?? '', /^text\/event-stream/);
    const ready = await s.next((e) => e.event === 'ready');
    assert.equal(ready.data.revision, rev);
    const ev = await s.next(isPut('/virtualNetworks/w1'));
    assert.equal(ev.id, String(ev.data.revision));
    assert.deepEqual(ev.data.resource, (await c.req('GET', '/virtualNetworks/w1')).body, 'the event carries the resource as GET shows it');
    assert.equal(ev.data.resource.etag, put.headers.get('etag'));
    assert.ok(!s.pending().some(isPut('/virtualNetworks/before')), 'nothing from before the list revision');
    assert.equal((await c.req('DELETE', '/virtualNetworks/w1')).status, 204);
    const del = await s.next((e) => e.event === 'delete');
    assert.deepEqual([del.data.type, del.data.resourceRef], ['delete', '/virtualNetworks/w1']);
    assert.ok(del.data.revision > ev.data.revision);
  });

  it('from now by default; a collection filter; child writes arrive as their parent', async () => {
    const s = await watch(c.admin, '?collection=virtualNetworks');
    await s.next((e) => e.event === 'ready');
    assert.equal((await c.req('PUT', '/macPools/mp1', { properties: { startMacAddress: '00-1D-D8-00-00-00', endMacAddress: '00-1D-D8-00-00-FF' } })).status, 201);
    assert.equal((await c.req('PUT', '/virtualNetworks/w2', vnet('10.12.0.0/16'))).status, 201);
    assert.equal((await c.req('PUT', '/virtualNetworks/w2/subnets/s2', { properties: { addressPrefix: '10.12.9.0/24' } })).status, 201);
    await s.next(isPut('/virtualNetworks/w2'));
    const child = await s.next(isPut('/virtualNetworks/w2'));
    assert.deepEqual(child.data.resource.properties.subnets.map((x: { resourceId: string }) => x.resourceId), ['s1', 's2']);
    assert.ok(!s.pending().some((e) => e.data.resourceRef === '/macPools/mp1'), 'the filter keeps other collections out');
  });

  it('shows a tenant only its own resources, and refuses it provider collections', async () => {
    const blue = await c.tenant('blue');
    const red = await c.tenant('red');
    const s = await watch(blue);
    await s.next((e) => e.event === 'ready');
    assert.equal((await c.req('PUT', '/virtualNetworks/red-net', vnet('10.1.0.0/24'), { token: red })).status, 201);
    assert.equal((await c.req('DELETE', '/virtualNetworks/red-net', undefined, { token: red })).status, 204);
    assert.equal((await c.req('PUT', '/virtualNetworks/blue-net', vnet('10.1.0.0/24'), { token: blue })).status, 201);
    await s.next(isPut('/virtualNetworks/blue-net'));
    assert.deepEqual(
      s.pending().filter((e) => String(e.data.resourceRef).includes('red')),
      [],
      "red's put and delete came before blue's put and were not sent",
    );
    const refused = await c.req('GET', '/watch?collection=servers', undefined, { token: blue });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.syCode, 'SY_FORBIDDEN');
  });

  it('sends configuration states reported for a resource', async () => {
    assert.equal((await c.req('PUT', '/virtualNetworks/w3', vnet('10.13.0.0/16'))).status, 201);
    const s = await watch(c.admin);
    await s.next((e) => e.event === 'ready');
    // as a host agent reports it (next issue): a key under /nc/status
    await c.store.put(statusKey('/virtualNetworks/w3'), JSON.stringify({ status: 'Success' }));
    const ev = await s.next((e) => e.event === 'configurationState');
    assert.equal(ev.data.resourceRef, '/virtualNetworks/w3');
    assert.deepEqual(ev.data.configurationState, { status: 'Success' });
  });

  it('resumes after Last-Event-ID without repeating or skipping', async () => {
    const s = await watch(c.admin, '?collection=virtualNetworks');
    await s.next((e) => e.event === 'ready');
    await c.req('PUT', '/virtualNetworks/r1', vnet('10.14.0.0/16'));
    const first = await s.next(isPut('/virtualNetworks/r1'));
    s.close();
    await c.req('PUT', '/virtualNetworks/r2', vnet('10.15.0.0/16'));
    await c.req('PUT', '/virtualNetworks/r3', vnet('10.16.0.0/16'));
    const again = await watch(c.admin, '?collection=virtualNetworks', { 'last-event-id': first.id! });
    const r2 = await again.next((e) => e.event === 'put');
    assert.equal(r2.data.resourceRef, '/virtualNetworks/r2', 'the first event after the resume point, not r1 again');
    await again.next(isPut('/virtualNetworks/r3'));
  });

  it('ends with a Gone error event when the revision is compacted', async () => {
    const rev = await c.store.revision();
    await c.store.compact(rev);
    const s = await watch(c.admin, '?fromRevision=1');
    const err = await s.next((e) => e.event === 'error');
    assert.equal(err.data.code, 'Gone');
    assert.equal(err.data.syCode, 'SY_COMPACTED');
    await s.ended;
  });

  it('ends when its token is revoked', async () => {
    const t = await createToken(c.store, 'green', 'tenant');
    const s = await watch(t.token);
    await s.next((e) => e.event === 'ready');
    await revokeToken(c.store, t.id);
    const err = await s.next((e) => e.event === 'error', 5000);
    assert.equal(err.data.code, 'Unauthorized');
    await s.ended;
  });

  it('refuses bad parameters and missing tokens before any stream starts', async () => {
    for (const q of ['?fromRevision=-1', '?fromRevision=abc', '?fromRevision=1e3', '?collection=nope']) {
      const r = await c.req('GET', `/watch${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.body.syCode, 'SY_BAD_REQUEST', q);
    }
    assert.equal((await c.req('GET', '/watch', undefined, { headers: { 'last-event-id': 'x1' } })).status, 400);
    assert.equal((await c.req('GET', '/watch', undefined, { token: null })).status, 401);
  });
});
