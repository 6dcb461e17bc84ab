/**
 * Docker's l2bridge driver end to end: a private Debian dockerd (default settings: FORWARD policy
 * DROP, br_netfilter) in a test host namespace whose eth1 (10.0.0.11/24) is a veth into a "fabric"
 * namespace holding the peer 10.0.0.1, the physical network's router. `docker network create -d
 * l2bridge -o ...interface=eth1` binds the network to eth1; a container with --ip 10.0.0.50 reaches the
 * peer and the peer reaches it at its own address; -p and a missing adapter are refused with the
 * protocol's error and leave nothing; `docker network rm` gives eth1 its address and route back. Then
 * the same with `-d transparent -o parent=eth1` and an address from Docker's own IPAM; and
 * `enable_outboundnat=true`: traffic beyond the segment leaves as the host's address, not its own.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, World, waitFor, type Hostd } from './world.js';
import { IMAGE, ncGet, startDockerWorld, stopDockerWorld, withNetwork, type DockerEngine } from './docker-world.js';
import { run } from '../../src/dataplane/run.js';
import { inetAddrs, PEER_PAGE, uplinkFabric } from './docker-fabric.js';

const SHIM = 'com.docker.network.windowsshim.';

describe('Docker l2bridge driver (private dockerd, a fabric on eth1)', () => {
  const w = new World('du');
  let host: string;
  let fabric: string;
  let hostd: Hostd;
  let engine: DockerEngine;

  const routes = async () => (await run(['ip', '-n', host, 'route', 'show'])).stdout.trim();
  const endpoints = async () => (await hostd.client.request<{ ID: string }[]>('GET', '/endpoints')) ?? [];

  before(async () => {
    requireRoot();
    host = await w.addNs('host');
    fabric = await uplinkFabric(w, host, ['route add 198.18.0.0/15 via 10.0.0.1 dev eth1']);
    // a server beyond the segment (198.18.0.1, behind the router) and on it, answering the peer address it sees
    await w.ip(fabric, 'addr add 198.18.0.1/32 dev lo');
    w.spawnIn(fabric, ['socat', 'TCP-LISTEN:9000,reuseaddr,fork', 'SYSTEM:echo $SOCAT_PEERADDR']);
    await waitFor('the fabric\'s echo server', async () => (await w.exec(fabric, ['socat', '-T1', '-', 'TCP:127.0.0.1:9000'], { okExitCodes: [1] })).stdout.trim() === '127.0.0.1');
    ({ engine, hostd } = await startDockerWorld(w, host));
  });
  /** The source address the fabric's echo server at `dst` sees for a connection from `container`. */
  const seenFrom = (container: string, dst: string) => engine.ok('exec', container, ...withNetwork(`nc -w 2 ${dst} 9000 </dev/null`));
  after(async () => {
    await stopDockerWorld(w, engine);
    assert.deepEqual(w.leftovers(), []);
  });

  it('refuses an l2bridge network without its adapter, with the protocol error, and makes nothing', async () => {
    const r = await engine.docker('network', 'create', '-d', 'l2bridge', '--subnet', '10.0.0.0/24', 'noadapter');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /remote: switchyard: The l2bridge driver binds its network to a host adapter: give it with -o com\.docker\.network\.windowsshim\.interface=IFNAME.*\(SY_BAD_REQUEST\)/);
    // the switchyard IPAM hands out pools that overlap nothing of the host's: the adapter's segment is refused
    const ipam = await engine.docker('network', 'create', '-d', 'l2bridge', '--ipam-driver', 'switchyard', '--subnet', '10.0.0.0/24', '-o', `${SHIM}interface=eth1`, 'byipam');
    assert.notEqual(ipam.code, 0);
    assert.match(ipam.stderr, /overlaps.*SY_SUBNET_OVERLAP/);
    assert.deepEqual((await hostd.client.request<unknown[]>('GET', '/networks')) ?? [], []);
  });

  const before0 = { addrs: [] as string[], routes: '' };
  it('docker network create -d l2bridge --subnet --gateway -o interface=eth1 binds the network to eth1', async () => {
    before0.addrs = await inetAddrs(host, 'eth1');
    before0.routes = await routes();
    assert.deepEqual(before0.addrs, ['10.0.0.11/24']);
    await engine.ok('network', 'create', '-d', 'l2bridge', '--subnet', '10.0.0.0/24', '--gateway', '10.0.0.1', '-o', `${SHIM}interface=eth1`, 'lan');
    const nets = (await hostd.client.request<{ Type: string; Bridge: string; Uplink: { Adapter: string }; Ipams: { Subnets: { IpAddressPrefix: string; Routes: { NextHop: string }[] }[] }[] }[]>('GET', '/networks'))!;
    assert.equal(nets.length, 1);
    assert.equal(nets[0]!.Type, 'L2Bridge');
    assert.equal(nets[0]!.Uplink.Adapter, 'eth1');
    assert.equal(nets[0]!.Ipams[0]!.Subnets[0]!.IpAddressPrefix, '10.0.0.0/24');
    assert.equal(nets[0]!.Ipams[0]!.Subnets[0]!.Routes[0]!.NextHop, '10.0.0.1');
    // the host's address moved onto the network's bridge, and the host still reaches the peer
    assert.deepEqual(await inetAddrs(host, nets[0]!.Bridge), ['10.0.0.11/24']);
    assert.deepEqual(await inetAddrs(host, 'eth1'), []);
    assert.equal(await w.curl(host, 'http://10.0.0.1:8000/'), PEER_PAGE);
  });

  it('docker run --ip 10.0.0.50 reaches the peer, and the peer reaches the container at its own address', async () => {
    await engine.ok('run', '-d', '--stop-timeout', '1', '--name', 'c1', '--net', 'lan', '--ip', '10.0.0.50', IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www');
    const route = await engine.ok('exec', 'c1', ...withNetwork('ip route show default'));
    assert.match(route, /default via 10\.0\.0\.1 dev eth0/);
    await engine.ok('exec', 'c1', 'ping', '-c', '1', '-W', '2', '10.0.0.1');
    assert.equal(await engine.ok('exec', 'c1', ...ncGet('10.0.0.1', 8000)), PEER_PAGE);
    await waitFor('the container from the peer', async () => (await w.curl(fabric, 'http://10.0.0.50/')) === 'hello-from-docker');
    // on the wire with its own address: the peer saw 10.0.0.50, not the host's 10.0.0.11
    const neigh = (await run(['ip', '-n', fabric, 'neigh', 'show', '10.0.0.50'])).stdout;
    assert.match(neigh, /lladdr/);
  });

  it('refuses -p on an l2bridge network with a clear error and leaves no endpoint', async () => {
    const n = (await endpoints()).length;
    const r = await engine.docker('run', '-d', '--name', 'p1', '--net', 'lan', '--ip', '10.0.0.51', '-p', '8080:80', IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /remote: switchyard: Ports cannot be published \(-p, -P\) on this L2Bridge network.*\(SY_NOT_SUPPORTED\)/);
    await waitFor('the refused endpoint to go', async () => (await endpoints()).length === n);
    await engine.docker('rm', '-f', 'p1');
    assert.equal(await w.curl(fabric, 'http://10.0.0.51/', 1), '');
  });

  it('docker rm and network rm give eth1 its address and routes back', async () => {
    await engine.ok('rm', '-f', 'c1');
    await engine.ok('network', 'rm', 'lan');
    assert.deepEqual(await inetAddrs(host, 'eth1'), before0.addrs);
    assert.equal(await routes(), before0.routes);
    const links = (await run(['ip', '-n', host, '-o', 'link', 'show'])).stdout;
    assert.doesNotMatch(links, /sy-sw-|sy-ep-/);
    assert.equal(await w.curl(host, 'http://10.0.0.1:8000/'), PEER_PAGE);
  });

  it('enable_outboundnat=true on l2bridge: traffic beyond the segment leaves as the host\'s address, the segment sees the container\'s', async () => {
    await engine.ok('network', 'create', '-d', 'l2bridge', '--subnet', '10.0.0.0/24', '--gateway', '10.0.0.1', '-o', `${SHIM}interface=eth1`, '-o', `${SHIM}enable_outboundnat=true`, 'nlan');
    await engine.ok('run', '-d', '--stop-timeout', '1', '--name', 'n1', '--net', 'nlan', '--ip', '10.0.0.60', IMAGE, 'sleep', '600');
    assert.equal(await seenFrom('n1', '198.18.0.1'), '10.0.0.11', 'translated to the host\'s address');
    assert.equal(await seenFrom('n1', '10.0.0.1'), '10.0.0.60', 'the network\'s own subnet is never translated');
    await engine.ok('rm', '-f', 'n1');
    // without the option the same container is seen with its own address everywhere
    await engine.ok('network', 'rm', 'nlan');
    await engine.ok('network', 'create', '-d', 'l2bridge', '--subnet', '10.0.0.0/24', '--gateway', '10.0.0.1', '-o', `${SHIM}interface=eth1`, 'plan');
    await engine.ok('run', '-d', '--stop-timeout', '1', '--name', 'n2', '--net', 'plan', '--ip', '10.0.0.60', IMAGE, 'sleep', '600');
    assert.equal(await seenFrom('n2', '198.18.0.1'), '10.0.0.60');
    await engine.ok('rm', '-f', 'n2');
    await engine.ok('network', 'rm', 'plan');
    assert.deepEqual(await inetAddrs(host, 'eth1'), before0.addrs);
  });

  it('-d transparent -o parent=eth1 (macvlan\'s key): the container and the peer reach each other; rm gives eth1 back', async () => {
    await engine.ok('network', 'create', '-d', 'transparent', '--subnet', '10.0.0.0/24', '--gateway', '10.0.0.1', '--aux-address', 'host=10.0.0.11', '-o', 'parent=eth1', 'tlan');
    const nets = (await hostd.client.request<{ Type: string; Uplink: { Adapter: string } }[]>('GET', '/networks'))!;
    assert.deepEqual(nets.map((n) => [n.Type, n.Uplink.Adapter]), [['Transparent', 'eth1']]);
    // Docker's own IPAM picks the address (the host's is kept out by --aux-address)
    await engine.ok('run', '-d', '--stop-timeout', '1', '--name', 't1', '--net', 'tlan', IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www');
    const addr = await engine.ok('inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', 't1');
    assert.match(addr, /^10\.0\.0\.\d+$/);
    assert.notEqual(addr, '10.0.0.11');
    assert.equal(await engine.ok('exec', 't1', ...ncGet('10.0.0.1', 8000)), PEER_PAGE);
    await waitFor('the container from the peer', async () => (await w.curl(fabric, `http://${addr}/`)) === 'hello-from-docker');
    await engine.ok('rm', '-f', 't1');
    await engine.ok('network', 'rm', 'tlan');
    assert.deepEqual(await inetAddrs(host, 'eth1'), before0.addrs);
    assert.equal(await routes(), before0.routes);
  });
});
