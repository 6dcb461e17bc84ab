/**
 * Overlay virtual networks across three hosts: namespaces h1, h2, h3 (hostd in each) whose eth1 are
 * ports of one fabric bridge (the provider network, PAs 10.0.0.11-13), and a router on it (10.0.0.1,
 * with 198.18.0.1 beyond it where a server answers with the source address it sees). Two tenants
 * share the CA subnet 10.1.0.0/24: A (VSID 4096, also 10.1.1.0/24) on all three hosts, B (VSID 5000)
 * on h1 and h2, with the same addresses and MACs as A's endpoints, so a leak would answer, and every
 * endpoint's server says its own name. Each host gets the other hosts' endpoints as remote endpoints
 * through its API, as a controller will write them. tcpdump on h1's fabric port records what the
 * provider network sees.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, World, waitFor, type Hostd } from './world.js';
import { startCapture } from './capture.js';
import { buildFabric } from './fabric.js';
import { run } from '../../src/dataplane/run.js';

const PA: Record<string, string> = { h1: '10.0.0.11', h2: '10.0.0.12', h3: '10.0.0.13' };
const VSID = { A: 4096, A2: 4097, B: 5000 };

interface Ep {
  name: string;
  host: string;
  net: 'A' | 'B';
  ip: string;
  mac: string;
  id: string;
}

describe('Overlay networks across three hosts', () => {
  const w = new World('ovl');
  const hosts: Record<string, { ns: string; hostd: Hostd }> = {};
  const eps: Ep[] = [];
  let fabric: string;
  let router: string;

  const netDoc = (tenant: 'A' | 'B', host: string, extra: Record<string, unknown> = {}) => ({
    Name: `ten${tenant}`,
    Type: 'Overlay',
    Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: PA[host] } }],
    Ipams: [
      {
        Type: 'Static',
        Subnets: [
          { IpAddressPrefix: '10.1.0.0/24', Policies: [{ Type: 'VSID', Settings: { IsolationId: VSID[tenant] } }], Routes: [{ NextHop: '10.1.0.1', DestinationPrefix: '0.0.0.0/0' }] },
          // tenant A's second subnet has a VSID of its own (a second VXLAN port on the same bridge)
          ...(tenant === 'A' ? [{ IpAddressPrefix: '10.1.1.0/24', Policies: [{ Type: 'VSID', Settings: { IsolationId: VSID.A2 } }] }] : []),
        ],
      },
    ],
    ...extra,
  });

  async function endpoint(host: string, net: 'A' | 'B', name: string, ip: string, policies: unknown[] = []): Promise<Ep> {
    const ns = w.nsName(name);
    const h = hosts[host]!.hostd;
    await h.client.request('POST', '/namespaces', { Path: ns });
    const doc = await h.client.request<{ ID: string; MacAddress: string }>('POST', '/endpoints', {
      Name: name,
      HostComputeNetwork: `ten${net}`,
      HostComputeNamespace: ns,
      IpConfigurations: [{ IpAddress: ip, PrefixLength: 24 }],
      Policies: policies,
    });
    // Each endpoint's server answers with its name: who answered is who was reached.
    w.spawnIn(ns, ['socat', 'TCP-LISTEN:7000,reuseaddr,fork', `SYSTEM:echo ${name}`]);
    const ep = { name, host, net, ip, mac: doc.MacAddress.toLowerCase().replace(/-/g, ':'), id: doc.ID };
    eps.push(ep);
    return ep;
  }

  /** The remote endpoint document of `ep` as another host is told it. */
  const remoteDoc = (ep: Ep, pa = PA[ep.host]!) => ({
    Name: `r-${ep.name}`,
    HostComputeNetwork: `ten${ep.net}`,
    Flags: 1,
    IpConfigurations: [{ IpAddress: ep.ip, PrefixLength: 24 }],
    MacAddress: ep.mac,
    Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: pa } }],
  });

  const ping = async (from: string, to: string) => (await w.exec(w.nsName(from), ['busybox', 'ping', '-c', '1', '-W', '2', to], { okExitCodes: [1] })).exitCode === 0;
  /**
   * Sends one UDP datagram of `size` bytes with DF set (IP_PMTUDISC_DO) from `from` to to:7001, where
   * a receiver counts what arrives; returns what the sender was told ('sent' or the error).
   */
  const sendDf = async (from: string, to: string, size: number) => {
    const py = 'import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.setsockopt(socket.IPPROTO_IP,10,2)\ntry:\n  s.sendto(b"x"*int(sys.argv[2]),(sys.argv[1],7001)); print("sent")\nexcept OSError as e: print(e.strerror)';
    return (await w.exec(w.nsName(from), ['python3', '-c', py, to, String(size)])).stdout.trim();
  };
  /** The name of the endpoint that answers TCP at to:7000 from `from`, '' when none does. */
  const who = async (from: string, to: string) => (await w.exec(w.nsName(from), ['socat', '-T', '2', '-', `TCP:${to}:7000,connect-timeout=2`], { okExitCodes: [1], stdin: '' })).stdout.trim();
  const seenAs = async (from: string) => (await w.exec(w.nsName(from), ['socat', '-T', '3', '-', 'TCP:198.18.0.1:8080,connect-timeout=3'], { okExitCodes: [1], stdin: '' })).stdout.trim();

  const vxOf = async (host: string, net: string) => (await hosts[host]!.hostd.client.request<{ Bridge: string }>('GET', `/networks/${net}`)).Bridge.replace('sy-ov-', 'sy-vx-');
  /** The VXLAN FDB entries of a host's network (every VXLAN port of its bridge): MAC → PA. */
  async function fdb(host: string, net: string): Promise<Map<string, string>> {
    const br = (await hosts[host]!.hostd.client.request<{ Bridge: string }>('GET', `/networks/${net}`)).Bridge;
    const { stdout } = await run(['bridge', '-n', hosts[host]!.ns, '-j', 'fdb', 'show', 'br', br]);
    return new Map((JSON.parse(stdout) as { mac: string; dst?: string }[]).filter((f) => f.dst).map((f) => [f.mac, f.dst!]));
  }
  /** Links of Switchyard's and rules at its preference in a host's namespace. */
  async function marks(host: string): Promise<string[]> {
    const links = (JSON.parse((await run(['ip', '-n', hosts[host]!.ns, '-j', 'link', 'show'])).stdout) as { ifname: string }[]).map((l) => l.ifname).filter((n) => n.startsWith('sy-'));
    const rules = (await run(['ip', '-n', hosts[host]!.ns, 'rule', 'show', 'pref', '5359'])).stdout.trim();
    return [...links.sort(), ...(rules ? rules.split('\n') : [])];
  }

  /**
   * Starts a capture on h1's fabric port; stop() returns its frames as tcpdump reads them (-e -n):
   * the outer frame, and for VXLAN the inner frame tcpdump prints on the next line.
   */
  async function capture(): Promise<{ stop: () => Promise<{ outer: string; inner: string }[]> }> {
    const cap = await startCapture(w, fabric, 'fab-h1');
    return {
      stop: async () => {
        const stdout = await cap.stop();
        const frames: { outer: string; inner: string }[] = [];
        for (const l of stdout.split('\n').filter((x) => x.trim())) {
          if (/^\d\d:\d\d:\d\d\./.test(l)) frames.push({ outer: l, inner: '' });
          else if (frames.length) frames[frames.length - 1]!.inner += l.trim();
        }
        return frames;
      },
    };
  }

  before(async () => {
    requireRoot();
    const built = await buildFabric(w, Object.entries(PA));
    ({ fabric, router } = built);
    for (const [name, ns] of Object.entries(built.hostNs)) {
      // h1 checks reverse paths strictly (as many hosts do): the tenants' routes live in their own tables
      if (name === 'h1') await run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=1', 'net.ipv4.conf.default.rp_filter=1']);
      hosts[name] = { ns, hostd: await w.startHostd(ns) };
    }
    w.spawnIn(router, ['socat', 'TCP-LISTEN:8080,bind=198.18.0.1,reuseaddr,fork', 'SYSTEM:echo $SOCAT_PEERADDR']);
    await waitFor('the server beyond the router', async () => (await run(['ip', 'netns', 'exec', hosts.h1!.ns, 'socat', '-T', '2', '-', 'TCP:198.18.0.1:8080,connect-timeout=2'], { okExitCodes: [1], stdin: '' })).stdout.trim() === '10.0.0.11');
  });
  after(async () => {
    if (process.env.DEBUG_OVERLAY) console.error(w.daemonLogs());
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  it('refuses bad overlay networks with a clear 4xx, changing nothing', async () => {
    const h = hosts.h1!.hostd;
    const before = await marks('h1');
    const vsid = (id: number) => netDoc('A', 'h1', { Ipams: [{ Subnets: [{ IpAddressPrefix: '10.1.0.0/24', Policies: [{ Type: 'VSID', Settings: { IsolationId: id } }] }] }] });
    const cases: [unknown, string, RegExp][] = [
      [vsid(4095), 'SY_INVALID_POLICY', /4096-16777214/],
      [vsid(16777215), 'SY_INVALID_POLICY', /4096-16777214/],
      [netDoc('A', 'h1', { Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: '10.0.0.99' } }] }), 'SY_BAD_REQUEST', /not an address of this host/],
      [netDoc('A', 'h1', { Policies: [] }), 'SY_BAD_REQUEST', /provider address/],
      [netDoc('A', 'h1', { Ipams: [{ Subnets: [{ IpAddressPrefix: '10.1.0.0/24' }] }] }), 'SY_BAD_REQUEST', /VSID/],
    ];
    for (const [doc, code, msg] of cases) {
      await assert.rejects(h.client.request('POST', '/networks', doc), (e: Error & { code?: string }) => e.code === code && msg.test(e.message), JSON.stringify(doc));
    }
    assert.deepEqual(await h.client.request('GET', '/networks'), []);
    assert.deepEqual(await marks('h1'), before);
  });

  it('builds the tenants: networks on every host, local endpoints, and the others\' endpoints as remote ones', async () => {
    for (const h of ['h1', 'h2', 'h3']) await hosts[h]!.hostd.client.request('POST', '/networks', netDoc('A', h));
    for (const h of ['h1', 'h2']) await hosts[h]!.hostd.client.request('POST', '/networks', netDoc('B', h));
    await assert.rejects(hosts.h1!.hostd.client.request('POST', '/networks', { ...netDoc('A', 'h1'), Name: 'again' }), /VSID 4096 is already/);
    await endpoint('h1', 'A', 'a1', '10.1.0.11');
    await endpoint('h1', 'B', 'b1', '10.1.0.11');
    await endpoint('h2', 'A', 'a2', '10.1.0.12');
    await endpoint('h2', 'A', 'a2s', '10.1.1.12');
    await endpoint('h2', 'B', 'b2', '10.1.0.12');
    await endpoint('h3', 'A', 'a3', '10.1.0.13', [{ Type: 'OutBoundNAT', Settings: { Exceptions: [] } }]);
    for (const ep of eps) {
      for (const h of ['h1', 'h2', 'h3']) {
        if (h === ep.host || (ep.net === 'B' && h === 'h3')) continue;
        await hosts[h]!.hostd.client.request('POST', '/endpoints', remoteDoc(ep));
      }
    }
    const a2s = await hosts.h2!.hostd.client.request<{ Routes: { NextHop: string }[]; Mtu: number }>('GET', '/endpoints/a2s');
    assert.equal(a2s.Routes[0]!.NextHop, '10.1.1.1', 'an endpoint of the second subnet has that subnet\'s gateway');
    assert.equal(a2s.Mtu, 1450);
  });

  it('refuses bad remote endpoints with a clear 4xx, changing nothing', async () => {
    const h = hosts.h1!.hostd;
    const a2 = eps.find((e) => e.name === 'a2')!;
    const before = { eps: await h.client.request<unknown[]>('GET', '/endpoints'), fdb: [...(await fdb('h1', 'tenA'))] };
    await h.client.request('POST', '/networks', { Name: 'natnet', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.30.0.0/24' }] }] });
    const cases: [unknown, string, RegExp][] = [
      [{ ...remoteDoc(a2), Name: 'x1', HostComputeNetwork: 'natnet', IpConfigurations: [{ IpAddress: '172.30.0.9' }] }, 'SY_NOT_SUPPORTED', /Overlay network/],
      [{ ...remoteDoc(a2, PA.h1), Name: 'x2', IpConfigurations: [{ IpAddress: '10.1.0.99' }], MacAddress: '02:00:00:00:00:99' }, 'SY_BAD_REQUEST', /this host's/],
      [{ ...remoteDoc(a2), Name: 'x3', MacAddress: '02:00:00:00:00:98' }, 'SY_ADDRESS_IN_USE', /already used/],
      [{ ...remoteDoc(a2), Name: 'x4', IpConfigurations: [{ IpAddress: '10.1.0.98' }] }, 'SY_ADDRESS_IN_USE', /MAC/],
      [{ ...remoteDoc(a2), Name: 'x5', IpConfigurations: [{ IpAddress: '10.1.0.97' }], MacAddress: '02:00:00:00:00:97', Policies: [] }, 'SY_BAD_REQUEST', /provider address/],
    ];
    for (const [doc, code, msg] of cases) {
      await assert.rejects(h.client.request('POST', '/endpoints', doc), (e: Error & { code?: string }) => e.code === code && msg.test(e.message), JSON.stringify(doc));
    }
    await h.client.request('DELETE', '/networks/natnet');
    assert.deepEqual({ eps: await h.client.request<unknown[]>('GET', '/endpoints'), fdb: [...(await fdb('h1', 'tenA'))] }, before);
  });

  it('carries ping and TCP between hosts, routes between subnets on the sending host, and keeps the tenants apart both ways; the wire sees only PAs', async () => {
    for (const e of eps) await w.ip(w.nsName(e.name), 'neigh flush all');
    const cap = await capture();
    assert.ok(await ping('a1', '10.1.0.12'), 'a1 → a2 across hosts');
    assert.ok(await ping('a2s', '10.1.1.1'), 'an endpoint pings its own gateway (the answer is routed back by its network\'s table)');
    assert.ok(await ping('b1', '10.1.0.1'), 'so does one of the other tenant, at the same gateway address');
    assert.equal(await who('a1', '10.1.0.12'), 'a2', 'TCP a1 → a2');
    assert.equal(await who('a1', '10.1.0.13'), 'a3', 'TCP a1 → a3 on the third host');
    assert.equal(await who('a1', '10.1.1.12'), 'a2s', 'a1 → the other subnet, routed on h1');
    assert.equal(await who('a2s', '10.1.0.11'), 'a1', 'and back from the other subnet');
    assert.equal(await who('a2', '10.1.1.12'), 'a2s', 'between subnets on one host');
    assert.equal(await who('b1', '10.1.0.12'), 'b2', 'tenant B reaches its own 10.1.0.12');
    assert.equal(await who('b2', '10.1.0.11'), 'b1', 'and back');
    assert.equal(await who('a2', '10.1.0.11'), 'a1', 'tenant A reaches its own 10.1.0.11');
    assert.equal(await who('b1', '10.1.1.12'), '', 'tenant B has no 10.1.1.0/24: A\'s endpoint there is not reached');
    assert.ok(!(await ping('b1', '10.1.0.13')), 'tenant B does not reach A\'s endpoint on h3');
    assert.equal(await who('a3', '10.1.0.11'), 'a1', 'h3 (tenant A only) reaches a1, never b1');
    const frames = await cap.stop();
    const text = (f: { outer: string; inner: string }) => `${f.outer} | ${f.inner}`;
    const vxlan = frames.filter((f) => /\.4789: VXLAN/.test(f.outer));
    assert.ok(vxlan.length >= 10, `VXLAN frames were captured:\n${frames.map(text).join('\n')}`);
    for (const f of frames) {
      const l = f.outer;
      const outer = /IPv4.*?: (\d+\.\d+\.\d+\.\d+)[.:]?\S* > (\d+\.\d+\.\d+\.\d+)/.exec(l);
      if (outer) assert.ok(outer[1]!.startsWith('10.0.0.') && outer[2]!.startsWith('10.0.0.'), `only provider addresses in outer headers: ${text(f)}`);
      assert.ok(!/ff:ff:ff:ff:ff:ff/.test(f.inner) && !/ethertype ARP/.test(f.inner), `no broadcast and no ARP inside the tunnel: ${text(f)}`);
      if (/ethertype ARP/.test(l)) assert.ok([...l.matchAll(/\d+\.\d+\.\d+\.\d+/g)].every((m) => m[0].startsWith('10.0.0.')), `only underlay ARP on the wire: ${l}`);
      assert.ok(!/ff:ff:ff:ff:ff:ff/.test(l) || /ethertype ARP.*10\.0\.0\./.test(l), `no broadcast for known destinations: ${l}`);
    }
    const vniOf = (inner: RegExp) => new Set(vxlan.filter((f) => inner.test(f.inner)).map((f) => /vni (\d+)/.exec(f.outer)?.[1]));
    assert.deepEqual([...vniOf(/10\.1\.0\.11\.\d+ > 10\.1\.0\.12\.7000/)].sort(), ['4096', '5000'], 'the same CA pair travels with each tenant\'s VNI');
    assert.ok(vxlan.every((f) => / 10\.0\.0\.1[123]\.\d+ > 10\.0\.0\.1[123]\.4789: VXLAN/.test(f.outer)), 'UDP to port 4789 between PAs');
    assert.deepEqual([...vniOf(/10\.1\.0\.11\.\d+ > 10\.1\.1\.12\.7000/)], ['4097'], 'the packet routed into the second subnet travels with that subnet\'s VNI');
    assert.deepEqual([...vniOf(/10\.1\.1\.12\.7000 > 10\.1\.0\.11\.\d+/)], ['4096'], 'its answer, routed on h2 into the first subnet, with the first subnet\'s');
  });

  it('MTU: the endpoint gets the underlay\'s less 50; a full-size packet crosses, a bigger one with DF is refused, never silently dropped', async () => {
    const { stdout } = await run(['ip', '-n', w.nsName('a1'), '-j', 'link', 'show', 'dev', 'eth0']);
    assert.equal((JSON.parse(stdout) as { mtu: number }[])[0]!.mtu, 1450);
    const got: Buffer[] = [];
    const rx = w.spawnIn(w.nsName('a2'), ['socat', '-u', 'UDP-RECV:7001', 'STDOUT']);
    rx.stdout!.on('data', (b: Buffer) => got.push(b));
    await waitFor('the receiver', async () => (await run(['ip', 'netns', 'exec', w.nsName('a2'), 'ss', '-Hlun', 'sport', '7001'])).stdout.includes('7001'));
    assert.equal(await sendDf('a1', '10.1.0.12', 1422), 'sent', 'a 1450-byte packet with DF is sent');
    await waitFor('the full-size datagram to arrive on the other host', async () => Buffer.concat(got).length === 1422);
    assert.equal(await sendDf('a1', '10.1.0.12', 1423), 'Message too long', 'a 1451-byte one is refused to the sender, not lost on the way');
    rx.kill('SIGKILL');
  });

  it('OutBoundNAT: an overlay endpoint with it reaches the world as its host\'s PA; one without it never puts its CA on the wire', async () => {
    assert.equal(await seenAs('a3'), '10.0.0.13');
    assert.equal(await seenAs('a1'), '', 'no OutBoundNAT: nothing leaves the virtual network');
    assert.equal(await who('a3', '10.1.0.11'), 'a1', 'the virtual network itself is not translated');
    const onat = (Exceptions: string[]) => ({ ResourceType: 'Policy', RequestType: 'Update', Settings: { Policies: [{ Type: 'OutBoundNAT', Settings: { Exceptions } }] } });
    await hosts.h3!.hostd.client.request('PATCH', '/endpoints/a3', onat(['198.18.0.0/24']));
    assert.equal(await seenAs('a3'), '', 'an exception is not translated, so it does not leave at all');
    await hosts.h3!.hostd.client.request('PATCH', '/endpoints/a3', onat([]));
    assert.equal(await seenAs('a3'), '10.0.0.13');
  });

  it('ACLs hold on an overlay endpoint for what comes through the tunnel, with counters', async () => {
    const acl = (Id: string, Action: string, Direction: string, extra: Record<string, unknown> = {}) => ({ Type: 'ACL', Settings: { Id, Action, Direction, Priority: 200, ...extra } });
    const rules = [acl('no-7000', 'Block', 'In', { Protocols: '6', LocalPorts: '7000', Priority: 100 }), acl('in', 'Allow', 'In'), acl('out', 'Allow', 'Out')];
    const change = (RequestType: string) => ({ ResourceType: 'Policy', RequestType, Settings: { Policies: rules } });
    await assert.rejects(hosts.h2!.hostd.client.request('PATCH', '/endpoints/a2', change('Add')), (e: Error & { code?: string }) => e.code === 'SY_NOT_SUPPORTED' && /also endpoint "b2"/.test(e.message), 'a2 shares its CA with b2 on h2: ACLs keyed by address are refused there');
    const h3 = hosts.h3!.hostd;
    await h3.client.request('PATCH', '/endpoints/a3', change('Add'));
    assert.equal(await who('a1', '10.1.0.13'), '', 'TCP 7000 from another host is blocked at a3');
    assert.equal(await who('a2s', '10.1.0.13'), '', 'also routed from the other subnet');
    assert.ok(await ping('a1', '10.1.0.13'), 'what the ACLs allow passes');
    const stats = await h3.client.request<{ AclStats: { Id: string; Packets: number }[] }>('GET', '/endpoints/a3/stats');
    assert.ok((stats.AclStats.find((x) => x.Id === 'no-7000')?.Packets ?? 0) >= 2, JSON.stringify(stats.AclStats));
    await h3.client.request('PATCH', '/endpoints/a3', change('Remove'));
    assert.equal(await who('a1', '10.1.0.13'), 'a3');
  });

  it('an oversized packet routed into the virtual network gets ICMP "fragmentation needed" back', async () => {
    // The server beyond the router answers a3's datagram with 1472 bytes (1500 with headers, DF set
    // by Linux's default path-MTU discovery): h3 routes it, de-NATed, to a bridge of MTU 1450.
    w.spawnIn(router, ['socat', 'UDP-RECVFROM:9000,bind=198.18.0.1,fork', 'SYSTEM:head -c 1472 /dev/zero']);
    await waitFor('the UDP server', async () => (await run(['ip', 'netns', 'exec', router, 'ss', '-Hlun', 'sport', '9000'])).stdout.includes('9000'));
    const cached = async () => (await run(['ip', '-n', router, 'route', 'get', '10.0.0.13', 'from', '198.18.0.1'])).stdout;
    assert.doesNotMatch(await cached(), /mtu 1450/, 'no path MTU is known before');
    await w.exec(w.nsName('a3'), ['socat', '-T', '1', '-', 'UDP:198.18.0.1:9000'], { stdin: 'hi', okExitCodes: [1] });
    await waitFor('the sender to learn the path MTU from ICMP "fragmentation needed"', async () => /mtu 1450/.test(await cached()));
  });

  it('a tenant reaches no service of its host, at the gateway or at the PA', async () => {
    w.spawnIn(hosts.h1!.ns, ['socat', 'TCP-LISTEN:7100,reuseaddr,fork', 'SYSTEM:echo host']);
    await waitFor('the host service', async () => (await run(['ip', 'netns', 'exec', hosts.h1!.ns, 'socat', '-T', '2', '-', 'TCP:10.0.0.11:7100,connect-timeout=2'], { okExitCodes: [1], stdin: '' })).stdout.trim() === 'host');
    assert.equal((await w.exec(w.nsName('a1'), ['socat', '-T', '2', '-', 'TCP:10.1.0.1:7100,connect-timeout=2'], { okExitCodes: [1], stdin: '' })).stdout.trim(), '');
    assert.equal((await w.exec(w.nsName('a1'), ['socat', '-T', '2', '-', 'TCP:10.0.0.11:7100,connect-timeout=2'], { okExitCodes: [1], stdin: '' })).stdout.trim(), '');
    assert.ok(await ping('a1', '10.1.0.1'), 'its gateway answers ping');
  });

  it('moves and removes one remote endpoint, changing only its own entries', async () => {
    const h1 = hosts.h1!.hostd;
    const a2 = eps.find((e) => e.name === 'a2')!;
    const a2s = eps.find((e) => e.name === 'a2s')!;
    const before = await fdb('h1', 'tenA');
    assert.equal(before.get(a2.mac), PA.h2);
    await h1.client.request('PATCH', '/endpoints/r-a2', { ResourceType: 'Policy', RequestType: 'Update', Settings: { Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: PA.h3 } }] } });
    const moved = await fdb('h1', 'tenA');
    assert.deepEqual(moved, new Map([...before].map(([m, pa]) => [m, m === a2.mac ? PA.h3! : pa])), 'only a2\'s entry points elsewhere');
    assert.equal(await who('a1', '10.1.0.12'), '', 'a2 is not behind h3');
    assert.equal(await who('a1', '10.1.1.12'), 'a2s', 'other flows go on');
    await h1.client.request('PATCH', '/endpoints/r-a2', { ResourceType: 'Policy', RequestType: 'Update', Settings: { Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: PA.h2 } }] } });
    assert.equal(await who('a1', '10.1.0.12'), 'a2');
    await h1.client.request('DELETE', '/endpoints/r-a2');
    const removed = await fdb('h1', 'tenA');
    assert.equal(removed.has(a2.mac), false);
    assert.equal(removed.get(a2s.mac), PA.h2);
    const brA = (await vxOf('h1', 'tenA')).replace('sy-vx-', 'sy-ov-');
    const neigh = (await run(['ip', '-n', hosts.h1!.ns, 'neigh', 'show', '10.1.0.12', 'dev', brA, 'nud', 'permanent'])).stdout.trim();
    assert.equal(neigh, '', 'its neighbour entry is gone');
    assert.equal(await who('a1', '10.1.0.12'), '');
    assert.equal(await who('a1', '10.1.1.12'), 'a2s');
    const made = await w.cli(h1, 'endpoint', 'create', '--remote', '--network', 'tenA', '--ip', a2.ip, '--mac', a2.mac, '--provider-address', PA.h2!, 'r-a2');
    assert.equal(made.code, 0, made.stderr);
    assert.equal(await who('a1', '10.1.0.12'), 'a2', 'made again by the CLI');
    const ls = await w.cli(h1, 'endpoint', 'ls', '--network', 'tenA');
    assert.match(ls.stdout, /r-a2 .*10\.1\.0\.12 +remote, behind 10\.0\.0\.12/);
    const tr = await w.cli(h1, '-o', 'json', 'trace', 'a1', '--out', '--proto', 'tcp', '--remote', '10.1.0.12', '--remote-port', '7000');
    assert.match(tr.stdout, /VXLAN VNI 4096: UDP 10\.0\.0\.11 → 10\.0\.0\.12:4789/, tr.stdout + tr.stderr);
  });

  it('the CLI makes an overlay network with several subnets', async () => {
    const h3 = hosts.h3!.hostd;
    const r = await w.cli(h3, 'network', 'create', '--type', 'overlay', '--vsid', '7000', '--provider-address', PA.h3!, '--subnet', '10.7.0.0/24', '--subnet', '10.7.1.0/24', 'tenC');
    assert.equal(r.code, 0, r.stderr);
    const ls = await w.cli(h3, 'network', 'ls');
    assert.match(ls.stdout, /tenC .*Overlay +VSID 7000 from 10\.0\.0\.13 +10\.7\.0\.0\/24/);
    const doc = await h3.client.request<{ Ipams: { Subnets: { IpAddressPrefix: string }[] }[] }>('GET', '/networks/tenC');
    assert.deepEqual(doc.Ipams[0]!.Subnets.map((x) => x.IpAddressPrefix), ['10.7.0.0/24', '10.7.1.0/24']);
    const bad = await w.cli(h3, 'network', 'create', '--type', 'overlay', '--vsid', '70', '--provider-address', PA.h3!, '--subnet', '10.8.0.0/24', 'tenD');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /4096-16777214/);
    assert.equal((await w.cli(h3, 'network', 'rm', 'tenC')).code, 0);
  });

  it('restores entries and links: an FDB entry deleted behind hostd\'s back, then a kill -9 with the VXLAN device deleted meanwhile', async () => {
    const { ns } = hosts.h1!;
    const a2 = eps.find((e) => e.name === 'a2')!;
    const vx = await vxOf('h1', 'tenA');
    await run(['bridge', '-n', ns, 'fdb', 'del', a2.mac, 'dev', vx, 'self']);
    await run(['ip', '-n', ns, 'neigh', 'del', '10.1.0.12', 'dev', vx.replace('sy-vx-', 'sy-ov-')]);
    await waitFor('the resync to restore a2\'s entries', async () => (await fdb('h1', 'tenA')).get(a2.mac) === PA.h2);
    assert.equal(await who('a1', '10.1.0.12'), 'a2');
    const want = await fdb('h1', 'tenA');
    const h1 = hosts.h1!.hostd;
    await w.stopHostd(h1, 'SIGKILL');
    await run(['ip', '-n', ns, 'link', 'del', vx]);
    // and a rule of a network that no longer exists, as a crash can leave one
    await run(['ip', '-n', ns, 'rule', 'add', 'iif', 'sy-ov-dead0000', 'lookup', String(0x53000000 + 9999), 'pref', '5359']);
    hosts.h1!.hostd = await w.startHostd(ns, { stateDir: h1.stateDir });
    assert.deepEqual(await fdb('h1', 'tenA'), want, 'every entry is back after the restart');
    assert.doesNotMatch((await run(['ip', '-n', ns, 'rule', 'show', 'pref', '5359'])).stdout, /sy-ov-dead0000/, 'the stray rule is gone');
    assert.equal(await who('a1', '10.1.0.12'), 'a2');
    assert.equal(await who('b1', '10.1.0.12'), 'b2');
    assert.equal(await who('a1', '10.1.1.12'), 'a2s');
  });

  it('a bridge deleted behind hostd\'s back comes back with its port, routes and entries', async () => {
    const br = (await vxOf('h1', 'tenA')).replace('sy-vx-', 'sy-ov-');
    const want = await fdb('h1', 'tenA');
    await run(['ip', '-n', hosts.h1!.ns, 'link', 'del', br]);
    await waitFor('the resync to rebuild tenant A on h1', async () => (await who('a1', '10.1.1.12')) === 'a2s', 20_000);
    assert.deepEqual(await fdb('h1', 'tenA'), want);
    assert.equal(await who('a1', '10.1.0.12'), 'a2');
    assert.equal(await who('b1', '10.1.0.12'), 'b2', 'the other tenant was never touched');
  });

  it('removing the networks leaves no link and no rule behind', async () => {
    for (const h of ['h1', 'h2', 'h3']) {
      for (const n of await hosts[h]!.hostd.client.request<{ ID: string }[]>('GET', '/networks')) await hosts[h]!.hostd.client.request('DELETE', `/networks/${n.ID}`);
      assert.deepEqual(await marks(h), [], `${h} is clean`);
    }
  });
});
