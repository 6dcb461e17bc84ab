/**
 * The Docker front door end to end: a private Debian dockerd (default settings: its iptables rules,
 * FORWARD policy DROP, br_netfilter) in the test's host namespace, hostd --docker beside it, images
 * made with `docker import`, real packets. The seed scenario with -p from outside, from the host and
 * by hairpin; ephemeral, UDP, host-bound ports, --ip and --mac-address; the switchyard IPAM;
 * connect/disconnect; options and refusals; failures that leave nothing behind; stop/start; a hostd
 * crash with containers running; removal that frees everything.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, World, waitFor, type Hostd } from './world.js';
import { IMAGE, ncGet, startDockerWorld, stopDockerWorld, withNetwork, type DockerEngine } from './docker-world.js';
import { run } from '../../src/dataplane/run.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

type EpDoc = { ID: string; Name: string; IpConfigurations: { IpAddress: string }[]; MacAddress: string; NamespacePath?: string; Policies: { Type: string; Settings: Record<string, number | string> }[] };

describe('Docker front door (private dockerd, nat driver, switchyard IPAM)', () => {
  const w = new World('dk');
  let host: string;
  let outside: string;
  let hostd: Hostd;
  let engine: DockerEngine;
  const hostdArgs = () => ['--docker', '--docker-plugin-dir', engine.pluginDir];

  const endpoints = async () => (await hostd.client.request<EpDoc[]>('GET', '/endpoints')) ?? [];
  const epOf = async (container: string) => {
    const id = await engine.ok('inspect', '--format', '{{range .NetworkSettings.Networks}}{{.EndpointID}} {{end}}', container);
    const eps = await endpoints();
    const wanted = id.split(' ').filter(Boolean).map((x) => x.slice(0, 8));
    return eps.filter((e) => wanted.includes(e.ID.slice(0, 8)));
  };
  const vethCount = async () => (await run(['ip', '-n', host, '-o', 'link', 'show'])).stdout.split('\n').filter((l) => /sy-ep-/.test(l)).length;

  before(async () => {
    requireRoot();
    ({ host, outside } = await w.hostAndOutside());
    ({ engine, hostd } = await startDockerWorld(w, host));
  });
  after(async () => {
    await stopDockerWorld(w, engine);
    assert.deepEqual(w.leftovers(), []);
  });

  it('docker network create -d nat makes an ordinary Switchyard NAT network', async () => {
    await engine.ok('network', 'create', '-d', 'nat', '--subnet', '172.18.0.0/24', 'MyNatNetwork');
    const nets = (await hostd.client.request<{ Type: string; Ipams: { Subnets: { IpAddressPrefix: string; Routes: { NextHop: string }[] }[] }[] }[]>('GET', '/networks'))!;
    assert.equal(nets.length, 1);
    assert.equal(nets[0]!.Type, 'NAT');
    assert.equal(nets[0]!.Ipams[0]!.Subnets[0]!.IpAddressPrefix, '172.18.0.0/24');
    assert.equal(nets[0]!.Ipams[0]!.Subnets[0]!.Routes[0]!.NextHop, '172.18.0.1');
  });

  it('docker run -p 8080:80 is reachable from outside, from the host (127.0.0.1) and by hairpin', async () => {
    await engine.ok('run', '-d', '--stop-timeout', '1', '--name', 'web', '--net', 'MyNatNetwork', '-p', '8080:80', IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www');
    await waitFor('web from outside', async () => (await w.curl(outside, 'http://192.0.2.1:8080/')) === 'hello-from-docker');
    assert.equal(await w.curl(host, 'http://127.0.0.1:8080/'), 'hello-from-docker');
    assert.equal(await w.curl(host, 'http://192.0.2.3:8080/'), 'hello-from-docker');
    const hairpin = await engine.ok('run', '--rm', '--net', 'MyNatNetwork', IMAGE, ...ncGet('192.0.2.1', 8080));
    assert.equal(hairpin, 'hello-from-docker', 'hairpin from another container');
    const self = await engine.ok('exec', 'web', ...ncGet('192.0.2.1', 8080));
    assert.equal(self, 'hello-from-docker', 'hairpin to itself');
    const byName = await engine.ok('run', '--rm', '--net', 'MyNatNetwork', IMAGE, ...ncGet('web', 80));
    assert.equal(byName, 'hello-from-docker', "Docker's embedded DNS works on the network");
  });

  it('the container is an ordinary endpoint: endpoint ls shows it; the admin adds a mapping and an ACL while it runs', async () => {
    const [ep] = await epOf('web');
    assert.ok(ep, 'endpoint found by its Docker id');
    assert.equal(ep.IpConfigurations[0]!.IpAddress, '172.18.0.2');
    assert.match(ep.NamespacePath ?? '', /\/exec\/netns\//);
    const ls = await w.cli(hostd, 'endpoint', 'ls');
    assert.match(ls.stdout, new RegExp(`${ep.Name}\\s+\\S+\\s+\\S+\\s+172\\.18\\.0\\.2\\s+\\S+\\s+8080->80/tcp`));
    const route = await engine.ok('exec', 'web', 'ip', 'route', 'show', 'default');
    assert.match(route, /default via 172\.18\.0\.1 dev eth0/);
    // the host admin adds a policy to the running container's endpoint with the host API
    await hostd.client.request('PATCH', `/endpoints/${ep.ID}`, { ResourceType: 'Policy', RequestType: 'Add', Settings: { Policies: [{ Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 80, ExternalPort: 8088 } }] } });
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8088/'), 'hello-from-docker');
    // ... and an ACL that blocks what comes in on port 80, then takes it out again
    const block = { Type: 'ACL', Settings: { Id: 'no-web', Action: 'Block', Direction: 'In', Protocols: '6', LocalPorts: '80', Priority: 100 } };
    await hostd.client.request('PATCH', `/endpoints/${ep.ID}`, { ResourceType: 'Policy', RequestType: 'Add', Settings: { Policies: [block] } });
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8080/', 1), '', 'blocked by the ACL');
    await hostd.client.request('PATCH', `/endpoints/${ep.ID}`, { ResourceType: 'Policy', RequestType: 'Remove', Settings: { Policies: [block] } });
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8080/'), 'hello-from-docker');
  });

  it('-p 80 gets a free host port; /udp; -p 127.0.0.1:...; --ip; --mac-address', async () => {
    await engine.ok('run', '-d', '--stop-timeout', '1', '--name', 'multi', '--net', 'MyNatNetwork', '--ip', '172.18.0.50', '--mac-address', '02:aa:bb:cc:dd:ee',
      '-p', '80', '-p', '127.0.0.1:9090:80', '-p', '5353:53/udp', IMAGE, 'sh', '-c', "socat UDP-RECVFROM:53,fork SYSTEM:'echo udp-pong' & httpd -f -p 80 -h /www");
    const [ep] = await epOf('multi');
    assert.equal(ep!.IpConfigurations[0]!.IpAddress, '172.18.0.50');
    assert.equal(ep!.MacAddress, '02-AA-BB-CC-DD-EE');
    const link = await engine.ok('exec', 'multi', 'ip', '-o', 'link', 'show', 'eth0');
    assert.match(link, /02:aa:bb:cc:dd:ee/);
    const eph = ep!.Policies.find((p) => p.Type === 'PortMapping' && !p.Settings.VIP && p.Settings.InternalPort === 80);
    const port = Number(eph?.Settings.ExternalPort);
    assert.ok(port >= 49152 && port <= 65535, `ephemeral host port ${port}`);
    await waitFor('the ephemeral port from outside', async () => (await w.curl(outside, `http://192.0.2.1:${port}/`)) === 'hello-from-docker');
    assert.equal(await w.curl(host, 'http://127.0.0.1:9090/'), 'hello-from-docker');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:9090/', 1), '', 'bound to 127.0.0.1 only');
    await waitFor('the UDP mapping', async () => {
      const r = await w.exec(outside, ['socat', '-T1', '-', 'UDP:192.0.2.1:5353'], { stdin: 'ping\n', okExitCodes: [1] });
      return r.stdout.includes('udp-pong');
    });
  });

  it('the switchyard IPAM, network options, and connect/disconnect (the gateway stays on the first network)', async () => {
    await engine.ok('network', 'create', '-d', 'nat', '--ipam-driver', 'switchyard', '-o', 'com.docker.network.windowsshim.networkname=Second',
      '-o', 'com.docker.network.windowsshim.dnssuffix=corp.example', 'N2');
    const subnet = await engine.ok('network', 'inspect', '--format', '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}', 'N2');
    const [pool, gw] = subnet.split(' ');
    assert.match(pool!, /^172\.(1[6-9]|2\d|3[01])\.\d+\.0\/24$/);
    const net = await hostd.client.request<{ Name: string; Dns: { Domain?: string }; Ipams: { Subnets: { IpAddressPrefix: string }[] }[] }>('GET', '/networks/Second');
    assert.equal(net!.Ipams[0]!.Subnets[0]!.IpAddressPrefix, pool);
    assert.equal(net!.Dns.Domain, 'corp.example');
    await engine.ok('network', 'connect', 'N2', 'web');
    const addrs = await engine.ok('exec', 'web', 'ip', '-o', '-4', 'addr', 'show', 'eth1');
    assert.match(addrs, new RegExp(`inet ${gw!.replace(/\.1$/, '.2').replace(/\./g, '\\.')}/24`));
    assert.match(await engine.ok('exec', 'web', 'ip', 'route', 'show', 'default'), /via 172\.18\.0\.1 dev eth0/);
    const fromN2 = await engine.ok('run', '--rm', '--net', 'N2', IMAGE, ...ncGet('web', 80));
    assert.equal(fromN2, 'hello-from-docker', 'reached over the second network');
    assert.equal((await epOf('web')).length, 2);
    await engine.ok('network', 'disconnect', 'N2', 'web');
    assert.equal((await epOf('web')).length, 1);
    // (the interface is down at once and deleted in the background: see LinuxDataPlane.retireLinks)
    await waitFor('eth1 to be gone', async () => (await engine.docker('exec', 'web', 'ip', 'link', 'show', 'eth1')).code !== 0);
    assert.match(await engine.ok('exec', 'web', 'ip', 'route', 'show', 'default'), /via 172\.18\.0\.1 dev eth0/);
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8080/'), 'hello-from-docker');
    // the first network goes: the default route and the -p mappings move to the second, as in Docker
    await engine.ok('run', '-d', '--stop-timeout', '1', '--name', 'mover', '--net', 'MyNatNetwork', '-p', '8095:80', '-p', '80', IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www');
    await waitFor('mover', async () => (await w.curl(outside, 'http://192.0.2.1:8095/')) === 'hello-from-docker');
    const ephemeral = (await epOf('mover'))[0]!.Policies.find((p) => p.Settings.ExternalPort !== 8095)!.Settings.ExternalPort;
    await engine.ok('network', 'connect', 'N2', 'mover');
    await engine.ok('network', 'disconnect', 'MyNatNetwork', 'mover');
    assert.match(await engine.ok('exec', 'mover', 'ip', 'route', 'show', 'default'), new RegExp(`via ${gw!.replace(/\./g, '\\.')} dev eth1`));
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8095/'), 'hello-from-docker', 'the mapping followed the gateway');
    assert.equal(await w.curl(outside, `http://192.0.2.1:${ephemeral}/`), 'hello-from-docker', 'with the same host port');
    await engine.ok('rm', '-f', 'mover');
    await engine.ok('network', 'rm', 'N2');
    assert.equal((await w.cli(hostd, 'network', 'inspect', 'Second')).code, 1);
  });

  it('outboundnat_exceptions: traffic to an exception leaves untranslated, the rest as the host', async () => {
    w.spawnIn(outside, ['socat', 'TCP-LISTEN:9000,fork,reuseaddr', 'SYSTEM:echo $SOCAT_PEERADDR']);
    await engine.ok('network', 'create', '-d', 'nat', '--subnet', '172.26.0.0/24', '-o', 'com.docker.network.windowsshim.outboundnat_exceptions=192.0.2.2/32', 'N5');
    const peer = async (net: string) => {
      for (let i = 0; i < 20; i++) {
        const r = await engine.docker('run', '--rm', '--net', net, IMAGE, ...withNetwork('nc -w 2 192.0.2.2 9000 </dev/null'));
        if (r.stdout) return r.stdout;
      }
      return '';
    };
    assert.equal(await peer('N5'), '172.26.0.2', 'not translated: the exception');
    assert.equal(await peer('MyNatNetwork'), '192.0.2.1', 'translated to the host address');
    await engine.ok('network', 'rm', 'N5');
  });

  it('--internal: endpoints reach each other, not the outside, not a published port; -p publishes nothing', async () => {
    w.spawnIn(outside, ['socat', 'TCP-LISTEN:9001,fork,reuseaddr', 'SYSTEM:echo from-outside']);
    await engine.ok('network', 'create', '-d', 'nat', '--internal', '--subnet', '172.27.0.0/24', 'Int');
    assert.equal(await engine.ok('network', 'inspect', '--format', '{{.Internal}}', 'Int'), 'true');
    assert.match((await w.cli(hostd, 'network', 'ls')).stdout, /docker-net-\S+\s+\S+\s+NAT internal\s+172\.27\.0\.0\/24/);
    // -p on an internal network is accepted and publishes nothing, as with Docker's bridge driver
    await engine.ok('run', '-d', '--stop-timeout', '1', '--name', 'isrv', '--net', 'Int', '-p', '8097:80', IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www');
    const byName = await engine.ok('run', '--rm', '--net', 'Int', IMAGE, 'sh', '-c', "i=0; while [ $i -lt 200 ] && ! ip -o addr show eth0 | grep -q inet; do sleep 0.01; i=$((i+1)); done; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 isrv 80 | tail -n 1");
    assert.equal(byName, 'hello-from-docker', 'a peer on the internal network reaches it (by name)');
    assert.doesNotMatch(await engine.ok('exec', 'isrv', 'ip', 'route'), /default/, 'no default route');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8097/', 1), '', 'not published to the outside');
    assert.equal(await w.curl(host, 'http://127.0.0.1:8097/', 1), '', 'nor on the host');
    // Even a container that makes itself a default route (NET_ADMIN) gets nothing through the host:
    // not the outside, not a port another network publishes (web's 8080, also on this bridge's gateway).
    const tryOut = async (net: string, cmd: string) => {
      const gw = net === 'Int' ? '172.27.0.1' : '172.18.0.1';
      const r = await engine.docker('run', '--rm', '--cap-add', 'NET_ADMIN', '--net', net, IMAGE, 'sh', '-c',
        `i=0; while [ $i -lt 200 ] && ! ip -o addr show eth0 | grep -q inet; do sleep 0.01; i=$((i+1)); done; ip route add default via ${gw} 2>/dev/null; ${cmd}`);
      return r.stdout;
    };
    const outsideCmd = 'nc -w 2 192.0.2.2 9001 </dev/null';
    const published = (ip: string) => `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${ip} 8080 | tail -n 1`;
    assert.equal(await tryOut('MyNatNetwork', outsideCmd), 'from-outside', 'control: a NAT network reaches the outside');
    assert.equal(await tryOut('MyNatNetwork', published('172.18.0.1')), 'hello-from-docker', 'control: and a published port');
    assert.equal(await tryOut('Int', outsideCmd), '', 'the internal network does not reach the outside');
    assert.equal(await tryOut('Int', published('192.0.2.1')), '', 'nor a published port on the host address');
    assert.equal(await tryOut('Int', published('172.27.0.1')), '', 'nor on its own gateway address');
    // connected to a NAT network too, the container takes that network's default route and its -p
    await engine.ok('network', 'connect', 'MyNatNetwork', 'isrv');
    assert.match(await engine.ok('exec', 'isrv', 'ip', 'route'), /default via 172\.18\.0\.1 dev eth1/);
    await waitFor('-p published on the NAT network', async () => (await w.curl(outside, 'http://192.0.2.1:8097/', 1)) === 'hello-from-docker');
    await engine.ok('rm', '-f', 'isrv');
    await engine.ok('network', 'rm', 'Int');
  });

  it('windowsshim.interface: traffic leaves by that interface only; windowsshim.macpool: MACs from the pool', async () => {
    w.spawnIn(outside, ['socat', 'TCP-LISTEN:9002,fork,reuseaddr', 'SYSTEM:echo $SOCAT_PEERADDR']);
    const shim = 'com.docker.network.windowsshim.';
    await engine.ok('network', 'create', '-d', 'nat', '--subnet', '172.28.0.0/24', '-o', `${shim}interface=eth0`, '-o', `${shim}macpool=00-15-5D-52-C0-10,00-15-5D-52-C0-1F`, 'ViaEth0');
    await engine.ok('network', 'create', '-d', 'nat', '--subnet', '172.29.0.0/24', '-o', `${shim}interface=lo`, 'ViaLo');
    // The gateway answers (the network is up), then the outside server is asked who is calling.
    const probe = async (net: string, gw: string) => (await engine.docker('run', '--rm', '--net', net, IMAGE,
      ...withNetwork(`ip -o link show eth0 | grep -o 'ether [0-9a-f:]*'; ping -c 1 -W 2 ${gw} >/dev/null && echo gateway-ok; nc -w 2 192.0.2.2 9002 </dev/null`))).stdout;
    assert.deepEqual((await probe('ViaEth0', '172.28.0.1')).split('\n'), ['ether 00:15:5d:52:c0:10', 'gateway-ok', '192.0.2.1'], 'out by eth0, masqueraded; the first MAC of the pool');
    assert.deepEqual((await probe('ViaLo', '172.29.0.1')).split('\n').slice(1), ['gateway-ok'], 'the host routes it to eth0, which is not the way out of ViaLo');
    const net = await hostd.client.request<{ Policies: unknown[]; MacPool: unknown }>('GET', `/networks/${(await engine.ok('network', 'inspect', '--format', '{{.Id}}', 'ViaEth0')).slice(0, 32).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5')}`);
    assert.deepEqual(net!.Policies, [{ Type: 'NetAdapterName', Settings: { NetworkAdapterName: 'eth0' } }]);
    assert.deepEqual(net!.MacPool, { Ranges: [{ StartMacAddress: '00-15-5D-52-C0-10', EndMacAddress: '00-15-5D-52-C0-1F' }] });
    await engine.ok('network', 'rm', 'ViaEth0', 'ViaLo');
  });

  it('refuses unknown options, features hostd lacks, and overlapping subnets with clear errors', async () => {
    const unknown = await engine.docker('network', 'create', '-d', 'nat', '-o', 'foo=bar', 'Bad1');
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /Unknown network option "foo".*SY_BAD_REQUEST/);
    const vsid = await engine.docker('network', 'create', '-d', 'nat', '-o', 'com.docker.network.windowsshim.vsid=4096', 'Bad2');
    assert.match(vsid.stderr, /windowsshim\.vsid is not supported.*SY_NOT_SUPPORTED/);
    const vlan = await engine.docker('network', 'create', '-d', 'nat', '-o', 'com.docker.network.windowsshim.vlanid=7', 'Bad2');
    assert.match(vlan.stderr, /windowsshim\.vlanid is not supported: .*l2bridge or transparent.*SY_NOT_SUPPORTED/);
    const nic = await engine.docker('network', 'create', '-d', 'nat', '-o', 'com.docker.network.windowsshim.interface=nosuch0', 'Bad2');
    assert.match(nic.stderr, /NetAdapterName "nosuch0" is not an interface of this host.*SY_BAD_REQUEST/);
    const exc = await engine.docker('network', 'create', '-d', 'nat', '-o', 'com.docker.network.windowsshim.outboundnat_exceptions=10.0.0.0/33', 'Bad3');
    assert.match(exc.stderr, /outboundnat_exceptions.*SY_INVALID/);
    assert.equal((await w.cli(hostd, 'network', 'create', '--subnet', '172.30.0.0/24', 'AdminNet')).code, 0);
    const overlap = await engine.docker('network', 'create', '-d', 'nat', '--subnet', '172.30.0.0/16', 'Bad5');
    assert.match(overlap.stderr, /overlaps network "AdminNet".*SY_SUBNET_OVERLAP/);
    const names = (await engine.ok('network', 'ls', '--format', '{{.Name}}')).split('\n');
    assert.ok(!names.some((n) => n.startsWith('Bad')), `no half-made Docker network: ${names.join(',')}`);
    assert.equal((await hostd.client.request<unknown[]>('GET', '/networks'))!.length, 2, 'MyNatNetwork and AdminNet only');
    assert.equal((await w.cli(hostd, 'network', 'rm', 'AdminNet')).code, 0);
  });

  it('a port already published fails the run with SY_PORT_IN_USE and leaves nothing behind', async () => {
    const before = { eps: (await endpoints()).length, veths: await vethCount() };
    const r = await engine.docker('run', '-d', '--name', 'clash', '--net', 'MyNatNetwork', '-p', '8080:80', IMAGE, 'sleep', '60');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Host port 8080\/tcp is already published.*SY_PORT_IN_USE/);
    await waitFor('the rollback', async () => (await endpoints()).length === before.eps);
    assert.equal(await vethCount(), before.veths);
    assert.equal((await hostd.client.request<unknown[]>('GET', '/namespaces'))!.length, 2, 'only the sandboxes of web and multi');
    await engine.docker('rm', '-f', 'clash');
    // an address taken in the switchyard IPAM
    await engine.ok('network', 'create', '-d', 'nat', '--ipam-driver', 'switchyard', '--subnet', '172.25.0.0/24', 'N4');
    await engine.ok('run', '-d', '--stop-timeout', '1', '--name', 'holder', '--net', 'N4', '--ip', '172.25.0.9', IMAGE, 'sleep', '600');
    const taken = await engine.docker('run', '-d', '--name', 'clash2', '--net', 'N4', '--ip', '172.25.0.9', IMAGE, 'sleep', '60');
    assert.match(taken.stderr, /172\.25\.0\.9 is already in use.*SY_ADDRESS_IN_USE/);
    await engine.docker('rm', '-f', 'clash2', 'holder');
    await engine.ok('network', 'rm', 'N4');
    assert.equal((await endpoints()).length, before.eps);
  });

  it('docker stop removes the endpoint and its port; docker start brings both back', async () => {
    await engine.ok('stop', '-t', '1', 'multi');
    assert.equal((await endpoints()).length, 1);
    assert.equal(await w.curl(host, 'http://127.0.0.1:9090/', 1), '');
    await engine.ok('start', 'multi');
    await waitFor('multi again', async () => (await w.curl(host, 'http://127.0.0.1:9090/')) === 'hello-from-docker');
    assert.equal((await endpoints()).length, 2);
  });

  it('a hostd crash (kill -9) does not interrupt traffic; after restart Docker\'s calls work on the same objects', async () => {
    // Traffic that flows before the crash (the container the last test started may still be joining).
    await waitFor('traffic before the crash', async () => (await w.curl(outside, 'http://192.0.2.1:8080/')) === 'hello-from-docker');
    await w.stopHostd(hostd, 'SIGKILL');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8080/'), 'hello-from-docker', 'traffic flows while hostd is down');
    hostd = await w.startHostd(host, { args: hostdArgs(), mountNsPid: engine.mountNsPid, stateDir: hostd.stateDir, resyncSeconds: 2 });
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8080/'), 'hello-from-docker');
    assert.equal((await endpoints()).length, 2);
    await engine.ok('rm', '-f', 'multi');
    assert.equal((await endpoints()).length, 1);
    await engine.ok('run', '-d', '--stop-timeout', '1', '--name', 'late', '--net', 'MyNatNetwork', '-p', '8081:80', IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www');
    await waitFor('a container started after the restart', async () => (await w.curl(outside, 'http://192.0.2.1:8081/')) === 'hello-from-docker');
  });

  it('a graceful dockerd restart: Docker removes its endpoints, restart=always containers come back', async () => {
    await engine.ok('run', '-d', '--stop-timeout', '1', '--restart', 'always', '--name', 'svc', '--net', 'MyNatNetwork', '-p', '8090:80', IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www');
    await waitFor('svc', async () => (await w.curl(outside, 'http://192.0.2.1:8090/')) === 'hello-from-docker');
    await engine.stop('SIGTERM');
    assert.equal((await endpoints()).length, 0, 'Leave and DeleteEndpoint came for every container');
    assert.equal(await vethCount(), 0);
    await engine.start();
    await waitFor('svc after the restart', async () => (await w.curl(outside, 'http://192.0.2.1:8090/')) === 'hello-from-docker', 30_000);
    assert.equal((await endpoints()).length, 1, 'only svc runs again');
  });

  it('kill -9 of dockerd: traffic keeps flowing; the restarted dockerd replaces the endpoint without a leak', async () => {
    await engine.ok('network', 'create', '-d', 'nat', '--ipam-driver', 'switchyard', '--subnet', '172.24.0.0/24', 'N3');
    await engine.ok('run', '-d', '--stop-timeout', '1', '--name', 'once', '--net', 'N3', IMAGE, 'sleep', '600');
    await engine.stop('SIGKILL');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8090/'), 'hello-from-docker', 'the container and its mapping outlive dockerd');
    await engine.start();
    await waitFor('svc after the crash', async () => (await w.curl(outside, 'http://192.0.2.1:8090/')) === 'hello-from-docker', 30_000);
    await waitFor('svc has one endpoint and one veth', async () => (await endpoints()).filter((e) => e.IpConfigurations[0]!.IpAddress.startsWith('172.18.')).length === 1);
    // "once" is not restarted and Docker never tells the driver: hostd finds it at its next sweep
    // (here: its start) and frees its address in the switchyard IPAM too.
    await w.stopHostd(hostd, 'SIGTERM');
    hostd = await w.startHostd(host, { args: hostdArgs(), mountNsPid: engine.mountNsPid, stateDir: hostd.stateDir, resyncSeconds: 2 });
    await waitFor('the forgotten endpoint to be swept', async () => (await endpoints()).length === 1 && (await vethCount()) === 1);
    const pools = JSON.parse(readFileSync(join(hostd.stateDir, 'docker', 'ipam.json'), 'utf8')) as { pools: Record<string, { addresses: string[] }> };
    assert.deepEqual(pools.pools['switchyard-local/172.24.0.0/24']!.addresses, ['172.24.0.1'], 'only the gateway is still held');
    await engine.ok('rm', '-f', 'once');
    await engine.ok('network', 'rm', 'N3');
  });

  it('--live-restore: the container and its endpoint stay through a dockerd kill -9 and restart', async () => {
    await engine.stop('SIGTERM');
    await engine.start({ liveRestore: true });
    await waitFor('svc with live-restore', async () => (await w.curl(outside, 'http://192.0.2.1:8090/')) === 'hello-from-docker', 30_000);
    const [before] = await endpoints();
    await engine.stop('SIGKILL');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8090/'), 'hello-from-docker');
    await engine.start({ liveRestore: true });
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8090/'), 'hello-from-docker');
    const after = await endpoints();
    assert.deepEqual(after.map((e) => e.ID), [before!.ID], 'the same endpoint, nothing replayed or leaked');
    await engine.ok('rm', '-f', 'svc');
    assert.equal((await endpoints()).length, 0);
  });

  it('docker rm and network rm remove every endpoint, link, rule and pool', async () => {
    await engine.docker('rm', '-f', 'web', 'late');
    await engine.ok('network', 'rm', 'MyNatNetwork');
    assert.equal((await endpoints()).length, 0);
    assert.equal((await hostd.client.request<unknown[]>('GET', '/networks'))!.length, 0);
    assert.equal((await hostd.client.request<unknown[]>('GET', '/namespaces'))!.length, 0);
    const links = await run(['ip', '-n', host, '-br', 'link']);
    assert.ok(!/sy-/.test(links.stdout), links.stdout);
    const tables = await w.exec(host, ['nft', 'list', 'tables']);
    assert.ok(!tables.stdout.includes('switchyard'));
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8080/', 1), '');
  });
});
