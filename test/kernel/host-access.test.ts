/**
 * Host access on the real kernel: an endpoint opens no new connection to the host (services on its
 * gateway address and on the host's other addresses) by default; a network's HostAccess policy
 * (`--host-access`) opens exactly its ports, and DNS to the gateway is open when the gateway is the
 * network's DNS server. Replies, ICMP echo to the gateway, and the host's own connections to
 * endpoints (also 127.0.0.1 to a published port) keep working.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, World, waitFor, type Hostd } from './world.js';

type Net = { ID: string; Policies: unknown[]; HostAccess: { Default: string; Allowed: { Ports: string; Protocols: string; Reason: string }[] } };

describe('host access from endpoints', () => {
  const w = new World('hac');
  let hostd: Hostd;
  let host: string;
  let outside: string;
  const ns = (n: string) => w.nsName(n);
  const ip = new Map<string, string>();

  const tcp = async (from: string, addr: string, port: number) =>
    (await w.exec(from, ['socat', '-T1', '-', `TCP:${addr}:${port},connect-timeout=1`], { okExitCodes: [1] })).stdout.trim();
  const udp = async (from: string, addr: string, port: number) =>
    (await w.exec(from, ['socat', '-T1', '-', `UDP:${addr}:${port}`], { stdin: 'ping\n', okExitCodes: [1] })).stdout.trim();
  const ping = async (from: string, addr: string) => (await w.exec(from, ['busybox', 'ping', '-c', '1', '-W', '1', addr], { okExitCodes: [1] })).exitCode === 0;
  const hostAccessDrops = async () => {
    const text = (await w.exec(host, ['nft', 'list', 'chain', 'inet', 'switchyard', 'host-in'])).stdout;
    return Number(/counter packets (\d+) bytes \d+ drop comment "host access/.exec(text)?.[1] ?? NaN);
  };
  /** Every host service below, as seen from `from` at `addr`. */
  const probes = {
    tcp7777: (from: string, addr: string) => tcp(from, addr, 7777),
    udp7778: (from: string, addr: string) => udp(from, addr, 7778),
    tcp7779: (from: string, addr: string) => tcp(from, addr, 7779),
    dnsUdp: (from: string, addr: string) => udp(from, addr, 53),
    dnsTcp: (from: string, addr: string) => tcp(from, addr, 53),
  };
  type Seen = Record<keyof typeof probes, string>;
  /**
   * Every host service above, as seen from `from` at `addr`. What `expected` says answers may take
   * a few tries (a loaded machine can miss socat's 1 s); what must not answer gets one try.
   */
  const services = async (from: string, addr: string, expected?: Seen): Promise<Seen> => {
    const keys = Object.keys(probes) as (keyof Seen)[];
    const got = await Promise.all(keys.map(async (k) => {
      let v = await probes[k](from, addr);
      for (let i = 0; i < 4 && expected?.[k] && v !== expected[k]; i++) v = await probes[k](from, addr);
      return [k, v] as const;
    }));
    return Object.fromEntries(got) as Seen;
  };
  const all: Seen = { tcp7777: 'host-7777', udp7778: 'host-7778', tcp7779: 'host-7779', dnsUdp: 'dns-udp', dnsTcp: 'dns-tcp' };
  const none: Seen = { tcp7777: '', udp7778: '', tcp7779: '', dnsUdp: '', dnsTcp: '' };

  before(async () => {
    requireRoot();
    ({ host, outside } = await w.hostAndOutside());
    hostd = await w.startHostd(host);
    const mk = async (...args: string[]) => {
      const r = await w.cli(hostd, 'network', 'create', ...args);
      assert.equal(r.code, 0, r.stderr);
    };
    await mk('--subnet', '172.33.0.0/24', 'closed');
    await mk('--subnet', '172.34.0.0/24', '--dns-server', '172.34.0.1', '--host-access', '7777,7778/udp', 'open');
    for (const [name, net, args] of [['c1', 'closed', ['--publish', '8080:80']], ['o1', 'open', []]] as const) {
      const r = await w.cli(hostd, '-o', 'json', 'endpoint', 'create', '--network', net, ...args, ns(name));
      assert.equal(r.code, 0, r.stderr);
      ip.set(name, JSON.parse(r.stdout).IpConfigurations[0].IpAddress);
    }
    // The host's services, on every address of its namespace (the gateways' included). UDP ones are
    // bound to each address, so that the answer comes from the address that was asked.
    w.spawnIn(host, ['socat', 'TCP-LISTEN:7777,fork,reuseaddr', 'SYSTEM:echo host-7777']);
    w.spawnIn(host, ['socat', 'TCP-LISTEN:7779,fork,reuseaddr', 'SYSTEM:echo host-7779']);
    w.spawnIn(host, ['socat', 'TCP-LISTEN:53,fork,reuseaddr', 'SYSTEM:echo dns-tcp']);
    for (const addr of ['192.0.2.1', '172.33.0.1', '172.34.0.1']) {
      w.spawnIn(host, ['socat', `UDP-RECVFROM:7778,bind=${addr},fork`, 'SYSTEM:echo host-7778']);
      w.spawnIn(host, ['socat', `UDP-RECVFROM:53,bind=${addr},fork`, 'SYSTEM:echo dns-udp']);
    }
    w.spawnIn(ns('c1'), ['socat', 'TCP-LISTEN:80,fork,reuseaddr', 'SYSTEM:echo c1']);
    w.spawnIn(ns('c1'), ['socat', 'UDP-RECVFROM:5000,fork', 'SYSTEM:echo c1-udp']);
    let seen = '';
    await waitFor('the host\'s services from outside', async () => {
      for (const addr of ['192.0.2.1', '172.33.0.1', '172.34.0.1']) {
        seen = `${addr}: ${JSON.stringify(await services(outside, addr, all))}`;
        if (!seen.endsWith(JSON.stringify(all))) return false;
      }
      return true;
    }, 30_000).catch((e: Error) => {
      throw new Error(`${e.message} (last: ${seen})`);
    });
    await waitFor('the endpoint\'s services from the host', async () => (await tcp(host, ip.get('c1')!, 80)) === 'c1' && (await udp(host, ip.get('c1')!, 5000)) === 'c1-udp');
  });
  after(async () => {
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  it('controls: the services answer on the gateways\' addresses too (from outside)', async () => {
    for (const gw of ['172.33.0.1', '172.34.0.1']) assert.deepEqual(await services(outside, gw, all), all, gw);
  });

  it('by default an endpoint opens nothing on the host: neither its gateway nor the host\'s address', async () => {
    const before = await hostAccessDrops();
    for (const addr of ['172.33.0.1', '192.0.2.1', '172.34.0.1']) assert.deepEqual(await services(ns('c1'), addr), none, addr);
    assert.ok((await hostAccessDrops()) > before, 'dropped by the host access rule');
    assert.ok(await ping(ns('c1'), '172.33.0.1'), 'its gateway answers ping');
    assert.ok(!(await ping(ns('c1'), '192.0.2.1')), 'the host\'s other addresses do not');
    const doc = await hostd.client.request<Net>('GET', '/networks/closed');
    assert.deepEqual([doc.HostAccess.Default, doc.HostAccess.Allowed, doc.Policies], ['Block', [], []]);
  });

  it('a HostAccess policy opens exactly its ports, on every host address; DNS only to the gateway', async () => {
    const gateway = { ...all, tcp7779: '' };
    assert.deepEqual(await services(ns('o1'), '172.34.0.1', gateway), gateway, 'its gateway: 7777/tcp, 7778/udp and DNS');
    const other = { ...all, tcp7779: '', dnsUdp: '', dnsTcp: '' };
    assert.deepEqual(await services(ns('o1'), '192.0.2.1', other), other, 'another host address: no DNS');
    const resolv = await w.exec(ns('o1'), ['cat', '/etc/resolv.conf']);
    assert.match(resolv.stdout, /nameserver 172\.34\.0\.1/);
    const doc = await hostd.client.request<Net>('GET', '/networks/open');
    assert.deepEqual(doc.Policies, [{ Type: 'HostAccess', Settings: { Ports: '7777', Protocols: '6' } }, { Type: 'HostAccess', Settings: { Ports: '7778', Protocols: '17' } }]);
    assert.deepEqual(doc.HostAccess.Allowed.map((a) => `${a.Ports}/${a.Protocols}`), ['53/6,17', '7777/6', '7778/17']);
  });

  it('the host\'s own connections to endpoints and their replies still work', async () => {
    // (a few tries each: a loaded machine can miss socat's 1 s)
    const answers = (what: string, probe: () => Promise<string | boolean>, want: string | boolean) => waitFor(what, async () => (await probe()) === want);
    await answers('the host to the endpoint, TCP', () => tcp(host, ip.get('c1')!, 80), 'c1');
    await answers('the host to the endpoint, UDP', () => udp(host, ip.get('c1')!, 5000), 'c1-udp');
    await answers('the host pings the endpoint', () => ping(host, ip.get('c1')!), true);
    await answers('the host on 127.0.0.1 to a published port', () => tcp(host, '127.0.0.1', 8080), 'c1');
    await answers('the outside to a published port', () => tcp(outside, '192.0.2.1', 8080), 'c1');
    await answers('hairpin', () => tcp(ns('c1'), '192.0.2.1', 8080), 'c1');
  });

  it('trace answers with the host access rule', async () => {
    const t = (ep: string, Protocol: string, RemoteAddress: string, RemotePort: number) =>
      hostd.client.request<{ Verdict: string; DecidedBy: { Layer: string } }>('POST', '/trace', { Endpoint: ns(ep), Direction: 'Out', Protocol, RemoteAddress, RemotePort });
    for (const [ep, proto, addr, port, verdict] of [
      ['c1', 'tcp', '192.0.2.1', 7777, 'Block'],
      ['o1', 'tcp', '192.0.2.1', 7777, 'Allow'],
      ['o1', 'tcp', '192.0.2.1', 7779, 'Block'],
      ['o1', 'udp', '172.34.0.1', 53, 'Allow'],
      ['o1', 'udp', '192.0.2.1', 53, 'Block'],
    ] as const) {
      const r = await t(ep, proto, addr, port);
      assert.deepEqual([r.Verdict, r.DecidedBy.Layer], [verdict, 'HostAccess'], `${ep} → ${addr}:${port}/${proto}`);
    }
  });

  it('refuses a bad HostAccess and other network policies, changing nothing', async () => {
    const bad = await w.cli(hostd, 'network', 'create', '--host-access', '53/icmp', 'bad1');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /"53\/icmp" is not PORT/);
    await assert.rejects(hostd.client.request('POST', '/networks', { Name: 'bad2', Type: 'NAT', Policies: [{ Type: 'HostAccess', Settings: { Ports: '1-70000', Protocols: '6' } }] }), /SY_INVALID_POLICY|not a port/);
    await assert.rejects(hostd.client.request('POST', '/networks', { Name: 'bad3', Type: 'NAT', Policies: [{ Type: 'VxlanPort', Settings: { Port: 4789 } }] }), /not supported/);
    const nets = await hostd.client.request<{ Name: string }[]>('GET', '/networks');
    assert.deepEqual(nets.map((n) => n.Name).sort(), ['closed', 'open']);
  });
});
