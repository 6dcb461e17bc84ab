/**
 * Endpoint policies on the real kernel (issue "Endpoint policy"): ACLs decide new flows by priority
 * and let replies and established flows pass, with HNS's default-deny made visible; QOS caps hold
 * within 10% (iperf3), both ways, and change in place; OutBoundNAT exceptions and VirtualIP are seen
 * from a server beyond the host; routes land in the endpoint's namespace and change in place; a live
 * change keeps established flows and the veth.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, World, waitFor, type Hostd } from './world.js';

type Doc = {
  ID: string;
  IpConfigurations: { IpAddress: string }[];
  AclDefaults: { In: string; Out: string };
  AclStats?: { Id: string; Direction: string; Packets: number }[];
  Policies: { Type: string; Settings: Record<string, unknown> }[];
};

const acl = (Id: string, s: Record<string, unknown>) => ({ Type: 'ACL', Settings: { Id, Action: 'Allow', Direction: 'In', ...s } });

describe('endpoint policies', () => {
  const w = new World('pol');
  let hostd: Hostd;
  let host: string;
  let outside: string;
  const ns = (n: string) => w.nsName(n);
  const ip = new Map<string, string>();

  const create = async (name: string, ...args: string[]) => {
    const r = await w.cli(hostd, '-o', 'json', 'endpoint', 'create', '--network', 'pol', ...args, ns(name));
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as Doc;
    ip.set(name, doc.IpConfigurations[0]!.IpAddress);
    return doc;
  };
  const patch = (name: string, RequestType: string, ...Policies: unknown[]) =>
    hostd.client.request<Doc>('PATCH', `/endpoints/${ns(name)}`, { ResourceType: 'Policy', RequestType, Settings: { Policies } });
  const get = (name: string) => hostd.client.request<Doc>('GET', `/endpoints/${ns(name)}`);
  const ifindex = async (name: string) => JSON.parse((await w.exec(ns(name), ['ip', '-j', 'link', 'show', 'eth0'])).stdout)[0].ifindex as number;
  /** What a server beyond the host sees as the source of `name`'s connection. */
  const seenFrom = async (name: string) => (await w.exec(ns(name), ['socat', '-T2', '-', 'TCP:192.0.2.2:9100,connect-timeout=2'], { okExitCodes: [1] })).stdout.trim();
  const iperf = async (name: string, reverse: boolean) => {
    const args = ['iperf3', '-c', '192.0.2.2', '-t', '4', '-O', '1', '-J', ...(reverse ? ['-R'] : [])];
    const out = JSON.parse((await w.exec(ns(name), args, { timeoutMs: 30_000 })).stdout);
    return out.end.sum_received.bits_per_second as number;
  };

  before(async () => {
    requireRoot();
    ({ host, outside } = await w.hostAndOutside());
    hostd = await w.startHostd(host);
    assert.equal((await w.cli(hostd, 'network', 'create', '--subnet', '172.24.0.0/24', 'pol')).code, 0);
    await create('web', '--publish', '8080:80');
    await create('peer');
    await create('other');
    await w.httpServer(ns('web'), 80, 'web');
    w.spawnIn(ns('web'), ['socat', 'TCP-LISTEN:7000,fork,reuseaddr', 'EXEC:cat']);
    await w.httpServer(outside, 9000, 'outside');
    w.spawnIn(outside, ['socat', 'TCP-LISTEN:9100,fork,reuseaddr', 'SYSTEM:echo $SOCAT_PEERADDR']);
    w.spawnIn(outside, ['iperf3', '-s']);
    await waitFor('servers beyond the host', async () => (await w.exec(outside, ['ss', '-Htln'])).stdout.includes(':5201'));
  });
  after(async () => {
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  it('without ACLs everything passes and inspect says so', async () => {
    assert.deepEqual((await get('web')).AclDefaults, { In: 'Allow', Out: 'Allow' });
    assert.equal(await w.curl(ns('other'), `http://${ip.get('web')}/`), 'web');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8080/'), 'web');
  });

  it('ACLs decide new flows by priority, replies pass, and the default becomes block (shown by inspect)', async () => {
    await patch('web', 'Add', acl('peer-in', { Protocols: '6', LocalPorts: '80,7000', RemoteAddresses: ip.get('peer'), Priority: 100 }));
    const doc = await get('web');
    assert.deepEqual(doc.AclDefaults, { In: 'Block', Out: 'Block' });
    assert.equal(await w.curl(ns('peer'), `http://${ip.get('web')}/`), 'web', 'allowed, between endpoints of one bridge; the reply passes');
    assert.equal(await w.curl(ns('other'), `http://${ip.get('web')}/`, 1), '', 'no rule allows other: default block');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8080/', 1), '', 'a published port meets the ACLs after DNAT');
    assert.equal(await w.curl(ns('web'), 'http://192.0.2.2:9000/', 1), '', 'Out default block');
    const stats = (await get('web')).AclStats ?? [];
    assert.ok(stats.find((s) => s.Id === 'peer-in')!.Packets > 0, JSON.stringify(stats));
    assert.ok(stats.find((s) => s.Id === 'default' && s.Direction === 'In')!.Packets > 0, JSON.stringify(stats));

    await patch('web', 'Add', acl('lan-in', { Protocols: '6', LocalPorts: '80', RemoteAddresses: '192.0.2.0/24', Priority: 200 }));
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8080/'), 'web', 'allowed at 200');
    await patch('web', 'Add', acl('outside-out', { Action: 'Block', RemoteAddresses: '192.0.2.2', Priority: 150 }));
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8080/', 1), '', 'a block at 150 decides before the allow at 200');
    await patch('web', 'Add', acl('pass-lan', { Action: 'Pass', RemoteAddresses: '192.0.2.0/24', Priority: 10 }));
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8080/'), 'web', 'Pass at 10 leaves the ACLs undecided: no default block');
    await patch('web', 'Add', acl('web-out', { Direction: 'Out', Protocols: '6', RemotePorts: '9000', Priority: 100 }));
    assert.equal(await w.curl(ns('web'), 'http://192.0.2.2:9000/'), 'outside', 'Out allowed, and its reply comes in');
    assert.equal(await w.curl(ns('other'), `http://${ip.get('web')}/`, 1), '', 'still blocked');
  });

  it('a live change keeps the veth and the established flows it still allows', async () => {
    const before = await ifindex('web');
    const conn = w.spawnIn(ns('peer'), ['socat', '-', `TCP:${ip.get('web')}:7000`], { stdin: true });
    let echoed = '';
    conn.stdout!.on('data', (b: Buffer) => (echoed += b.toString()));
    conn.stdin!.write('one\n');
    await waitFor('the first echo', async () => echoed.includes('one'));
    await patch('web', 'Update', acl('peer-in', { Protocols: '6', LocalPorts: '80,7000', RemoteAddresses: ip.get('peer'), Priority: 100 }), acl('new', { Protocols: '17', LocalPorts: '53' }));
    assert.deepEqual((await get('web')).Policies.filter((p) => p.Type === 'ACL').map((p) => p.Settings.Id), ['peer-in', 'new']);
    conn.stdin!.write('two\n');
    await waitFor('the echo after the change', async () => echoed.includes('two'));
    assert.equal(await ifindex('web'), before, 'the veth was not made again');
    conn.stdin!.end();
  });

  it('refuses a bad change whole and keeps the old policy', async () => {
    const rules = async () => (await w.exec(host, ['nft', 'list', 'table', 'inet', 'switchyard'])).stdout;
    const was = await rules();
    await assert.rejects(patch('web', 'Add', acl('fine', { Protocols: '6', LocalPorts: '81' }), acl('bad', { Protocols: '6', LocalPorts: '70000' })), /LocalPorts/);
    await assert.rejects(patch('web', 'Add', acl('prio', { Priority: 65536 })), /Priority/);
    assert.equal(await rules(), was);
  });

  it('caps what an endpoint sends and receives within 10%, and changes the cap in place', async () => {
    await create('qos', '--max-egress', '40mbit', '--max-ingress', '80mbit');
    const up = await iperf('qos', false);
    assert.ok(Math.abs(up / 40e6 - 1) <= 0.1, `sent ${(up / 1e6).toFixed(1)} Mbit/s under a 40 Mbit/s cap`);
    const down = await iperf('qos', true);
    assert.ok(Math.abs(down / 80e6 - 1) <= 0.1, `received ${(down / 1e6).toFixed(1)} Mbit/s under an 80 Mbit/s cap`);
    const before = await ifindex('qos');
    await patch('qos', 'Update', { Type: 'QOS', Settings: { MaximumOutgoingBandwidthInBytes: 2_500_000 } });
    const slower = await iperf('qos', false);
    assert.ok(Math.abs(slower / 20e6 - 1) <= 0.1, `sent ${(slower / 1e6).toFixed(1)} Mbit/s under a 20 Mbit/s cap`);
    assert.equal(await ifindex('qos'), before);
  });

  it('OutBoundNAT: exceptions go out untranslated, a VirtualIP replaces the host address', async () => {
    await create('plain');
    await create('nat-ex', '--policy', JSON.stringify({ Type: 'OutBoundNAT', Settings: { Exceptions: ['192.0.2.2/32'] } }));
    await create('nat-vip', '--policy', JSON.stringify({ Type: 'OutBoundNAT', Settings: { VirtualIP: '192.0.2.3', Exceptions: ['10.99.0.0/16'] } }));
    assert.equal(await seenFrom('plain'), '192.0.2.1');
    assert.equal(await seenFrom('nat-ex'), ip.get('nat-ex'));
    assert.equal(await seenFrom('nat-vip'), '192.0.2.3');
  });

  it('routes land in the endpoint namespace, carry packets to their next hop, and change in place', async () => {
    // A router endpoint at 172.24.0.10 that owns 10.70.0.1: only the route brings rt's packet there.
    await create('rtr', '--ip', '172.24.0.10');
    await w.ip(ns('rtr'), 'addr add 10.70.0.1/32 dev lo');
    await w.httpServer(ns('rtr'), 80, 'router');
    await create('rt', '--policy', JSON.stringify({ Type: 'SDNRoute', Settings: { DestinationPrefix: '10.70.0.0/16', NextHop: '172.24.0.10' } }));
    const routes = async () => (await w.exec(ns('rt'), ['ip', 'route'])).stdout;
    assert.match(await routes(), /10\.70\.0\.0\/16 via 172\.24\.0\.10 dev eth0/);
    assert.equal(await w.curl(ns('rt'), 'http://10.70.0.1/'), 'router', 'the packet went to the next hop');
    assert.equal(await w.curl(ns('peer'), 'http://10.70.0.1/', 1), '', 'without the route it goes to the gateway and nowhere');
    const before = await ifindex('rt');
    await patch('rt', 'Add', { Type: 'SDNRoute', Settings: { DestinationPrefix: '10.80.0.0/16' } });
    await patch('rt', 'Remove', { Type: 'SDNRoute', Settings: { DestinationPrefix: '10.70.0.0/16' } });
    const now = await routes();
    assert.doesNotMatch(now, /10\.70\.0\.0/);
    assert.match(now, /10\.80\.0\.0\/16 dev eth0/);
    assert.equal(await ifindex('rt'), before);
  });

  it('EncapOverhead lowers the endpoint\'s MTU (both ends of its veth)', async () => {
    const doc = await create('mtu', '--policy', JSON.stringify({ Type: 'EncapOverhead', Settings: { Overhead: 50 } }));
    const inside = JSON.parse((await w.exec(ns('mtu'), ['ip', '-j', 'link', 'show', 'eth0'])).stdout)[0];
    const hostSide = JSON.parse((await w.exec(host, ['ip', '-j', 'link', 'show', (doc as unknown as { HostIfName: string }).HostIfName])).stdout)[0];
    assert.equal(inside.mtu, 1450);
    assert.equal(hostSide.mtu, 1450);
    assert.equal(await w.curl(ns('mtu'), 'http://192.0.2.2:9000/'), 'outside');
  });

  it('an endpoint cannot send as another: a forged source address or MAC is dropped at its veth', async () => {
    // "other" takes web's address as a second one and sends from it: without anti-spoofing it would
    // slip past web's own Out rules (ACLs are picked by address).
    await w.ip(ns('other'), `addr add ${ip.get('web')}/32 dev eth0`);
    const forged = await w.exec(ns('other'), ['curl', '-s', '-m', '1', '--interface', ip.get('web')!, 'http://192.0.2.2:9000/'], { okExitCodes: [7, 28, 45] });
    assert.notEqual(forged.stdout, 'outside', 'a forged source does not get out');
    await w.ip(ns('other'), `addr del ${ip.get('web')}/32 dev eth0`);
    await w.ip(ns('other'), 'link set eth0 address 02:53:de:ad:be:ef');
    assert.equal(await w.curl(ns('other'), 'http://192.0.2.2:9000/', 1), '', 'a forged MAC does not get out');
    const doc = await hostd.client.request<{ MacAddress: string }>('GET', `/endpoints/${ns('other')}`);
    await w.ip(ns('other'), `link set eth0 address ${doc.MacAddress.replace(/-/g, ':').toLowerCase()}`);
    const rules = (await w.exec(host, ['nft', 'list', 'chain', 'bridge', 'switchyard', 'spoof'])).stdout;
    const dropped = (what: string) => Number(new RegExp(`counter packets (\\d+) bytes \\d+ drop comment "${what}`).exec(rules)?.[1] ?? 0);
    // The forged source is stopped in its ARP for the gateway, or in its IP packet if the gateway's MAC was known.
    assert.ok(dropped('spoofed IPv4 source') + dropped('spoofed ARP') > 0, rules);
    assert.ok(dropped('spoofed MAC') > 0, rules);
  });

  it('a restart after a crash puts back routes and QOS changed behind hostd\'s back', async () => {
    await w.stopHostd(hostd, 'SIGKILL');
    await w.exec(ns('qos'), ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
    await w.exec(ns('rt'), ['ip', 'route', 'del', '10.80.0.0/16']);
    hostd = await w.startHostd(host, { stateDir: hostd.stateDir });
    assert.match((await w.exec(ns('qos'), ['tc', 'qdisc', 'show', 'dev', 'eth0'])).stdout, /tbf .*rate 20Mbit/);
    assert.match((await w.exec(ns('rt'), ['ip', 'route'])).stdout, /10\.80\.0\.0\/16 dev eth0/);
  });

  it('removing the endpoints removes their chains and elements', async () => {
    for (const n of ['web', 'peer', 'other', 'qos', 'plain', 'nat-ex', 'nat-vip', 'rt', 'rtr', 'mtu']) assert.equal((await w.cli(hostd, 'endpoint', 'rm', ns(n))).code, 0);
    const table = (await w.exec(host, ['nft', 'list', 'table', 'inet', 'switchyard'])).stdout;
    assert.doesNotMatch(table, /chain ep-/);
    assert.doesNotMatch(table, /172\.24\.0\.(?!1 )\d+ /, 'no element of an endpoint (the gateway .1 is the network\'s)');
  });
});
