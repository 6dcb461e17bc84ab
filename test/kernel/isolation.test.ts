/**
 * Isolation between two NAT networks, A and B, on the real kernel: from an endpoint of A, every path
 * to B's endpoints and services the test can think of fails — B's endpoint addresses (TCP, UDP,
 * ICMP), B's published ports at every host address (the outside-facing ones, A's gateway, B's
 * gateway), the host's services on any of those addresses, packets to 127.0.0.1 handed to the
 * gateway's MAC, broadcasts, and forged source addresses. Each probe first succeeds where it should
 * (within A, within B, from outside, B to itself by hairpin, the host to itself), so a failure below
 * is the isolation and not a broken probe; and the drop counter of the rule that stops it grows.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, World, waitFor, type Hostd } from './world.js';
import { sendFrame, sendUdp, udpFrame, UdpRecorder } from './packets.js';

type Doc = { ID: string; MacAddress: string; Bridge: string; IpConfigurations: { IpAddress: string }[] };

describe('isolation between NAT networks', () => {
  const w = new World('iso');
  let hostd: Hostd;
  let host: string;
  let outside: string;
  const ns = (n: string) => w.nsName(n);
  const ep = new Map<string, Doc>();
  const ip = (n: string) => ep.get(n)!.IpConfigurations[0]!.IpAddress;
  const mac = (n: string) => ep.get(n)!.MacAddress.replace(/-/g, ':').toLowerCase();
  let gatewayMacA = '';
  let netB = '';
  const rec = {} as Record<'b1' | 'a2' | 'host' | 'hostLo' | 'out', UdpRecorder>;

  const tcp = async (from: string, addr: string, port: number) =>
    (await w.exec(from, ['socat', '-T1', '-', `TCP:${addr}:${port},connect-timeout=1`], { okExitCodes: [1] })).stdout.trim();
  const udpEcho = async (from: string, addr: string, port: number) =>
    (await w.exec(from, ['socat', '-T1', '-', `UDP:${addr}:${port}`], { stdin: 'ping\n', okExitCodes: [1] })).stdout.trim();
  const ping = async (from: string, addr: string) => (await w.exec(from, ['busybox', 'ping', '-c', '1', '-W', '1', addr], { okExitCodes: [1] })).exitCode === 0;
  /** A control: `probe` gives `want` (a few tries: a loaded machine can miss socat's 1 s). */
  const answers = (what: string, probe: () => Promise<string | boolean>, want: string | boolean) => waitFor(what, async () => (await probe()) === want, 20_000);
  /** The packets a drop rule of Switchyard's tables counted, by the start of its comment. */
  const dropped = async (family: string, chain: string, comment: string) => {
    const text = (await w.exec(host, ['nft', 'list', 'chain', family, 'switchyard', chain], { okExitCodes: [1] })).stdout;
    return Number(new RegExp(`counter packets (\\d+) bytes \\d+ drop comment "${comment}`).exec(text)?.[1] ?? NaN);
  };

  before(async () => {
    requireRoot();
    ({ host, outside } = await w.hostAndOutside());
    hostd = await w.startHostd(host);
    for (const [net, subnet] of [['A', '172.28.0.0/24'], ['B', '172.29.0.0/24']]) {
      const r = await w.cli(hostd, 'network', 'create', '--subnet', subnet!, net!);
      assert.equal(r.code, 0, r.stderr);
    }
    const create = async (name: string, net: string, ...args: string[]) => {
      const r = await w.cli(hostd, '-o', 'json', 'endpoint', 'create', '--network', net, ...args, ns(name));
      assert.equal(r.code, 0, r.stderr);
      ep.set(name, JSON.parse(r.stdout) as Doc);
    };
    await create('a1', 'A');
    await create('a2', 'A', '--publish', '8081:80');
    await create('b1', 'B', '--publish', '8080:80', '--publish', '5353:53/udp', '--publish', '5354:9999/udp');
    await create('b2', 'B');
    const nets = await hostd.client.request<(Doc & { Name: string })[]>('GET', '/networks');
    const bridgeA = nets.find((n) => n.Name === 'A')!.Bridge;
    netB = nets.find((n) => n.Name === 'B')!.ID;
    gatewayMacA = JSON.parse((await w.exec(host, ['ip', '-j', 'link', 'show', bridgeA])).stdout)[0].address;

    // Services: B's endpoint (TCP 80, UDP 53 echo, UDP 9999 recorded), A's second endpoint, the host
    // (TCP 7777 and UDP 7778/9999 on every address, TCP 7779 and UDP 7780 on 127.0.0.1), the outside.
    w.spawnIn(ns('b1'), ['socat', 'TCP-LISTEN:80,fork,reuseaddr', 'SYSTEM:echo b1']);
    w.spawnIn(ns('b1'), ['socat', 'UDP-RECVFROM:53,fork', 'SYSTEM:echo pong']);
    w.spawnIn(ns('a2'), ['socat', 'TCP-LISTEN:80,fork,reuseaddr', 'SYSTEM:echo a2']);
    w.spawnIn(host, ['socat', 'TCP-LISTEN:7777,fork,reuseaddr', 'SYSTEM:echo host']);
    w.spawnIn(host, ['socat', 'TCP-LISTEN:7779,bind=127.0.0.1,fork,reuseaddr', 'SYSTEM:echo host-lo']);
    rec.b1 = new UdpRecorder(w, ns('b1'), '0.0.0.0', 9999);
    rec.a2 = new UdpRecorder(w, ns('a2'), '0.0.0.0', 9999);
    rec.host = new UdpRecorder(w, host, '0.0.0.0', 9999);
    rec.hostLo = new UdpRecorder(w, host, '127.0.0.1', 7780);
    rec.out = new UdpRecorder(w, outside, '0.0.0.0', 9998);
    await waitFor('the services', async () =>
      (await tcp(ns('b2'), ip('b1'), 80)) === 'b1' && (await tcp(ns('a1'), ip('a2'), 80)) === 'a2' && (await tcp(host, '127.0.0.1', 7777)) === 'host' &&
      (await tcp(host, '127.0.0.1', 7779)) === 'host-lo' && (await udpEcho(ns('b2'), ip('b1'), 53)) === 'pong', 30_000);
  });
  after(async () => {
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  it('controls: each probe reaches its target where it should', async () => {
    await answers('within A', () => tcp(ns('a1'), ip('a2'), 80), 'a2');
    await answers('within A through its published port (hairpin)', () => tcp(ns('a1'), '192.0.2.1', 8081), 'a2');
    await answers('UDP within B', () => udpEcho(ns('b2'), ip('b1'), 53), 'pong');
    await answers('ICMP within B', () => ping(ns('b2'), ip('b1')), true);
    for (const addr of ['192.0.2.1', '192.0.2.3']) await answers(`outside → ${addr}:8080`, () => tcp(outside, addr, 8080), 'b1');
    await answers('outside → B\'s published UDP port', () => udpEcho(outside, '192.0.2.1', 5353), 'pong');
    await answers('B to itself by hairpin', () => tcp(ns('b1'), '192.0.2.1', 8080), 'b1');
    await answers('B through its own gateway\'s address', () => tcp(ns('b2'), '172.29.0.1', 8080), 'b1');
    await answers('the host on 127.0.0.1', () => tcp(host, '127.0.0.1', 8080), 'b1');
    await answers('the host\'s loopback service', () => tcp(host, '127.0.0.1', 7779), 'host-lo');
    for (const addr of ['192.0.2.1', '172.28.0.1', '172.29.0.1']) await answers(`the host's service on ${addr}`, () => tcp(outside, addr, 7777), 'host');
    await rec.b1.expectFrom(w, ns('b2'), 'b2-to-b1', ip('b1'));
    await rec.b1.expectFrom(w, outside, 'out-to-b1-published', '192.0.2.1', 5354);
    await rec.host.expectFrom(w, outside, 'out-to-host', '192.0.2.1');
    await rec.hostLo.expectFrom(w, host, 'host-to-lo');
    // A hand-made frame to the gateway's MAC is routed like any other (here out to the outside).
    await waitFor('a crafted frame from a1 through the gateway', async () => {
      const f = udpFrame({ srcMac: mac('a1'), dstMac: gatewayMacA, src: ip('a1'), dst: '192.0.2.2', sport: 40000, dport: 9998, payload: 'crafted-out' });
      await sendFrame(w, ns('a1'), 'eth0', f);
      return rec.out.has('crafted-out');
    });
  });

  it('A reaches none of B\'s endpoint addresses: TCP, UDP, ICMP', async () => {
    const before = await dropped('inet', `net-${netB.replace(/-/g, '').slice(0, 8)}-in`, 'isolation');
    const [t, u, p] = await Promise.all([tcp(ns('a1'), ip('b1'), 80), udpEcho(ns('a1'), ip('b1'), 53), ping(ns('a1'), ip('b1'))]);
    assert.deepEqual([t, u, p], ['', '', false]);
    assert.ok((await dropped('inet', `net-${netB.replace(/-/g, '').slice(0, 8)}-in`, 'isolation')) > before, 'B\'s isolation rule dropped them');
  });

  it('A reaches B through none of its published ports, at any host address', async () => {
    const addrs = ['192.0.2.1', '192.0.2.3', '172.28.0.1', '172.29.0.1'];
    const got = await Promise.all([...addrs.map((a) => tcp(ns('a1'), a, 8080)), udpEcho(ns('a1'), '192.0.2.1', 5353)]);
    assert.deepEqual(got, ['', '', '', '', '']);
    await sendUdp(w, ns('a1'), '192.0.2.1', 5354, 'a1-to-b1-published');
    await rec.b1.expectFrom(w, outside, 'out-to-b1-after', '192.0.2.1', 5354);
    assert.ok(!rec.b1.has('a1-to-b1-published'));
  });

  it('A reaches none of the host\'s services: on its gateway, B\'s gateway, the host\'s address', async () => {
    const before = await dropped('inet', 'host-in', 'host access');
    const addrs = ['172.28.0.1', '172.29.0.1', '192.0.2.1'];
    const got = await Promise.all([...addrs.map((a) => tcp(ns('a1'), a, 7777)), ping(ns('a1'), '172.29.0.1'), ping(ns('a1'), '192.0.2.1')]);
    assert.deepEqual(got, ['', '', '', false, false]);
    for (const a of addrs) await sendUdp(w, ns('a1'), a, 9999, `a1-to-host-${a}`);
    await rec.host.expectFrom(w, outside, 'out-to-host-after', '192.0.2.1');
    for (const a of addrs) assert.ok(!rec.host.has(`a1-to-host-${a}`), a);
    assert.ok(await ping(ns('a1'), '172.28.0.1'), 'its own gateway answers ping');
    assert.ok((await dropped('inet', 'host-in', 'host access')) > before);
  });

  it('packets to 127.0.0.1 at the gateway\'s MAC reach neither the host\'s loopback services nor published ports', async () => {
    const before = await dropped('inet', 'from-net', 'loopback address');
    for (const [dport, payload] of [[7780, 'lo-to-host'], [5354, 'lo-to-b1']] as const) {
      await sendFrame(w, ns('a1'), 'eth0', udpFrame({ srcMac: mac('a1'), dstMac: gatewayMacA, src: ip('a1'), dst: '127.0.0.1', sport: 40001, dport, payload }));
    }
    await rec.hostLo.expectFrom(w, host, 'host-to-lo-after');
    await rec.b1.expectFrom(w, outside, 'out-to-b1-after-lo', '192.0.2.1', 5354);
    assert.ok(!rec.hostLo.has('lo-to-host'), 'the host\'s 127.0.0.1 service');
    assert.ok(!rec.b1.has('lo-to-b1'), 'B\'s port published on every address, 127.0.0.1 included');
    assert.equal((await dropped('inet', 'from-net', 'loopback address')) - before, 2);
  });

  it('broadcasts stay in their network', async () => {
    await sendUdp(w, ns('a1'), '255.255.255.255', 9999, 'bcast-all');
    await sendUdp(w, ns('a1'), '172.28.0.255', 9999, 'bcast-a');
    await sendUdp(w, ns('a1'), '172.29.0.255', 9999, 'bcast-b');
    await waitFor('the broadcasts within A', async () => rec.a2.has('bcast-all') && rec.a2.has('bcast-a'));
    await rec.b1.expectFrom(w, ns('b2'), 'b2-to-b1-after-bcast', ip('b1'));
    await rec.host.expectFrom(w, outside, 'out-to-host-after-bcast', '192.0.2.1');
    for (const m of ['bcast-all', 'bcast-a', 'bcast-b']) {
      assert.ok(!rec.b1.has(m), `${m} at B`);
      assert.ok(!rec.host.has(m), `${m} at the host`);
    }
  });

  it('forged source addresses get nowhere: B\'s endpoint, B\'s gateway, the outside', async () => {
    const spoofDrops = async () => (await dropped('bridge', 'spoof', 'spoofed IPv4 source')) + (await dropped('bridge', 'spoof', 'spoofed ARP'));
    const before = await spoofDrops();
    for (const [forged, dst, port] of [['172.29.0.3', ip('b1'), 9999], ['172.29.0.1', ip('b1'), 9999], ['192.0.2.2', '192.0.2.1', 5354]] as const) {
      await w.ip(ns('a1'), `addr add ${forged}/32 dev eth0`);
      await sendUdp(w, ns('a1'), dst, port, `forged-${forged}`, forged);
      await w.ip(ns('a1'), `addr del ${forged}/32 dev eth0`);
    }
    await rec.b1.expectFrom(w, ns('b2'), 'b2-to-b1-after-forged', ip('b1'));
    for (const forged of ['172.29.0.3', '172.29.0.1', '192.0.2.2']) assert.ok(!rec.b1.has(`forged-${forged}`), forged);
    assert.ok((await spoofDrops()) > before, 'stopped at a1\'s veth');
  });

  it('trace says the same', async () => {
    const t = (RemoteAddress: string, RemotePort: number) =>
      hostd.client.request<{ Verdict: string; DecidedBy: { Layer: string } }>('POST', '/trace', { Endpoint: ns('a1'), Direction: 'Out', Protocol: 'tcp', RemoteAddress, RemotePort });
    for (const [addr, port, layer] of [[ip('b1'), 80, 'Isolation'], ['192.0.2.1', 8080, 'Isolation'], ['172.29.0.1', 8080, 'Isolation'], ['192.0.2.1', 7777, 'HostAccess'], ['127.0.0.1', 7779, 'Isolation']] as const) {
      const r = await t(addr, port);
      assert.deepEqual([r.Verdict, r.DecidedBy.Layer], ['Block', layer], `${addr}:${port}`);
    }
  });
});
