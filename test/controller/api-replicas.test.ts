/**
 * Stateless controllers on one etcd: two `switchyard controller --store etcd://…` processes on a real
 * 3-member cluster (tokens made by `switchyard controller token create` on the same cluster). A write
 * through one is read and watched through the other; concurrent Dynamic allocations through both
 * never collide; an etag goes stale across replicas; one replica killed with SIGKILL leaves the other
 * serving, and one etcd member killed leaves both writing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { CLI, request, spawnController, type ControllerProcess } from './api-fixture.js';
import { EtcdCluster } from './store-etcd-cluster.js';
import { openWatch, type SseStream } from './sse-client.js';

const exec = promisify(execFile);
let cluster: EtcdCluster;
let a: ControllerProcess;
let b: ControllerProcess;
let admin: string;
const streams: SseStream[] = [];

before(async () => {
  cluster = await EtcdCluster.start(3);
  const made = await exec(process.execPath, [CLI, 'controller', 'token', 'create', '--tenant', 'provider', '--role', 'admin', '--store', cluster.spec], { timeout: 30_000 });
  admin = made.stdout.trim();
  // each replica is pointed at a different member first: they share the data, not a connection
  [a, b] = await Promise.all([spawnController(['--store', cluster.specOf([0, 1, 2])]), spawnController(['--store', cluster.specOf([1, 2, 0])])]);
});
after(async () => {
  for (const s of streams) s.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await cluster?.stop();
});

const via = (p: ControllerProcess, method: string, path: string, body?: unknown, headers?: Record<string, string>) => request(p.url, method, path, body, { token: admin, ...(headers ? { headers } : {}) });
const vnet = { properties: { addressSpace: { addressPrefixes: ['10.0.0.0/16'] }, subnets: [{ resourceId: 's', properties: { addressPrefix: '10.0.0.0/24' } }] } };
const nic = { properties: { ipConfigurations: [{ resourceId: 'c', properties: { subnet: { resourceRef: '/virtualNetworks/v/subnets/s' } } }] } };

describe('two controller replicas on one etcd cluster', () => {
  it('a token made on the cluster works on both; a write through one is read through the other', async () => {
    assert.equal((await via(a, 'PUT', '/macPools/mp', { properties: { startMacAddress: '00-1D-D8-00-00-00', endMacAddress: '00-1D-D8-00-FF-FF' } })).status, 201);
    const put = await via(a, 'PUT', '/virtualNetworks/v', vnet);
    assert.equal(put.status, 201, JSON.stringify(put.body));
    const got = await via(b, 'GET', '/virtualNetworks/v');
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, put.body, 'the same document, etag included');
  });

  it("a write through one appears in the other's watch stream", async () => {
    const s = await openWatch(b.url, admin, '?collection=networkInterfaces');
    streams.push(s);
    await s.next((e) => e.event === 'ready');
    const put = await via(a, 'PUT', '/networkInterfaces/w1', nic);
    assert.equal(put.status, 201, JSON.stringify(put.body));
    const ev = await s.next((e) => e.event === 'put' && e.data.resourceRef === '/networkInterfaces/w1');
    assert.equal(ev.data.resource.etag, put.headers.get('etag'));
    assert.equal(ev.data.resource.properties.ipConfigurations[0].properties.privateIPAddress, put.body.properties.ipConfigurations[0].properties.privateIPAddress);
    assert.equal((await via(a, 'DELETE', '/networkInterfaces/w1')).status, 204);
    await s.next((e) => e.event === 'delete' && e.data.resourceRef === '/networkInterfaces/w1');
  });

  it('30 concurrent Dynamic PUTs through both get different addresses and MACs', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => via(i % 2 ? b : a, 'PUT', `/networkInterfaces/n${i}`, nic)));
    for (const x of answers) assert.equal(x.status, 201, JSON.stringify(x.body));
    const ips = answers.map((x) => x.body.properties.ipConfigurations[0].properties.privateIPAddress);
    const macs = answers.map((x) => x.body.properties.privateMacAddress);
    assert.equal(new Set(ips).size, 30, `duplicate IPs: ${ips.join(' ')}`);
    assert.equal(new Set(macs).size, 30, `duplicate MACs: ${macs.join(' ')}`);
  });

  it('an etag read through one replica is stale on the other after a write there', async () => {
    const fromA = (await via(a, 'GET', '/virtualNetworks/v')).body;
    assert.equal((await via(b, 'PUT', '/virtualNetworks/v', { ...fromA, tags: { by: 'b' } }, { 'if-match': fromA.etag })).status, 200);
    const stale = await via(a, 'PUT', '/virtualNetworks/v', { ...fromA, tags: { by: 'a' } }, { 'if-match': fromA.etag });
    assert.equal(stale.status, 412);
    assert.deepEqual((await via(a, 'GET', '/virtualNetworks/v')).body.tags, { by: 'b' });
  });

  it('one replica killed: the other serves reads, writes and its watch', async () => {
    const s = await openWatch(b.url, admin, '?collection=networkInterfaces');
    streams.push(s);
    await s.next((e) => e.event === 'ready');
    process.kill(a.pid, 'SIGKILL');
    await a.stop();
    assert.equal((await via(b, 'GET', '/networkInterfaces')).body.value.length, 30);
    assert.equal((await via(b, 'PUT', '/networkInterfaces/after-a', nic)).status, 201);
    await s.next((e) => e.event === 'put' && e.data.resourceRef === '/networkInterfaces/after-a');
  });

  it('one etcd member killed: writes go on, and a restarted replica sees them', async () => {
    // b was pointed at member 1 first: killing it makes b fail over
    await cluster.kill(1);
    assert.equal((await via(b, 'PUT', '/networkInterfaces/after-m1', nic)).status, 201);
    a = await spawnController(['--store', cluster.specOf([0, 2, 1])]);
    const got = await via(a, 'GET', '/networkInterfaces/after-m1');
    assert.equal(got.status, 200);
    assert.equal((await via(a, 'DELETE', '/networkInterfaces/after-m1')).status, 204);
    assert.equal((await via(b, 'GET', '/networkInterfaces/after-m1')).status, 404);
  });
});
