/**
 * The CNI plugin's l2bridge mode on the real kernel, invoked exactly as a runtime invokes it (the
 * installed binary, CNI_* environment, config on stdin): a host namespace whose eth1 (10.0.0.11/24)
 * is a veth into a "fabric" namespace with the peer 10.0.0.1. ADD makes the L2Bridge network bound to
 * eth1 (`"master": "eth1"`) and gives the container 10.0.0.x with the gateway; it reaches the peer
 * and the peer reaches it; CHECK passes; portMappings are refused with code 2 and make nothing; DEL
 * (twice) removes the attachment, and removing the network gives eth1 its address back. Then the
 * same round for modes transparent and l2tunnel.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, World, type Hostd } from './world.js';
import { CniHarness } from './cni.js';
import { run } from '../../src/dataplane/run.js';
import { inetAddrs, PEER_PAGE, uplinkFabric } from './docker-fabric.js';

type Result = { interfaces: { name: string; sandbox?: string }[]; ips: { address: string; gateway?: string }[]; routes: { dst: string; gw?: string }[] };

describe('CNI plugin, mode l2bridge on a fabric', () => {
  const w = new World('cu');
  let hostd: Hostd;
  let host: string;
  let fabric: string;
  let cni: CniHarness;
  let ctr: string;
  const conf = (extra: Record<string, unknown> = {}) => ({
    cniVersion: '1.1.0',
    name: 'lan',
    type: 'switchyard',
    mode: 'l2bridge',
    master: 'eth1',
    subnet: '10.0.0.0/24',
    gateway: '10.0.0.1',
    socket: hostd.socket,
    capabilities: { portMappings: true },
    ...extra,
  });
  const endpoints = async () => (await hostd.client.request<{ ID: string }[]>('GET', '/endpoints?network=lan')) ?? [];

  before(async () => {
    requireRoot();
    host = await w.addNs('host');
    fabric = await uplinkFabric(w, host);
    hostd = await w.startHostd(host);
    cni = new CniHarness(w, host);
    ctr = await cni.container('c1');
  });
  after(async () => {
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  it('refuses portMappings in mode l2bridge with code 2 and makes nothing', async () => {
    const r = await cni.call({ command: 'ADD', containerId: 'c1', netns: ctr, conf: conf({ runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } }) });
    assert.equal(r.exit, 1);
    assert.equal(r.json!.code, 2);
    assert.match(String(r.json!.msg), /portMappings are not supported in mode l2bridge/);
    assert.deepEqual((await hostd.client.request<unknown[]>('GET', '/networks')) ?? [], []);
  });

  let result: Result;
  it('ADD binds the network to eth1 and gives the container 10.0.0.x with the gateway; it and the peer reach each other', async () => {
    const r = await cni.call({ command: 'ADD', containerId: 'c1', netns: ctr, conf: conf({ runtimeConfig: { portMappings: [] } }) });
    assert.equal(r.exit, 0, r.stdout + r.stderr);
    result = r.json as unknown as Result;
    const ip = result.ips[0]!;
    assert.match(ip.address, /^10\.0\.0\.\d+\/24$/);
    assert.notEqual(ip.address, '10.0.0.11/24', 'not the host\'s own address');
    assert.equal(ip.gateway, '10.0.0.1');
    assert.deepEqual(result.routes, [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }]);
    const net = (await hostd.client.request<{ Type: string; Uplink: { Adapter: string } }[]>('GET', '/networks'))![0]!;
    assert.equal(net.Type, 'L2Bridge');
    assert.equal(net.Uplink.Adapter, 'eth1');
    const addr = ip.address.split('/')[0]!;
    await w.exec(ctr.replace('/run/netns/', ''), ['busybox', 'ping', '-c', '1', '-W', '2', '10.0.0.1']);
    assert.equal(await w.curl(ctr.replace('/run/netns/', ''), 'http://10.0.0.1:8000/'), PEER_PAGE);
    await w.exec(fabric, ['busybox', 'ping', '-c', '1', '-W', '2', addr]);
  });

  it('CHECK passes on the attachment ADD made', async () => {
    const r = await cni.call({ command: 'CHECK', containerId: 'c1', netns: ctr, conf: conf({ prevResult: result }) });
    assert.equal(r.exit, 0, r.stdout + r.stderr);
  });

  it('DEL removes the attachment (twice is fine); deleting the network gives eth1 its address back', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await cni.call({ command: 'DEL', containerId: 'c1', netns: ctr, conf: conf({ prevResult: result }) });
      assert.equal(r.exit, 0, r.stdout + r.stderr);
    }
    assert.deepEqual(await endpoints(), []);
    const links = (await run(['ip', '-n', ctr.replace('/run/netns/', ''), '-o', 'link', 'show'])).stdout;
    assert.doesNotMatch(links, /eth0/);
    await hostd.client.request('DELETE', '/networks/lan');
    assert.deepEqual(await inetAddrs(host, 'eth1'), ['10.0.0.11/24']);
    assert.equal(await w.curl(host, 'http://10.0.0.1:8000/'), PEER_PAGE);
  });

  for (const mode of ['transparent', 'l2tunnel']) {
    it(`mode ${mode}: ADD, the peer both ways, CHECK, DEL, and eth1 back`, async () => {
      const c = conf({ name: `lan-${mode}`, mode });
      const r = await cni.call({ command: 'ADD', containerId: `c-${mode}`, netns: ctr, conf: c });
      assert.equal(r.exit, 0, r.stdout + r.stderr);
      const res = r.json as unknown as Result;
      assert.equal(res.ips[0]!.gateway, '10.0.0.1');
      const net = (await hostd.client.request<{ Type: string; Uplink: { Adapter: string } }[]>('GET', '/networks'))![0]!;
      assert.equal(net.Type.toLowerCase(), mode);
      assert.equal(net.Uplink.Adapter, 'eth1');
      const ns = ctr.replace('/run/netns/', '');
      assert.equal(await w.curl(ns, 'http://10.0.0.1:8000/'), PEER_PAGE);
      await w.exec(fabric, ['busybox', 'ping', '-c', '1', '-W', '2', res.ips[0]!.address.split('/')[0]!]);
      assert.equal((await cni.call({ command: 'CHECK', containerId: `c-${mode}`, netns: ctr, conf: { ...c, prevResult: res } })).exit, 0);
      assert.equal((await cni.call({ command: 'DEL', containerId: `c-${mode}`, netns: ctr, conf: c })).exit, 0);
      assert.deepEqual((await hostd.client.request<unknown[]>('GET', `/endpoints?network=lan-${mode}`)) ?? [], []);
      await hostd.client.request('DELETE', `/networks/lan-${mode}`);
      assert.deepEqual(await inetAddrs(host, 'eth1'), ['10.0.0.11/24']);
    });
  }
});
