/**
 * NetworkACL on the real kernel: rules given to a network decide the new flows of every endpoint of
 * it (with HNS's default-deny, shown by inspect), count their packets under `network/<Id>`, change
 * for all endpoints with one PATCH of the network, and leave nothing when removed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, World, waitFor, type Hostd } from './world.js';

type Doc = { IpConfigurations: { IpAddress: string }[]; AclDefaults: { In: string; Out: string }; AclStats?: { Id: string; Direction: string; Packets: number }[] };

const rule = (Id: string, s: Record<string, unknown>) => JSON.stringify({ Type: 'NetworkACL', Settings: { Id, Action: 'Allow', Direction: 'In', ...s } });

describe('NetworkACL: one set of rules for every endpoint of a network', () => {
  const w = new World('nacl');
  let hostd: Hostd;
  const ns = (n: string) => w.nsName(n);
  const ip = new Map<string, string>();
  const get = (name: string) => hostd.client.request<Doc>('GET', `/endpoints/${ns(name)}`);
  /** What `from` gets from `to`'s port (an echo of the server's name, or '' when refused). */
  const reach = async (from: string, to: string, port: number) =>
    (await w.exec(ns(from), ['socat', '-T1', '-', `TCP:${ip.get(to)}:${port},connect-timeout=1`], { okExitCodes: [1] })).stdout.trim();

  before(async () => {
    requireRoot();
    const { host } = await w.hostAndOutside();
    hostd = await w.startHostd(host);
    const net = await w.cli(hostd, 'network', 'create', '--subnet', '172.26.0.0/24', '--policy', rule('web-in', { Protocols: '6', LocalPorts: '80', Priority: 100 }),
      '--policy', rule('out', { Direction: 'Out', Priority: 65535 }), 'nacl');
    assert.equal(net.code, 0, net.stderr);
    for (const name of ['a', 'b']) {
      const r = await w.cli(hostd, '-o', 'json', 'endpoint', 'create', '--network', 'nacl', ns(name));
      assert.equal(r.code, 0, r.stderr);
      ip.set(name, (JSON.parse(r.stdout) as Doc).IpConfigurations[0]!.IpAddress);
      for (const port of [80, 7000]) w.spawnIn(ns(name), ['socat', `TCP-LISTEN:${port},fork,reuseaddr`, `SYSTEM:echo ${name}`]);
      await waitFor(`the servers of ${name}`, async () => (await w.exec(ns(name), ['ss', '-Htln'])).stdout.includes(':7000'));
    }
  });
  after(async () => {
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  it('decides the new flows of every endpoint, with the default made visible', async () => {
    assert.equal(await reach('a', 'b', 80), 'b', 'allowed by the network rule');
    assert.equal(await reach('b', 'a', 80), 'a', 'the same rule on the other endpoint');
    assert.equal(await reach('a', 'b', 7000), '', 'no rule allows 7000: the default blocks it');
    const doc = await get('b');
    assert.deepEqual(doc.AclDefaults, { In: 'Block', Out: 'Block' });
    assert.ok((doc.AclStats ?? []).find((s) => s.Id === 'network/web-in')!.Packets > 0, JSON.stringify(doc.AclStats));
  });

  it('one PATCH of the network changes every endpoint', async () => {
    const block = { Type: 'NetworkACL', Settings: { Id: 'no-a', Action: 'Block', Direction: 'In', RemoteAddresses: ip.get('a'), Priority: 10 } };
    const r = await w.cli(hostd, 'network', 'policy', 'add', 'nacl', JSON.stringify(block));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await reach('a', 'b', 80), '', 'a Block at 10 decides before the allow at 100');
    assert.equal(await reach('b', 'a', 80), 'a', 'b is not blocked');
    const ls = await w.cli(hostd, 'network', 'policy', 'ls', 'nacl');
    assert.match(ls.stdout, /NetworkACL\s+no-a\s+In\s+Block\s+10/);
  });

  it('removing the rules opens the endpoints again and leaves no chain', async () => {
    const out = rule('out', { Direction: 'Out', Priority: 65535 });
    const r = await w.cli(hostd, 'network', 'policy', 'set', 'nacl', rule('only', { Protocols: '6', LocalPorts: '7000' }), out);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await reach('a', 'b', 7000), 'b');
    assert.equal(await reach('a', 'b', 80), '', 'Update replaced the allow of 80');
    await hostd.client.request('PATCH', '/networks/nacl', { ResourceType: 'Policy', RequestType: 'Remove', Settings: { Policies: [JSON.parse(rule('only', { Protocols: '6', LocalPorts: '7000' })), JSON.parse(out)] } });
    assert.equal(await reach('a', 'b', 80), 'b', 'no rule left: open');
    assert.deepEqual((await get('a')).AclDefaults, { In: 'Allow', Out: 'Allow' });
    const table = (await w.exec(w.nsName('host'), ['nft', 'list', 'table', 'inet', 'switchyard'])).stdout;
    assert.doesNotMatch(table, /chain ep-/, 'no endpoint chain is left');
  });
});
