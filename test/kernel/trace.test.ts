/**
 * `trace` against the kernel: a table of packets, each answered by trace (verdict and the rule, the
 * isolation or the default that decides) and then sent for real — the connection must succeed or
 * fail as traced, and the deciding rule's counter must grow. Out cases are also probed by hostd
 * itself (`Probe`), whose counters must confirm the answer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, World, type Hostd } from './world.js';

type Trace = { Verdict: string; DecidedBy: { Layer: string; Endpoint?: string; Direction?: string; Id?: string }; Probe?: { Confirmed: boolean | null; Note: string } };
type Stats = { AclStats?: { Id: string; Direction: string; Packets: number }[] };

describe('trace agrees with the kernel', () => {
  const w = new World('trc');
  let hostd: Hostd;
  let outside: string;
  const ns = (n: string) => w.nsName(n);
  const ip = new Map<string, string>();
  const acl = (Id: string, s: Record<string, unknown>) => ({ Type: 'ACL', Settings: { Id, Action: 'Allow', Direction: 'In', Protocols: '6', ...s } });

  before(async () => {
    requireRoot();
    let host: string;
    ({ host, outside } = await w.hostAndOutside());
    hostd = await w.startHostd(host);
    assert.equal((await w.cli(hostd, 'network', 'create', '--subnet', '172.25.0.0/24', 'tr')).code, 0);
    assert.equal((await w.cli(hostd, 'network', 'create', '--subnet', '172.26.0.0/24', 'tr2')).code, 0);
    assert.equal((await w.cli(hostd, 'network', 'create', '--internal', '--subnet', '172.27.0.0/24', 'iso')).code, 0);
    const create = async (name: string, net: string, ...args: string[]) => {
      const r = await w.cli(hostd, '-o', 'json', 'endpoint', 'create', '--network', net, ...args, ns(name));
      assert.equal(r.code, 0, r.stderr);
      ip.set(name, JSON.parse(r.stdout).IpConfigurations[0].IpAddress);
    };
    await create('peer', 'tr');
    await create('web', 'tr', '--publish', '8080:80');
    await create('other', 'tr', '--policy', JSON.stringify(acl('only-9000', { Direction: 'Out', RemotePorts: '9000', Priority: 10 })));
    await create('far', 'tr2');
    await create('inner', 'iso');
    const policies = [
      acl('peer-in', { LocalPorts: '80', RemoteAddresses: ip.get('peer'), Priority: 100 }),
      acl('lan-block', { Action: 'Block', Protocols: '256', RemoteAddresses: '192.0.2.2', Priority: 150 }),
      acl('lan-in', { LocalPorts: '80', RemoteAddresses: '192.0.2.0/24', Priority: 200 }),
      acl('web-out', { Direction: 'Out', RemotePorts: '9000', Priority: 100 }),
    ];
    await hostd.client.request('PATCH', `/endpoints/${ns('web')}`, { ResourceType: 'Policy', RequestType: 'Add', Settings: { Policies: policies } });
    await w.httpServer(ns('web'), 80, 'web');
    await w.httpServer(outside, 9000, 'outside');
    await w.httpServer(outside, 9001, 'outside-2');
  });
  after(async () => {
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  // [what, trace request, verdict, decided by, where curl runs, url, expected body]
  const cases: [string, Record<string, unknown>, string, string, string, () => string, string][] = [
    ['peer → web:80, bridged', { Endpoint: 'peer', Direction: 'Out', RemoteAddress: '@web', RemotePort: 80 }, 'Allow', 'web/In/peer-in', 'peer', () => `http://${ip.get('web')}/`, 'web'],
    ['other → web:80: other\'s own default', { Endpoint: 'other', Direction: 'Out', RemoteAddress: '@web', RemotePort: 80 }, 'Block', 'other/Out/default', 'other', () => `http://${ip.get('web')}/`, ''],
    ['outside → published 8080: a Block at 150 before the Allow at 200', { Endpoint: 'web', Direction: 'In', RemoteAddress: '192.0.2.2', HostPort: 8080 }, 'Block', 'web/In/lan-block', 'out', () => 'http://192.0.2.1:8080/', ''],
    ['web → outside:9000', { Endpoint: 'web', Direction: 'Out', RemoteAddress: '192.0.2.2', RemotePort: 9000 }, 'Allow', 'web/Out/web-out', 'web', () => 'http://192.0.2.2:9000/', 'outside'],
    ['web → outside:9001: web\'s default', { Endpoint: 'web', Direction: 'Out', RemoteAddress: '192.0.2.2', RemotePort: 9001 }, 'Block', 'web/Out/default', 'web', () => 'http://192.0.2.2:9001/', ''],
    ['peer → host:8080 (hairpin) meets web\'s ACLs', { Endpoint: 'peer', Direction: 'Out', RemoteAddress: '192.0.2.1', RemotePort: 8080 }, 'Allow', 'web/In/peer-in', 'peer', () => 'http://192.0.2.1:8080/', 'web'],
    ['far (other network) → host:8080: isolation, not even published ports cross', { Endpoint: 'far', Direction: 'Out', RemoteAddress: '192.0.2.1', RemotePort: 8080 }, 'Block', 'Isolation', 'far', () => 'http://192.0.2.1:8080/', ''],
    ['far → web directly: isolation', { Endpoint: 'far', Direction: 'Out', RemoteAddress: '@web', RemotePort: 80 }, 'Block', 'Isolation', 'far', () => `http://${ip.get('web')}/`, ''],
    ['inner (internal network) → its gateway:8080, which web publishes: nothing leaves its bridge', { Endpoint: 'inner', Direction: 'Out', RemoteAddress: '172.27.0.1', RemotePort: 8080 }, 'Block', 'Isolation', 'inner', () => 'http://172.27.0.1:8080/', ''],
  ];

  for (const [what, req, verdict, decided, from, url, body] of cases) {
    it(what, async () => {
      const request = { Protocol: 'tcp', ...req, Endpoint: ns(String(req.Endpoint)), RemoteAddress: String(req.RemoteAddress).startsWith('@') ? ip.get(String(req.RemoteAddress).slice(1)) : req.RemoteAddress };
      const t = await hostd.client.request<Trace>('POST', '/trace', request);
      const d = t.DecidedBy;
      const got = d.Layer === 'ACL' || d.Layer === 'Default' ? `${d.Endpoint!.replace(`${w.prefix}-`, '')}/${d.Direction}/${d.Id ?? 'default'}` : d.Layer;
      assert.equal(t.Verdict, verdict, JSON.stringify(t));
      assert.equal(got, decided, JSON.stringify(t));
      // The same packet for real: the connection and the deciding rule's counter agree.
      const [owner, dir, id] = decided.split('/');
      const count = async () => {
        if (!id) return 0;
        const s = await hostd.client.request<Stats>('GET', `/endpoints/${ns(owner!)}`);
        return s.AclStats?.find((x) => x.Id === id && x.Direction === dir)?.Packets ?? 0;
      };
      const before = await count();
      assert.equal(await w.curl(from === 'out' ? outside : ns(from), url(), 1), body, `${what}: the real connection`);
      if (id) assert.ok((await count()) > before, `${what}: ${decided} counted the packet`);
      // hostd's own probe (Out cases: sent from the endpoint's namespace) says the same.
      if (req.Direction === 'Out' && id) {
        const p = await hostd.client.request<Trace>('POST', '/trace', { ...request, Probe: true });
        assert.equal(p.Probe?.Confirmed, true, JSON.stringify(p.Probe));
      }
    });
  }

  it('/metrics exposes each rule\'s hits and each endpoint\'s traffic', async () => {
    const { run } = await import('../../src/dataplane/run.js');
    const text = (await run(['curl', '-s', '--unix-socket', hostd.socket, 'http://hostd/metrics'])).stdout;
    const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
    assert.ok(value(new RegExp(`^switchyard_acl_rule_packets_total\\{endpoint="${ns('web')}",direction="In",rule="peer-in"\\} (\\d+)$`, 'm')) > 0, text);
    assert.ok(value(new RegExp(`^switchyard_acl_rule_packets_total\\{endpoint="${ns('web')}",direction="Out",rule="default"\\} (\\d+)$`, 'm')) > 0, text);
    assert.ok(value(new RegExp(`^switchyard_endpoint_sent_bytes_total\\{endpoint="${ns('web')}",network="tr"\\} (\\d+)$`, 'm')) > 0, text);
    assert.match(text, /^switchyard_endpoints 5$/m);
    assert.match(text, /^# TYPE switchyard_acl_rule_bytes_total counter$/m);
  });

  it('the CLI prints the answer and refuses a bad request', async () => {
    const r = await w.cli(hostd, 'trace', ns('web'), '--in', '--remote', '192.0.2.2', '--host-port', '8080');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^BLOCK: ACL "lan-block" \(Priority 150\)/);
    assert.match(r.stdout, /nat: {2}DNAT host port 8080/);
    const bad = await w.cli(hostd, 'trace', ns('web'), '--in', '--remote', '192.0.2.2; reboot');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not an IPv4 address/);
  });
});
