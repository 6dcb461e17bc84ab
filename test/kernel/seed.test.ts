/**
 * The seed scenario on the real kernel, driven through the CLI and the host API: a NAT network, a web
 * endpoint with published ports, reached from outside, from the host (also on 127.0.0.1), and from
 * endpoints (hairpin); outbound NAT seen from a server beyond the host; isolation between networks;
 * removal that frees everything.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, World, waitFor, type Hostd } from './world.js';
import { run } from '../../src/dataplane/run.js';

type Doc = { ID: string; Name: string; Policies: { Type: string; Settings: Record<string, number | string> }[]; IpConfigurations: { IpAddress: string }[]; NamespacePath?: string };

describe('NAT network seed scenario', () => {
  const w = new World('seed');
  let hostd: Hostd;
  let host: string;
  let outside: string;
  const web = w.nsName('web');
  const cli = w.nsName('cli');

  before(async () => {
    requireRoot();
    ({ host, outside } = await w.hostAndOutside());
    hostd = await w.startHostd(host);
  });
  after(async () => {
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  it('creates a NAT network with the CLI; the gateway defaults to .1', async () => {
    const r = await w.cli(hostd, 'network', 'create', '--type', 'nat', '--subnet', '172.18.0.0/24', '--dns-server', '192.0.2.53', '--dns-search', 'corp.example', 'MyNatNetwork');
    assert.equal(r.code, 0, r.stderr);
    const net = JSON.parse((await w.cli(hostd, 'network', 'inspect', 'MyNatNetwork')).stdout);
    assert.equal(net.Type, 'NAT');
    assert.equal(net.Ipams[0].Subnets[0].IpAddressPrefix, '172.18.0.0/24');
    assert.equal(net.Ipams[0].Subnets[0].Routes[0].NextHop, '172.18.0.1');
    assert.deepEqual(net.SchemaVersion, { Major: 2, Minor: 0 });
  });

  it('creates endpoints in new namespaces with eth0, an address, a default route and resolv.conf', async () => {
    const r = await w.cli(hostd, '-o', 'json', 'endpoint', 'create', '--network', 'MyNatNetwork',
      '--publish', '8080:80', '--publish', '80', '--publish', '5353:53/udp', '--publish', '192.0.2.3:8443:80',
      '--publish', '7000-7002:8000-8002', '--publish', '3868:3868/sctp', web);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as Doc;
    assert.equal(doc.IpConfigurations[0]!.IpAddress, '172.18.0.2');
    assert.equal(doc.NamespacePath, `/run/netns/${web}`);
    const addr = await w.exec(web, ['ip', '-j', 'addr', 'show', 'dev', 'eth0']);
    assert.match(addr.stdout, /"local":"172\.18\.0\.2","prefixlen":24/);
    const route = await w.exec(web, ['ip', 'route', 'show', 'default']);
    assert.match(route.stdout, /default via 172\.18\.0\.1 dev eth0/);
    const resolv = await w.exec(web, ['cat', '/etc/resolv.conf']);
    assert.match(resolv.stdout, /nameserver 192\.0\.2\.53/);
    assert.match(resolv.stdout, /search corp\.example/);
    const r2 = await w.cli(hostd, 'endpoint', 'create', '--network', 'MyNatNetwork', cli);
    assert.equal(r2.code, 0, r2.stderr);
    await w.httpServer(web, 80, 'hello-from-web');
    for (let p = 8000; p <= 8002; p++) await w.httpServer(web, p, `range-${p}`);
  });

  it('reaches the published port from outside, from the host (also 127.0.0.1) and by hairpin', async () => {
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8080/'), 'hello-from-web');
    assert.equal(await w.curl(host, 'http://127.0.0.1:8080/'), 'hello-from-web');
    assert.equal(await w.curl(host, 'http://192.0.2.1:8080/'), 'hello-from-web');
    assert.equal(await w.curl(cli, 'http://192.0.2.1:8080/'), 'hello-from-web', 'hairpin from another endpoint');
    assert.equal(await w.curl(web, 'http://192.0.2.1:8080/'), 'hello-from-web', 'hairpin to itself');
  });

  it('picks a free host port for ExternalPort 0 and reports it', async () => {
    const doc = (await hostd.client.request('GET', `/endpoints/${web}`)) as Doc;
    const eph = doc.Policies.find((p) => p.Type === 'PortMapping' && p.Settings.InternalPort === 80 && p.Settings.ExternalPort !== 8080 && p.Settings.ExternalPort !== 8443);
    assert.ok(eph, 'the ephemeral mapping is listed');
    const port = Number(eph.Settings.ExternalPort);
    assert.ok(port >= 49152 && port <= 65535, `ephemeral port ${port}`);
    assert.equal(await w.curl(outside, `http://192.0.2.1:${port}/`), 'hello-from-web');
  });

  it('binds a mapping to one host address, and maps a port range onto a range', async () => {
    assert.equal(await w.curl(outside, 'http://192.0.2.3:8443/'), 'hello-from-web');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8443/', 1), '', 'not published on the other address');
    for (let i = 0; i < 3; i++) assert.equal(await w.curl(outside, `http://192.0.2.1:${7000 + i}/`), `range-${8000 + i}`);
  });

  it('maps UDP, and SCTP at the ruleset level (this kernel has no SCTP sockets)', async () => {
    w.spawnIn(web, ['socat', 'UDP-RECVFROM:53,fork', 'SYSTEM:echo udp-pong']);
    await waitFor('the UDP answer through the mapping', async () => {
      const r = await w.exec(outside, ['socat', '-T1', '-', 'UDP:192.0.2.1:5353'], { stdin: 'ping\n', okExitCodes: [1] });
      return r.stdout.includes('udp-pong');
    });
    const map = await w.exec(host, ['nft', 'list', 'map', 'inet', 'switchyard', 'pm_any']);
    assert.match(map.stdout, /sctp \. 3868 comment "ep [0-9a-f-]+" : 172\.18\.0\.2 \. 3868/);
  });

  it('lets an endpoint reach a server beyond the host, which sees only the host (one IP, one MAC)', async () => {
    w.spawnIn(outside, ['socat', 'TCP-LISTEN:9000,fork,reuseaddr', 'SYSTEM:echo $SOCAT_PEERADDR']);
    let seen = '';
    await waitFor('the outside server', async () => {
      seen = (await w.exec(cli, ['socat', '-T2', '-', 'TCP:192.0.2.2:9000'], { okExitCodes: [1] })).stdout.trim();
      return seen !== '';
    });
    assert.equal(seen, '192.0.2.1');
    const neigh = await w.exec(outside, ['ip', '-j', 'neigh', 'show', 'dev', 'eth0']);
    const entries = JSON.parse(neigh.stdout) as { dst: string; lladdr?: string }[];
    assert.ok(entries.every((e) => e.dst.startsWith('192.0.2.')), `only host addresses on the wire: ${neigh.stdout}`);
    assert.equal(new Set(entries.map((e) => e.lladdr).filter(Boolean)).size, 1, 'one MAC');
  });

  it('connects endpoints of one network and isolates two NAT networks', async () => {
    assert.equal(await w.curl(cli, 'http://172.18.0.2/'), 'hello-from-web');
    const r = await w.cli(hostd, 'network', 'create', '--subnet', '172.19.0.0/24', 'Other');
    assert.equal(r.code, 0, r.stderr);
    const other = w.nsName('other');
    assert.equal((await w.cli(hostd, 'endpoint', 'create', '--network', 'Other', other)).code, 0);
    assert.equal(await w.curl(other, 'http://172.18.0.2/', 1), '', 'no path from one NAT network into another');
    assert.equal(await w.curl(outside, 'http://172.18.0.2/', 1), '', 'no path from outside to an endpoint address');
  });

  it('lists endpoints and networks as tables and as HCN JSON', async () => {
    const ls = await w.cli(hostd, 'endpoint', 'ls');
    assert.match(ls.stdout, new RegExp(`${web}\\s+[0-9a-f-]{36}\\s+MyNatNetwork\\s+172\\.18\\.0\\.2`));
    assert.match(ls.stdout, /8080->80\/tcp/);
    const js = JSON.parse((await w.cli(hostd, '-o', 'json', 'network', 'ls')).stdout) as Doc[];
    assert.deepEqual(js.map((n) => n.Name).sort(), ['MyNatNetwork', 'Other']);
  });

  it('removing an endpoint removes its veth, mappings and namespace and frees its address and ports', async () => {
    const doc = (await hostd.client.request('GET', `/endpoints/${web}`)) as Doc & { HostIfName: string };
    assert.equal((await w.cli(hostd, 'endpoint', 'rm', web)).code, 0);
    const links = await run(['ip', '-n', host, '-br', 'link']);
    assert.ok(!links.stdout.includes(doc.HostIfName), 'veth gone');
    const map = await w.exec(host, ['nft', 'list', 'map', 'inet', 'switchyard', 'pm_any']);
    assert.ok(!map.stdout.includes(doc.ID), 'no map element of the endpoint remains');
    assert.ok(!w.leftovers().includes(web), 'the namespace made for it is gone');
    const again = await w.cli(hostd, '-o', 'json', 'endpoint', 'create', '--network', 'MyNatNetwork', '--ip', '172.18.0.2', '--publish', '8080:80', web);
    assert.equal(again.code, 0, `address and port are free again: ${again.stderr}`);
  });

  it('removing the networks removes every link and the table', async () => {
    assert.equal((await w.cli(hostd, 'network', 'rm', 'MyNatNetwork', 'Other')).code, 0);
    const links = await run(['ip', '-n', host, '-br', 'link']);
    assert.ok(!/sy-/.test(links.stdout), links.stdout);
    const tables = await run(['ip', 'netns', 'exec', host, 'nft', 'list', 'tables']);
    assert.ok(!tables.stdout.includes('switchyard'));
    const eps = (await hostd.client.request('GET', '/endpoints')) as Doc[];
    assert.equal(eps.length, 0);
  });
});
