/**
 * Concurrent writes: 50 NICs PUT at once, half through each of two controller processes that share
 * one SQLite file (stateless replicas, as on one etcd; in one process a request's checks and commit
 * would never interleave with another's, on a synchronous store), all get Dynamic addresses and MACs
 * and no two get the same; 20 NICs racing for one Static address: exactly one wins, the others get
 * 409; an etag read through one replica is stale on the other after a write there.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request, spawnController, startController, type ControllerProcess, type TestController } from './api-fixture.js';

let c: TestController;
let first: ControllerProcess;
let second: ControllerProcess;
before(async () => {
  c = await startController();
  [first, second] = await Promise.all([spawnController(['--store', `sqlite:${join(c.dir, 'controller.db')}`]), spawnController(['--store', `sqlite:${join(c.dir, 'controller.db')}`])]);
  const seed: [string, unknown][] = [
    ['/macPools/mp', { properties: { startMacAddress: '00-1D-D8-00-00-00', endMacAddress: '00-1D-D8-00-FF-FF' } }],
    ['/virtualNetworks/v', { properties: { addressSpace: { addressPrefixes: ['10.0.0.0/16'] }, subnets: [{ resourceId: 's', properties: { addressPrefix: '10.0.0.0/24' } }] } }],
  ];
  for (const [path, body] of seed) assert.equal((await c.req('PUT', path, body)).status, 201);
});
after(async () => {
  await Promise.all([first?.stop(), second?.stop()]);
  await c?.close();
});

const via = (i: number, method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  request((i % 2 ? second : first).url, method, path, body, { token: c.admin, ...(headers ? { headers } : {}) });
const nic = (ipc: Record<string, unknown> = {}) => ({ properties: { ipConfigurations: [{ resourceId: 'c', properties: { subnet: { resourceRef: '/virtualNetworks/v/subnets/s' }, ...ipc } }] } });

describe('concurrent writes on two replicas', () => {
  it('50 concurrent Dynamic PUTs get 50 different addresses and MACs', async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => via(i, 'PUT', `/networkInterfaces/n${i}`, nic())));
    for (const a of answers) assert.equal(a.status, 201, JSON.stringify(a.body));
    const ips = answers.map((a) => a.body.properties.ipConfigurations[0].properties.privateIPAddress);
    const macs = answers.map((a) => a.body.properties.privateMacAddress);
    assert.equal(new Set(ips).size, 50, `duplicate IPs: ${ips.join(' ')}`);
    assert.equal(new Set(macs).size, 50, `duplicate MACs: ${macs.join(' ')}`);
    // the lowest 50 host addresses, none reserved
    assert.deepEqual(new Set(ips), new Set(Array.from({ length: 50 }, (_, i) => `10.0.0.${i + 2}`)));
    // what the store holds agrees: one claim per address, each owned by the NIC that shows it
    const claims = (await c.store.range('/nc/alloc/ip/virtualNetworks/v/subnets/s/')).kvs;
    assert.equal(claims.length, 50);
    const list = (await c.req('GET', '/virtualNetworks/v/subnets/s')).body.properties.ipConfigurations;
    assert.equal(list.length, 50, 'the subnet lists all 50 ipConfigurations');
  });

  it('20 concurrent PUTs of one Static address: one wins, 19 get 409', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => via(i, 'PUT', `/networkInterfaces/s${i}`, nic({ privateIPAddress: '10.0.0.200' }))));
    const won = answers.filter((a) => a.status === 201);
    assert.equal(won.length, 1, answers.map((a) => a.status).join(' '));
    assert.ok(answers.filter((a) => a.status !== 201).every((a) => a.status === 409 && a.body.code === 'AddressInUse'));
  });

  it('concurrent deletes and creates release and reuse addresses without a duplicate', async () => {
    const ops = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => via(i, 'DELETE', `/networkInterfaces/n${i}`)),
      ...Array.from({ length: 20 }, (_, i) => via(i + 1, 'PUT', `/networkInterfaces/m${i}`, nic())),
    ]);
    assert.ok(ops.every((a) => a.status === 204 || a.status === 201), ops.map((a) => a.status).join(' '));
    const all = (await c.req('GET', '/networkInterfaces')).body.value;
    const ips = all.map((d: any) => d.properties.ipConfigurations[0].properties.privateIPAddress);
    assert.equal(all.length, 30 + 1 + 20);
    assert.equal(new Set(ips).size, ips.length, 'no address held twice');
    assert.equal((await c.store.range('/nc/alloc/ip/')).kvs.length, ips.length, 'released claims are gone');
  });

  it('a write through one replica makes the etag read through the other stale', async () => {
    const a = await via(0, 'GET', '/virtualNetworks/v');
    const b = await via(1, 'GET', '/virtualNetworks/v');
    assert.equal(a.body.etag, b.body.etag);
    const w = await via(1, 'PUT', '/virtualNetworks/v', { ...b.body, tags: { x: 'y' } }, { 'if-match': b.body.etag });
    assert.equal(w.status, 200);
    assert.equal((await via(0, 'PUT', '/virtualNetworks/v', { ...a.body, tags: { x: 'z' } }, { 'if-match': a.body.etag })).status, 412);
    assert.deepEqual((await via(0, 'GET', '/virtualNetworks/v')).body.tags, { x: 'y' });
  });
});
