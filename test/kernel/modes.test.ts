/**
 * The uplink modes on a fabric of network namespaces: two hosts (hostd in each) whose eth1 are ports
 * of a fabric bridge (the physical switch), and a router on it (10.0.0.1, with 198.18.0.1 beyond it
 * where a server answers with the source address it sees). tcpdump -e on each host's fabric port
 * records what the wire sees, and the test reads the frames back: Transparent shows each endpoint's
 * own MAC, L2Bridge and L2Tunnel only the host's, and L2Tunnel's same-host traffic is on the wire
 * (the fabric port's hairpin plays the upstream switch that sends it back). The hosts keep their own
 * address and default route while their adapter is a network's, and get them back when it goes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, World, waitFor, type Hostd } from './world.js';
import { startCapture } from './capture.js';
import { buildFabric } from './fabric.js';
import { run } from '../../src/dataplane/run.js';

interface Frame {
  srcMac: string;
  line: string;
}

describe('Transparent, L2Bridge and L2Tunnel networks on a fabric', () => {
  const w = new World('mode');
  const hosts: Record<string, { ns: string; hostd: Hostd; mac: string }> = {};
  let fabric: string;
  let router: string;

  /** Starts a capture on the fabric port of `host`; stop() returns the frames it saw. */
  async function capture(host: string): Promise<{ stop: () => Promise<Frame[]> }> {
    const cap = await startCapture(w, fabric, `fab-${host}`);
    return {
      stop: async () => (await cap.stop()).split('\n').filter((l) => /ethertype (ARP|IPv4)/.test(l)).map((line) => ({ srcMac: line.split(' ')[1]!, line })),
    };
  }

  async function endpoint(hostd: Hostd, net: string, name: string, ip: string, extra: Record<string, unknown> = {}) {
    const ns = w.nsName(name);
    await hostd.client.request('POST', '/namespaces', { Path: ns });
    return hostd.client.request<{ ID: string; MacAddress: string }>('POST', '/endpoints', {
      Name: name,
      HostComputeNetwork: net,
      HostComputeNamespace: ns,
      IpConfigurations: [{ IpAddress: ip, PrefixLength: 24 }],
      ...extra,
    });
  }

  const ping = async (from: string, to: string) => (await w.exec(w.nsName(from), ['busybox', 'ping', '-c', '1', '-W', '2', to], { okExitCodes: [1] })).exitCode === 0;
  const pingNs = async (ns: string, to: string) => (await w.exec(ns, ['busybox', 'ping', '-c', '1', '-W', '2', to], { okExitCodes: [1] })).exitCode === 0;
  /** The source address the server beyond the router sees for a connection from `from`. */
  const seenAs = async (fromNs: string) => {
    const r = await w.exec(fromNs, ['socat', '-T', '3', '-', 'TCP:198.18.0.1:8080,connect-timeout=3'], { okExitCodes: [1], stdin: '' });
    return r.stdout.trim();
  };

  async function uplinkOf(ns: string) {
    const { stdout } = await run(['ip', '-n', ns, '-j', 'addr', 'show', 'dev', 'eth1']);
    const l = JSON.parse(stdout)[0] as { master?: string; addr_info: { local: string; prefixlen: number; family: string }[] };
    const routes = (await run(['ip', '-n', ns, 'route', 'show', 'default'])).stdout.trim();
    return { master: l.master, v4: l.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`), routes };
  }

  before(async () => {
    requireRoot();
    const built = await buildFabric(w, [['h1', '10.0.0.11'], ['h2', '10.0.0.12']]);
    ({ fabric, router } = built);
    for (const [name, ns] of Object.entries(built.hostNs)) {
      const mac = JSON.parse((await run(['ip', '-n', ns, '-j', 'link', 'show', 'dev', 'eth1'])).stdout)[0].address as string;
      hosts[name] = { ns, hostd: await w.startHostd(ns), mac };
    }
    // The server beyond the router answers with the address it sees the connection come from.
    w.spawnIn(router, ['socat', 'TCP-LISTEN:8080,bind=198.18.0.1,reuseaddr,fork', 'SYSTEM:echo $SOCAT_PEERADDR']);
    await waitFor('the server beyond the router', async () => (await seenAs(hosts.h1!.ns)) === '10.0.0.11');
  });
  after(async () => {
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  const adapterPolicy = { Type: 'NetAdapterName', Settings: { NetworkAdapterName: 'eth1' } };
  const subnet = (extra: Record<string, unknown> = {}) => [{ Type: 'Static', Subnets: [{ IpAddressPrefix: '10.0.0.0/24', Routes: [{ NextHop: '10.0.0.1', DestinationPrefix: '0.0.0.0/0' }], ...extra }] }];

  it('refuses what it cannot do, changing nothing', async () => {
    const h = hosts.h1!.hostd;
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ Name: 'x', Type: 'L2Bridge', Ipams: subnet() }, 'SY_BAD_REQUEST', /bound to a host adapter/],
      [{ Name: 'x', Type: 'L2Bridge', Policies: [{ Type: 'NetAdapterName', Settings: { NetworkAdapterName: 'eth9' } }] }, 'SY_BAD_REQUEST', /not an interface/],
      [{ Name: 'x', Type: 'Transparent', Policies: [adapterPolicy], Ipams: subnet({ Policies: [{ Type: 'VLAN', Settings: { IsolationId: 7 } }] }) }, 'SY_NOT_SUPPORTED', /802\.1Q/],
      [{ Name: 'x', Type: 'L2Tunnel', Policies: [adapterPolicy], Internal: true }, 'SY_NOT_SUPPORTED', /internal/],
    ];
    for (const [doc, code, msg] of cases) {
      await assert.rejects(h.client.request('POST', '/networks', doc), (e: Error & { code?: string }) => e.code === code && msg.test(e.message), JSON.stringify(doc));
    }
    assert.deepEqual(await h.client.request('GET', '/networks'), []);
    assert.deepEqual(await uplinkOf(hosts.h1!.ns), { master: undefined, v4: ['10.0.0.11/24'], routes: 'default via 10.0.0.1 dev eth1' });
  });

  it('L2Bridge: one MAC on the wire, endpoints reach each other, the router, the other host and the world (OutBoundNAT); the host keeps its address', async () => {
    const { hostd: h1, ns: h1ns, mac: mac1 } = hosts.h1!;
    const { hostd: h2 } = hosts.h2!;
    for (const h of [h1, h2]) await h.client.request('POST', '/networks', { Name: 'l2b', Type: 'L2Bridge', Policies: [adapterPolicy], Ipams: subnet() });
    const moved = await uplinkOf(h1ns);
    assert.equal(moved.v4.length, 0, 'the address moved onto the switch bridge');
    assert.match(moved.master ?? '', /^sy-sw-/);
    assert.match(moved.routes, /default via 10\.0\.0\.1 dev sy-sw-/);
    assert.ok(await pingNs(router, '10.0.0.11'), 'the host is still reachable at its address');
    assert.ok(await pingNs(h1ns, '10.0.0.1'), 'the host still reaches its gateway');
    await assert.rejects(h1.client.request('POST', '/networks', { Name: 'again', Type: 'Transparent', Policies: [adapterPolicy] }), /already the uplink/);
    await assert.rejects(endpoint(h1, 'l2b', 'pm', '10.0.0.49', { Policies: [{ Type: 'PortMapping', Settings: { InternalPort: 80, ExternalPort: 8080 } }] }), /PortMapping/);
    await assert.rejects(endpoint(h1, 'l2b', 'own', '10.0.0.11'), /address of this host/);
    const cap = await capture('h1');
    await endpoint(h1, 'l2b', 'b50', '10.0.0.50');
    await endpoint(h1, 'l2b', 'b51', '10.0.0.51', { Policies: [{ Type: 'OutBoundNAT', Settings: { Exceptions: [] } }] });
    await endpoint(h2, 'l2b', 'b60', '10.0.0.60');
    assert.ok(await ping('b50', '10.0.0.1'), 'endpoint → router');
    assert.ok(await ping('b50', '10.0.0.51'), 'endpoint → endpoint on the same host');
    assert.ok(await ping('b50', '10.0.0.60'), 'endpoint → endpoint on the other host');
    assert.ok(await pingNs(router, '10.0.0.50'), 'router → endpoint');
    assert.ok(await ping('b50', '10.0.0.11'), 'endpoint → its own host');
    assert.equal(await seenAs(w.nsName('b50')), '10.0.0.50', 'without OutBoundNAT the endpoint\'s own address reaches the world');
    assert.equal(await seenAs(w.nsName('b51')), '10.0.0.11', 'OutBoundNAT translates to the host\'s address');
    assert.ok(await ping('b51', '10.0.0.60'), 'its own subnet is never translated');
    const frames = await cap.stop();
    const fromH1 = frames.filter((f) => / (10\.0\.0\.5[01]|10\.0\.0\.11)[ .:]/.test(f.line.split('>')[0]!) || /tell 10\.0\.0\.5[01]|10\.0\.0\.5[01] is-at/.test(f.line));
    assert.ok(fromH1.length > 4, `frames from host 1's endpoints were captured:\n${frames.map((f) => f.line).join('\n')}`);
    const macs = new Set(fromH1.map((f) => f.srcMac));
    assert.deepEqual([...macs], [mac1], `only host 1's MAC is seen for its endpoints:\n${fromH1.map((f) => f.line).join('\n')}`);
    assert.ok(!frames.some((f) => /10\.0\.0\.50 > 10\.0\.0\.51: ICMP/.test(f.line)), 'same-host traffic stays on the host');
    const ips = new Set(frames.flatMap((f) => [...f.line.matchAll(/ (10\.0\.0\.5[01])[ .:>]/g)].map((m) => m[1])));
    assert.deepEqual([...ips].sort(), ['10.0.0.50', '10.0.0.51'], 'both endpoint addresses appear on the wire');
    const tr = await h1.client.request<{ Path: string[] }>('POST', '/trace', { Endpoint: 'b50', Direction: 'Out', Protocol: 'TCP', RemoteAddress: '198.18.0.1', RemotePort: 8080 });
    assert.match(tr.Path.join(' '), /rewritten/);
    for (const h of [h1, h2]) await h.client.request('DELETE', '/networks/l2b');
    assert.deepEqual(await uplinkOf(h1ns), { master: undefined, v4: ['10.0.0.11/24'], routes: 'default via 10.0.0.1 dev eth1' }, 'the adapter is given back as it was');
  });

  it('Transparent: each endpoint\'s own MAC on the wire', async () => {
    const { hostd: h2, ns: h2ns, mac: mac2 } = hosts.h2!;
    await h2.client.request('POST', '/networks', { Name: 'tp', Type: 'Transparent', Policies: [adapterPolicy], Ipams: subnet() });
    const cap = await capture('h2');
    const a = await endpoint(h2, 'tp', 't80', '10.0.0.80');
    const b = await endpoint(h2, 'tp', 't81', '10.0.0.81');
    assert.ok(await ping('t80', '10.0.0.1'));
    assert.ok(await ping('t81', '10.0.0.1'));
    assert.ok(await pingNs(router, '10.0.0.81'));
    const frames = await cap.stop();
    const macOf = (ip: string) => new Set(frames.filter((f) => f.line.includes(`${ip} > 10.0.0.1`)).map((f) => f.srcMac));
    const want = (m: string) => m.toLowerCase().replace(/-/g, ':');
    assert.deepEqual([...macOf('10.0.0.80')], [want(a.MacAddress)]);
    assert.deepEqual([...macOf('10.0.0.81')], [want(b.MacAddress)]);
    assert.notEqual(want(a.MacAddress), mac2);
    await h2.client.request('DELETE', '/networks/tp');
    assert.deepEqual((await uplinkOf(h2ns)).v4, ['10.0.0.12/24']);
  });

  it('L2Tunnel: same-host traffic goes out to the upstream switch and comes back; without the upstream it does not flow', async () => {
    const { hostd: h1, ns: h1ns, mac: mac1 } = hosts.h1!;
    await h1.client.request('POST', '/networks', { Name: 'tun', Type: 'L2Tunnel', Policies: [adapterPolicy], Ipams: subnet() });
    await endpoint(h1, 'tun', 'u70', '10.0.0.70');
    await endpoint(h1, 'tun', 'u71', '10.0.0.71');
    assert.ok(await ping('u70', '10.0.0.1'), 'endpoint → router');
    assert.ok(!(await ping('u70', '10.0.0.71')), 'no local switching: without an upstream that sends frames back, same-host endpoints do not meet');
    await w.ip(fabric, 'link set fab-h1 type bridge_slave hairpin on');
    try {
      const cap = await capture('h1');
      assert.ok(await ping('u70', '10.0.0.71'), 'with the upstream sending frames back, they do');
      const frames = await cap.stop();
      const icmp = frames.filter((f) => /10\.0\.0\.70 > 10\.0\.0\.71: ICMP echo request/.test(f.line));
      assert.ok(icmp.length >= 1, `the same-host ping crossed the wire:\n${frames.map((f) => f.line).join('\n')}`);
      assert.deepEqual([...new Set(icmp.map((f) => f.srcMac))], [mac1], 'with the host\'s MAC');
    } finally {
      await w.ip(fabric, 'link set fab-h1 type bridge_slave hairpin off');
    }
    await h1.client.request('DELETE', '/networks/tun');
    assert.deepEqual((await uplinkOf(h1ns)).v4, ['10.0.0.11/24']);
  });

  it('L2Tunnel upstream role: the upstream host holds the tunnelled endpoints\' ACLs and applies them to their traffic', async () => {
    const { hostd: h1, ns: h1ns } = hosts.h1!;
    await h1.client.request('POST', '/networks', { Name: 'tun2', Type: 'L2Tunnel', Policies: [adapterPolicy], Ipams: subnet() });
    await endpoint(h1, 'tun2', 'v72', '10.0.0.72');
    await endpoint(h1, 'tun2', 'v73', '10.0.0.73');
    w.spawnIn(w.nsName('v73'), ['socat', 'TCP-LISTEN:8080,reuseaddr,fork', 'SYSTEM:echo hello']);
    const reach = async () => (await w.exec(w.nsName('v72'), ['socat', '-T', '2', '-', 'TCP:10.0.0.73:8080,connect-timeout=2'], { okExitCodes: [1], stdin: '' })).stdout.trim();
    await w.ip(fabric, 'link set fab-h1 type bridge_slave hairpin on');
    const up = await w.startHostd(fabric);
    try {
      await waitFor('the same-host server through the upstream', async () => (await reach()) === 'hello');
      const upNet = { Name: 'tunnelled', Type: 'L2Tunnel', Policies: [{ Type: 'UpstreamSwitch', Settings: { Bridge: 'fab0' } }], Ipams: subnet() };
      await assert.rejects(up.client.request('POST', '/networks', { ...upNet, Policies: [...upNet.Policies, adapterPolicy] }), /not both/);
      await up.client.request('POST', '/networks', upNet);
      await assert.rejects(up.client.request('POST', '/endpoints', { Name: 'x', HostComputeNetwork: 'tunnelled', IpConfigurations: [{ IpAddress: '10.0.0.79' }] }), /remote ones/);
      await assert.rejects(
        up.client.request('POST', '/endpoints', { Name: 'x', HostComputeNetwork: 'tunnelled', Flags: 1, IpConfigurations: [{ IpAddress: '10.0.0.79' }], Policies: [{ Type: 'QOS', Settings: { MaximumOutgoingBandwidthInBytes: 1000000 } }] }),
        /ACL policies only/,
      );
      await up.client.request('POST', '/endpoints', {
        Name: 'r73',
        HostComputeNetwork: 'tunnelled',
        Flags: 1,
        IpConfigurations: [{ IpAddress: '10.0.0.73' }],
        Policies: [
          { Type: 'ACL', Settings: { Id: 'no-8080', Action: 'Block', Direction: 'In', Protocols: '6', LocalPorts: '8080', Priority: 100 } },
          { Type: 'ACL', Settings: { Id: 'rest-in', Action: 'Allow', Direction: 'In', Priority: 200 } },
          { Type: 'ACL', Settings: { Id: 'all-out', Action: 'Allow', Direction: 'Out', Priority: 200 } },
        ],
      });
      assert.equal(await reach(), '', 'the upstream blocks TCP 8080 to the tunnelled endpoint, also from an endpoint on its own host');
      assert.ok(await ping('v72', '10.0.0.73'), 'what its ACLs allow still flows');
      const stats = await up.client.request<{ AclStats: { Id: string; Direction: string; Packets: number }[] }>('GET', '/endpoints/r73/stats');
      assert.ok((stats.AclStats.find((x) => x.Id === 'no-8080')?.Packets ?? 0) > 0, `the upstream counted the blocked flow: ${JSON.stringify(stats)}`);
      const ep = await up.client.request<{ Flags: number }>('GET', '/endpoints/r73');
      assert.equal(ep.Flags, 1);
      await up.client.request('DELETE', '/endpoints/r73');
      await waitFor('the flow to pass again once the upstream holds no ACL for it', async () => (await reach()) === 'hello');
      await up.client.request('DELETE', '/networks/tunnelled');
      assert.equal((await run(['ip', '-n', fabric, '-j', 'link', 'show', 'dev', 'fab0'])).exitCode, 0, 'the upstream\'s own bridge is left alone');
    } finally {
      await w.ip(fabric, 'link set fab-h1 type bridge_slave hairpin off');
    }
    await h1.client.request('DELETE', '/networks/tun2');
    assert.deepEqual((await uplinkOf(h1ns)).v4, ['10.0.0.11/24']);
  });

  it('a network survives a hostd crash, and its removal after the restart gives the adapter back', async () => {
    const { ns: h1ns } = hosts.h1!;
    let h1 = hosts.h1!.hostd;
    await h1.client.request('POST', '/networks', { Name: 'keep', Type: 'L2Bridge', Policies: [adapterPolicy], Ipams: subnet() });
    await endpoint(h1, 'keep', 'k90', '10.0.0.90');
    await w.stopHostd(h1, 'SIGKILL');
    assert.ok(await ping('k90', '10.0.0.1'), 'traffic flows while hostd is down');
    h1 = hosts.h1!.hostd = await w.startHostd(h1ns, { stateDir: h1.stateDir });
    assert.ok(await ping('k90', '10.0.0.1'));
    assert.ok(await pingNs(router, '10.0.0.11'));
    await h1.client.request('DELETE', '/networks/keep');
    assert.deepEqual(await uplinkOf(h1ns), { master: undefined, v4: ['10.0.0.11/24'], routes: 'default via 10.0.0.1 dev eth1' });
  });
});
