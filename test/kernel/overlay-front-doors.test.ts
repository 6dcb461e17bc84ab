/**
 * The front doors' overlay networks end to end, against a plain kernel VXLAN peer: the test host's
 * eth1 (PA 10.0.0.11) is a veth into a fabric namespace whose 10.0.0.1 is another "host" made by hand
 * (a bridge and a VXLAN port per VNI, static FDB and neighbour entries, a workload namespace behind
 * each, answering with its name), so what Switchyard sends must be standard VXLAN.
 *  - Docker: `docker network create -d sdnoverlay -o …vsid=4096 -o switchyard.provider-address=…`
 *    (private dockerd), the peer written as a remote endpoint; a container reaches the peer's
 *    workload across the tunnel and is reached by it; -p and a missing VSID are refused with the
 *    protocol's error and leave nothing; `docker network rm` removes it all.
 *  - CNI: the installed plugin in mode overlay (VSID 5000) the same way, then DEL.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, World, waitFor, type Hostd } from './world.js';
import { IMAGE, ncGet, startDockerWorld, stopDockerWorld, withNetwork, type DockerEngine } from './docker-world.js';
import { CniHarness } from './cni.js';
import { uplinkFabric } from './docker-fabric.js';

const SHIM = 'com.docker.network.windowsshim.';
const PA = { host: '10.0.0.11', peer: '10.0.0.1' };
/** what the peer host has behind each VNI */
const PEER = { 4096: { ca: '10.1.0.12', mac: '02:5d:00:00:10:12' }, 5000: { ca: '10.2.0.12', mac: '02:5d:00:00:20:12' } } as const;
type Vni = keyof typeof PEER;

describe('overlay networks through Docker (sdnoverlay) and CNI (mode overlay), to a plain VXLAN peer', () => {
  const w = new World('ofd');
  let host: string;
  let fabric: string;
  let hostd: Hostd;
  let engine: DockerEngine;
  let cni: CniHarness;
  /** the CNI container's namespace: made before the Docker world, whose private mount namespace hostd runs in, sees only what existed */
  let cniNs: string;

  /** The peer host's side of VNI `vni`: bridge + VXLAN port + a workload at PEER[vni], answering its CA. */
  async function peerSide(vni: Vni): Promise<void> {
    const { ca, mac } = PEER[vni];
    const work = await w.addNs(`pw${vni}`);
    const gw = ca.replace(/\.12$/, '.1');
    await w.ip(
      fabric,
      `link add br${vni} type bridge`,
      `link set br${vni} up`,
      `link add vx${vni} type vxlan id ${vni} local ${PA.peer} dstport 4789 nolearning`,
      `link set vx${vni} master br${vni} mtu 1450 up`,
      `link add w${vni} type veth peer name eth0 netns ${work}`,
      `link set w${vni} master br${vni} mtu 1450 up`,
    );
    await w.ip(work, `link set eth0 address ${mac} mtu 1450 up`, `addr add ${ca}/24 dev eth0`, `route add default via ${gw}`);
    w.spawnIn(work, ['socat', 'TCP-LISTEN:7000,reuseaddr,fork', `SYSTEM:echo peer-${vni}`]);
  }

  /** The peer learns where a Switchyard endpoint lives (as its controller would tell it). */
  async function peerKnows(vni: Vni, ca: string, mac: string): Promise<void> {
    await w.exec(fabric, ['bridge', 'fdb', 'replace', mac, 'dev', `vx${vni}`, 'dst', PA.host, 'self', 'permanent']);
    await w.exec(fabric, ['bridge', 'fdb', 'replace', mac, 'dev', `vx${vni}`, 'master', 'static']);
    // the peer's workload ARPs for the Switchyard endpoint (and its gateway, the distributed router)
    const work = w.nsName(`pw${vni}`);
    await w.ip(work, `neigh replace ${ca} lladdr ${mac} dev eth0 nud permanent`);
  }

  /** Switchyard learns where the peer's workload lives (the remote endpoint document). */
  const remote = (network: string, vni: Vni) => ({
    Name: `peer-${vni}`,
    HostComputeNetwork: network,
    Flags: 1,
    IpConfigurations: [{ IpAddress: PEER[vni].ca, PrefixLength: 24 }],
    MacAddress: PEER[vni].mac,
    Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: PA.peer } }],
  });

  before(async () => {
    requireRoot();
    host = await w.addNs('host');
    fabric = await uplinkFabric(w, host);
    await peerSide(4096);
    await peerSide(5000);
    cni = new CniHarness(w, host);
    cniNs = await cni.container('cc1');
    ({ engine, hostd } = await startDockerWorld(w, host));
  });
  after(async () => {
    await stopDockerWorld(w, engine);
    assert.deepEqual(w.leftovers(), []);
  });

  it('refuses an sdnoverlay network without its VSID, and -p on one, leaving nothing', async () => {
    const r = await engine.docker('network', 'create', '-d', 'sdnoverlay', '--subnet', '10.1.0.0/24', '-o', `switchyard.provider-address=${PA.host}`, 'novsid');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /needs its VSID.*SY_BAD_REQUEST/);
    assert.deepEqual((await hostd.client.request<unknown[]>('GET', '/networks')) ?? [], []);
  });

  it('a container on -d sdnoverlay reaches a workload behind a plain VXLAN peer, and is reached by it', async () => {
    await engine.ok('network', 'create', '-d', 'sdnoverlay', '--subnet', '10.1.0.0/24', '--gateway', '10.1.0.1', '-o', `${SHIM}vsid=4096`, '-o', `switchyard.provider-address=${PA.host}`, 'ov');
    const nets = (await hostd.client.request<{ ID: string; Type: string }[]>('GET', '/networks'))!;
    assert.deepEqual(nets.map((n) => n.Type), ['Overlay']);
    await hostd.client.request('POST', '/endpoints', remote(nets[0]!.ID, 4096));
    await engine.ok('run', '-d', '--stop-timeout', '1', '--name', 'c1', '--net', 'ov', '--ip', '10.1.0.50', IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www');
    const local = (await hostd.client.request<{ Flags?: number; MacAddress: string }[]>('GET', '/endpoints'))!.filter((e) => !e.Flags);
    assert.equal(local.length, 1);
    const mac = local[0]!.MacAddress.toLowerCase().replace(/-/g, ':');
    await peerKnows(4096, '10.1.0.50', mac);
    const mtu = await engine.ok('exec', 'c1', ...withNetwork('cat /sys/class/net/eth0/mtu'));
    assert.equal(mtu.trim(), '1450', 'the underlay MTU less the VXLAN overhead');
    await waitFor('the peer workload from the container', async () => (await engine.docker('exec', 'c1', ...ncGet(PEER[4096].ca, 7000))).stdout.trim() === 'peer-4096');
    await waitFor('the container from the peer workload', async () => (await w.curl(w.nsName('pw4096'), 'http://10.1.0.50/')) === 'hello-from-docker');
  });

  it('refuses -p on an sdnoverlay network with a clear error and leaves no endpoint', async () => {
    const n = (await hostd.client.request<unknown[]>('GET', '/endpoints'))!.length;
    const r = await engine.docker('run', '-d', '--name', 'p1', '--net', 'ov', '-p', '8080:80', IMAGE, 'sleep', '30');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Ports cannot be published \(-p, -P\) on this Overlay network: its containers are in a virtual network.*SY_NOT_SUPPORTED/);
    await engine.docker('rm', '-f', 'p1');
    assert.equal((await hostd.client.request<unknown[]>('GET', '/endpoints'))!.length, n);
  });

  it('docker network rm takes the network, its endpoints and its remote endpoints away', async () => {
    await engine.ok('rm', '-f', 'c1');
    await engine.ok('network', 'rm', 'ov');
    assert.deepEqual((await hostd.client.request<unknown[]>('GET', '/networks')) ?? [], []);
    assert.deepEqual((await hostd.client.request<unknown[]>('GET', '/endpoints')) ?? [], []);
  });

  it('the CNI plugin in mode overlay: ADD reaches the peer across VNI 5000, DEL cleans up', async () => {
    const conf = { cniVersion: '1.1.0', name: 'ov5000', type: 'switchyard', socket: hostd.socket, mode: 'overlay', vsid: 5000, providerAddress: PA.host, subnet: '10.2.0.0/24', gateway: '10.2.0.1' };
    const ns = cniNs;
    const add = await cni.call({ command: 'ADD', containerId: 'cc1', netns: ns, conf });
    assert.equal(add.exit, 0, add.stdout + add.stderr);
    const ip = String((add.json!.ips as { address: string }[])[0]!.address).split('/')[0]!;
    const mac = String((add.json!.interfaces as { name: string; mac: string; sandbox?: string }[]).find((i) => i.sandbox)!.mac);
    await hostd.client.request('POST', '/endpoints', remote('ov5000', 5000));
    await peerKnows(5000, ip, mac);
    const short = ns.replace('/run/netns/', '');
    await waitFor('the peer workload from the CNI container', async () => (await w.exec(short, ['socat', '-T2', '-', `TCP:${PEER[5000].ca}:7000`], { okExitCodes: [1] })).stdout.trim() === 'peer-5000');
    const del = await cni.call({ command: 'DEL', containerId: 'cc1', netns: ns, conf });
    assert.equal(del.exit, 0, del.stdout);
    await hostd.client.request('DELETE', '/networks/ov5000');
    assert.deepEqual((await hostd.client.request<unknown[]>('GET', '/networks')) ?? [], []);
  });
});
