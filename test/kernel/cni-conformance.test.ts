/**
 * The CNI plugin against a real hostd on the real kernel, invoked exactly as a runtime invokes it:
 * every command (ADD, DEL, CHECK, VERSION, STATUS, GC) and every error path, with packets through
 * the published ports. hostd runs in the test's host namespace; containers are namespaces the test
 * makes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { requireRoot, World, waitFor, type Hostd } from './world.js';
import { CniHarness } from './cni.js';

type Result = {
  cniVersion: string;
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number; version?: string }[];
  routes: { dst: string; gw?: string }[];
  dns: { nameservers?: string[]; search?: string[]; domain?: string };
};
type Ep = { ID: string; Name: string; IpConfigurations: { IpAddress: string }[]; NamespacePath?: string };

describe('CNI plugin conformance (spec 1.0/1.1 against a real hostd)', () => {
  const w = new World('cni');
  let hostd: Hostd;
  let host: string;
  let outside: string;
  let cni: CniHarness;
  let silent: Server | undefined;
  const conf = (extra: Record<string, unknown> = {}) => ({
    cniVersion: '1.1.0',
    name: 'mynet',
    type: 'switchyard',
    mode: 'nat',
    subnet: '10.88.0.0/16',
    socket: hostd.socket,
    capabilities: { portMappings: true, bandwidth: true, ipRanges: true, dns: true },
    ...extra,
  });
  const endpoints = async (network = 'mynet') => hostd.client.request<Ep[]>('GET', `/endpoints?network=${network}`);

  before(async () => {
    requireRoot();
    ({ host, outside } = await w.hostAndOutside());
    hostd = await w.startHostd(host);
    cni = new CniHarness(w, host);
  });
  after(async () => {
    silent?.close();
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
    const etc = existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((n) => n.startsWith(`${w.prefix}-`)) : [];
    assert.deepEqual(etc, [], 'no /etc/netns/NAME of ours is left in the machine\'s /etc');
  });

  it('VERSION lists 0.3.0 to 1.1.0, with or without a config on stdin', async () => {
    for (const stdin of ['{"cniVersion":"1.0.0"}', '']) {
      const r = await cni.call({ command: 'VERSION', conf: undefined, stdin, env: { CNI_PATH: undefined, CNI_CONTAINERID: undefined, CNI_IFNAME: undefined } });
      assert.equal(r.exit, 0, r.stdout);
      assert.deepEqual(r.json!.supportedVersions, ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
    }
  });

  let web: string;
  let webResult: Result;
  it('ADD makes the network on first use, attaches the container and publishes its ports (hostIP too)', async () => {
    web = await cni.container('web');
    const r = await cni.call({
      command: 'ADD',
      containerId: 'web-1',
      netns: web,
      conf: conf({
        runtimeConfig: {
          portMappings: [
            { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
            { hostPort: 8443, containerPort: 80, protocol: 'tcp', hostIP: '192.0.2.3' },
          ],
          dns: { nameservers: ['192.0.2.53'], search: ['corp.example'] },
        },
      }),
    });
    assert.equal(r.exit, 0, r.stdout);
    webResult = r.json as Result;
    assert.equal(webResult.cniVersion, '1.1.0');
    assert.equal(webResult.ips[0]!.address, '10.88.0.2/16');
    assert.equal(webResult.ips[0]!.gateway, '10.88.0.1');
    assert.equal(webResult.interfaces[webResult.ips[0]!.interface!]!.name, 'eth0');
    assert.equal(webResult.interfaces[webResult.ips[0]!.interface!]!.sandbox, web);
    assert.deepEqual(webResult.routes, [{ dst: '0.0.0.0/0', gw: '10.88.0.1' }]);
    assert.deepEqual(webResult.dns.nameservers, ['192.0.2.53']);
    assert.deepEqual(webResult.dns.search, ['corp.example']);
    const net = await hostd.client.request<{ Ipams: { Subnets: { IpAddressPrefix: string }[] }[] }>('GET', '/networks/mynet');
    assert.equal(net.Ipams[0]!.Subnets[0]!.IpAddressPrefix, '10.88.0.0/16');
    const nsName = web.split('/').pop()!;
    const addr = await w.exec(nsName, ['ip', '-j', 'addr', 'show', 'dev', 'eth0']);
    assert.match(addr.stdout, /"local":"10\.88\.0\.2","prefixlen":16/);
    assert.ok(addr.stdout.includes(webResult.interfaces[1]!.mac!), 'the MAC in the result is the interface MAC');
    await w.httpServer(nsName, 80, 'hello-cni');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8080/'), 'hello-cni');
    assert.equal(await w.curl(outside, 'http://192.0.2.3:8443/'), 'hello-cni');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8443/', 1), '', 'the hostIP mapping is bound to 192.0.2.3 only');
  });

  it('ADD repeated for the same attachment answers the same result', async () => {
    const r = await cni.call({ command: 'ADD', containerId: 'web-1', netns: web, conf: conf() });
    assert.equal(r.exit, 0, r.stdout);
    assert.equal((r.json as Result).ips[0]!.address, '10.88.0.2/16');
    assert.equal((await endpoints()).length, 1);
  });

  it('CHECK passes with the cached result, fails (101) when it does not match or the attachment is gone', async () => {
    const ok = await cni.call({ command: 'CHECK', containerId: 'web-1', netns: web, conf: conf({ prevResult: webResult }) });
    assert.equal(ok.exit, 0, ok.stdout);
    assert.equal(ok.stdout.trim(), '');
    const wrong = { ...webResult, ips: [{ address: '10.88.9.9/16', interface: 1 }] };
    const bad = await cni.call({ command: 'CHECK', containerId: 'web-1', netns: web, conf: conf({ prevResult: wrong }) });
    assert.equal(bad.exit, 1);
    assert.equal(bad.json!.code, 101);
    const none = await cni.call({ command: 'CHECK', containerId: 'nobody', netns: web, conf: conf({ prevResult: webResult }) });
    assert.equal(none.json!.code, 101);
    const old = await cni.call({ command: 'CHECK', containerId: 'web-1', netns: web, conf: conf({ cniVersion: '0.3.1', prevResult: webResult }) });
    assert.equal(old.json!.code, 1, 'CHECK does not exist before 0.4.0');
  });

  it('answers the result in the shape of older spec versions (0.4.0: ips[].version)', async () => {
    const ns = await cni.container('old');
    const r = await cni.call({ command: 'ADD', containerId: 'old-1', netns: ns, conf: conf({ cniVersion: '0.4.0' }) });
    assert.equal(r.exit, 0, r.stdout);
    const res = r.json as Result;
    assert.equal(res.cniVersion, '0.4.0');
    assert.equal(res.ips[0]!.version, '4');
    assert.equal((await cni.call({ command: 'DEL', containerId: 'old-1', netns: ns, conf: conf({ cniVersion: '0.4.0' }) })).exit, 0);
  });

  it('speaks the newest version of a cniVersions list (spec 1.1) when the runtime passes the list on', async () => {
    const ns = await cni.container('listed');
    const { cniVersion: _, ...unversioned } = conf();
    const r = await cni.call({ command: 'ADD', containerId: 'listed-1', netns: ns, conf: { ...unversioned, cniVersions: ['0.4.0', '1.0.0', '2.0.0'] } });
    assert.equal(r.exit, 0, r.stdout);
    assert.equal((r.json as Result).cniVersion, '1.0.0');
    const none = await cni.call({ command: 'ADD', containerId: 'listed-2', netns: ns, conf: { ...unversioned, cniVersions: ['2.0.0'] } });
    assert.equal(none.json!.code, 1, none.stdout);
    assert.equal((await cni.call({ command: 'DEL', containerId: 'listed-1', netns: ns, conf: { ...unversioned, cniVersions: ['1.0.0'] } })).exit, 0);
  });

  it('refuses a published port another container holds (100, SY_PORT_IN_USE) and leaves nothing behind', async () => {
    const ns = await cni.call({ command: 'ADD', containerId: 'clash', netns: await cni.container('clash'), conf: conf({ runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } }) });
    assert.equal(ns.exit, 1);
    assert.equal(ns.json!.code, 100);
    assert.match(String(ns.json!.details), /SY_PORT_IN_USE/);
    assert.equal((await endpoints()).length, 1);
    const nss = await hostd.client.request<{ Path: string }[]>('GET', '/namespaces');
    assert.ok(!nss.some((n) => n.Path.endsWith('-clash')), 'the refused ADD released the namespace it adopted');
  });

  it('bandwidth becomes a QOS policy (bytes per second, bursts included) shaped with tbf', async () => {
    const r = await cni.call({
      command: 'ADD',
      containerId: 'bw',
      netns: await cni.container('bw'),
      conf: conf({ runtimeConfig: { bandwidth: { ingressRate: 8_000_000, ingressBurst: 80_000, egressRate: 16_000_000, egressBurst: 160_000 } } }),
    });
    assert.equal(r.exit, 0, r.stdout);
    const ep = await hostd.client.request<{ Policies: { Type: string; Settings: Record<string, number> }[] }>('GET', `/endpoints/${(await endpoints()).find((e) => e.NamespacePath?.endsWith('-bw'))!.ID}`);
    assert.deepEqual(ep.Policies.find((p) => p.Type === 'QOS')!.Settings, {
      MaximumOutgoingBandwidthInBytes: 2_000_000,
      MaximumIncomingBandwidthInBytes: 1_000_000,
      OutgoingBurstInBytes: 20_000,
      IncomingBurstInBytes: 10_000,
    });
    assert.equal((await cni.call({ command: 'DEL', containerId: 'bw', conf: conf() })).exit, 0);
  });

  it('ipRanges, runtimeConfig.ips and CNI_ARGS IP= choose the address', async () => {
    const a = await cni.call({
      command: 'ADD',
      containerId: 'ranged',
      netns: await cni.container('rng'),
      conf: conf({ runtimeConfig: { ipRanges: [[{ subnet: '10.88.0.0/16', rangeStart: '10.88.5.10', rangeEnd: '10.88.5.20' }]] } }),
    });
    assert.equal(a.exit, 0, a.stdout);
    assert.equal((a.json as Result).ips[0]!.address, '10.88.5.10/16');
    const b = await cni.call({ command: 'ADD', containerId: 'static', netns: await cni.container('st'), conf: conf(), env: { CNI_ARGS: 'IgnoreUnknown=1;IP=10.88.7.7' } });
    assert.equal(b.exit, 0, b.stdout);
    assert.equal((b.json as Result).ips[0]!.address, '10.88.7.7/16');
    const c = await cni.call({
      command: 'ADD',
      containerId: 'wrongrange',
      netns: await cni.container('wr'),
      conf: conf({ runtimeConfig: { ipRanges: [[{ subnet: '10.99.0.0/16' }]] } }),
    });
    assert.equal(c.json!.code, 7, c.stdout);
    for (const id of ['ranged', 'static']) assert.equal((await cni.call({ command: 'DEL', containerId: id, conf: conf() })).exit, 0);
  });

  it('passes raw HCN endpoint policies from AdditionalArgs (the Windows plugins\' spelling)', async () => {
    const ns = await cni.container('raw');
    const pm = { Name: 'EndpointPolicy', Value: { Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 80, ExternalPort: 9090 } } };
    const r = await cni.call({ command: 'ADD', containerId: 'raw', netns: ns, conf: conf({ AdditionalArgs: [pm] }) });
    assert.equal(r.exit, 0, r.stdout);
    await w.httpServer(ns.split('/').pop()!, 80, 'raw-policy');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:9090/'), 'raw-policy');
    assert.equal((await cni.call({ command: 'DEL', containerId: 'raw', conf: conf({ AdditionalArgs: [pm] }) })).exit, 0);
    const bad = await cni.call({ command: 'ADD', containerId: 'raw2', netns: ns, conf: conf({ AdditionalArgs: [{ Name: 'Bogus', Value: { Type: 'ACL' } }] }) });
    assert.equal(bad.json!.code, 7);
  });

  it('STATUS: ready (0), out of addresses (51), hostd down (50); GC and STATUS need 1.1.0 (1)', async () => {
    assert.equal((await cni.call({ command: 'STATUS', conf: conf() })).exit, 0);
    const tiny = { ...conf(), name: 'tiny', subnet: '10.77.0.0/30' };
    assert.equal((await cni.call({ command: 'STATUS', conf: tiny })).exit, 0, 'a network not made yet can take an ADD');
    const ns = await cni.container('tiny');
    assert.equal((await cni.call({ command: 'ADD', containerId: 'tiny-1', netns: ns, conf: tiny })).exit, 0);
    const full = await cni.call({ command: 'STATUS', conf: tiny });
    assert.equal(full.json!.code, 51, full.stdout);
    const down = await cni.call({ command: 'STATUS', conf: { ...conf(), socket: join(w.dir, 'nobody.sock') } });
    assert.equal(down.json!.code, 50, down.stdout);
    assert.equal((await cni.call({ command: 'STATUS', conf: conf({ cniVersion: '1.0.0' }) })).json!.code, 1);
    assert.equal((await cni.call({ command: 'GC', conf: conf({ cniVersion: '1.0.0' }) })).json!.code, 1);
    assert.equal((await cni.call({ command: 'DEL', containerId: 'tiny-1', conf: tiny })).exit, 0);
  });

  it('DEL removes the attachment and its published ports; it succeeds again, without CNI_NETNS, and after the namespace is gone', async () => {
    assert.equal((await cni.call({ command: 'DEL', containerId: 'web-1', netns: web, conf: conf({ prevResult: webResult }) })).exit, 0);
    assert.equal((await endpoints()).length, 0);
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8080/', 1), '');
    const nss = await hostd.client.request<{ Path: string }[]>('GET', '/namespaces');
    assert.ok(!nss.some((n) => n.Path === web), 'hostd forgot the namespace it adopted');
    const again = await cni.call({ command: 'DEL', containerId: 'web-1', netns: web, conf: conf() });
    assert.equal(again.exit, 0, again.stdout);
    assert.equal((await cni.call({ command: 'DEL', containerId: 'web-1', conf: conf() })).exit, 0);
    // the namespace disappears under a live attachment (a runtime that removed it first)
    const gone = await cni.container('gone');
    assert.equal((await cni.call({ command: 'ADD', containerId: 'gone', netns: gone, conf: conf() })).exit, 0);
    await import('../../src/dataplane/run.js').then(({ run }) => run(['ip', 'netns', 'delete', gone.split('/').pop()!]));
    const d = await cni.call({ command: 'DEL', containerId: 'gone', netns: gone, conf: conf() });
    assert.equal(d.exit, 0, d.stdout);
    assert.equal((await endpoints()).length, 0);
    const unknownNet = await cni.call({ command: 'DEL', containerId: 'x', conf: conf({ name: 'never-made' }) });
    assert.equal(unknownNet.exit, 0, 'DEL on a network hostd never made succeeds');
  });

  it('GC removes every attachment not in cni.dev/valid-attachments and nothing else', async () => {
    for (const id of ['g1', 'g2', 'g3']) {
      assert.equal((await cni.call({ command: 'ADD', containerId: id, ifName: 'eth1', netns: await cni.container(id), conf: conf() })).exit, 0);
    }
    // an endpoint made by the host admin, not by the plugin, on the same network
    await hostd.client.request('POST', '/endpoints', { Name: 'admin-made', HostComputeNetwork: 'mynet' });
    const r = await cni.call({ command: 'GC', conf: conf({ 'cni.dev/valid-attachments': [{ containerID: 'g2', ifname: 'eth1' }, { containerID: 'g3', ifname: 'eth0' }] }) });
    assert.equal(r.exit, 0, r.stdout);
    const left = (await endpoints()).map((e) => e.Name);
    assert.equal(left.length, 2, JSON.stringify(left));
    assert.ok(left.includes('admin-made'));
    const check = await cni.call({ command: 'CHECK', containerId: 'g2', ifName: 'eth1', netns: join('/run/netns', w.nsName('g2')), conf: conf() });
    assert.equal(check.exit, 0, check.stdout);
    assert.equal((await cni.call({ command: 'GC', conf: conf({ name: 'never-made' }) })).exit, 0);
    assert.equal((await cni.call({ command: 'GC', conf: conf() })).exit, 0);
    assert.deepEqual((await endpoints()).map((e) => e.Name), ['admin-made']);
    await hostd.client.request('DELETE', '/endpoints/admin-made');
  });

  it('answers the spec\'s error codes: 4 bad environment, 6 undecodable, 7 invalid config, 1 version, 3 no namespace', async () => {
    const ns = await cni.container('err');
    const cases: [string, Partial<Parameters<CniHarness['call']>[0]>, number][] = [
      ['no CNI_COMMAND', { env: { CNI_COMMAND: undefined } }, 4],
      ['unknown CNI_COMMAND', { command: 'FROB' }, 4],
      ['no CNI_CONTAINERID', { env: { CNI_CONTAINERID: undefined } }, 4],
      ['bad CNI_CONTAINERID', { containerId: '-bad id' }, 4],
      ['bad CNI_IFNAME', { ifName: 'much-too-long-ifname0' }, 4],
      ['no CNI_NETNS on ADD', { netns: '' }, 4],
      ['relative CNI_NETNS', { netns: 'run/netns/x' }, 4],
      ['no CNI_PATH', { env: { CNI_PATH: undefined } }, 4],
      ['bad CNI_ARGS', { env: { CNI_ARGS: 'IP' } }, 4],
      ['stdin not JSON', { stdin: '{nope' }, 6],
      ['unsupported cniVersion', { conf: conf({ cniVersion: '2.0.0' }) }, 1],
      ['invalid name', { conf: conf({ name: 'bad name!' }) }, 7],
      ['invalid subnet', { conf: conf({ name: 'other', subnet: '10.0.0.0/33' }) }, 7],
      ['unknown mode', { conf: conf({ mode: 'ipvlan' }) }, 7],
      ['bad port mapping', { conf: conf({ runtimeConfig: { portMappings: [{ hostPort: 70000, containerPort: 80 }] } }) }, 7],
      ['bad hostIP', { conf: conf({ runtimeConfig: { portMappings: [{ hostPort: 81, containerPort: 80, hostIP: '1.2.3' }] } }) }, 7],
      ['subnet differs from the existing network', { conf: conf({ subnet: '10.89.0.0/16' }) }, 7],
      ['overlay without its vsid', { conf: conf({ name: 'ov', subnet: '10.66.0.0/16', mode: 'overlay', providerAddress: '192.0.2.99' }) }, 7],
      ["overlay whose provider address is not this host's (hostd's refusal)", { conf: conf({ name: 'ov', subnet: '10.66.0.0/16', mode: 'overlay', vsid: 4096, providerAddress: '192.0.2.99' }) }, 7],
      ['uplink mode without its adapter (master)', { conf: conf({ name: 'l2', subnet: '10.66.0.0/16', mode: 'l2bridge' }) }, 7],
      ['namespace that does not exist', { netns: '/run/netns/syt-no-such-ns' }, 3],
    ];
    for (const [what, c, code] of cases) {
      const r = await cni.call({ command: 'ADD', containerId: 'err', netns: ns, conf: conf(), ...c });
      assert.equal(r.exit, 1, `${what}: exit`);
      assert.equal(r.json?.code, code, `${what}: ${r.stdout}`);
      assert.equal(typeof r.json?.msg, 'string', `${what}: msg`);
    }
    assert.equal((await endpoints()).length, 0, 'no refused ADD left anything');
    const nss = await hostd.client.request<{ Path: string }[]>('GET', '/namespaces');
    assert.ok(!nss.some((n) => n.Path === ns), 'not even the adopted namespace');
  });

  it('answers 11 at once when hostd is not reachable, and within the timeout when it does not answer', async () => {
    const missing = await cni.call({ command: 'ADD', containerId: 'x', netns: await cni.container('down'), conf: conf({ socket: join(w.dir, 'nobody.sock') }) });
    assert.equal(missing.json!.code, 11, missing.stdout);
    assert.ok(missing.ms < 5000, `answered in ${missing.ms} ms`);
    const del = await cni.call({ command: 'DEL', containerId: 'x', conf: conf({ socket: join(w.dir, 'nobody.sock') }) });
    assert.equal(del.json!.code, 11, 'DEL cannot claim success while hostd is away');
    // a socket that accepts and never answers: hung hostd
    const hung = join(w.dir, 'hung.sock');
    silent = createServer(() => undefined);
    await new Promise<void>((r) => silent!.listen(hung, r));
    const slow = await cni.call({ command: 'DEL', containerId: 'x', conf: conf({ socket: hung, timeout: 1 }) });
    assert.equal(slow.json!.code, 11, slow.stdout);
    assert.ok(slow.ms < 10_000, `answered in ${slow.ms} ms`);
  });

  it('50 concurrent ADDs of different containers all succeed with distinct addresses; 50 concurrent DELs free them', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `par${i}`);
    const nss = await Promise.all(ids.map((id) => cni.container(id)));
    const conc = { ...conf(), name: 'par', subnet: '10.90.0.0/24' };
    const res = await Promise.all(ids.map((id, i) => cni.call({ command: 'ADD', containerId: id, netns: nss[i], conf: conc })));
    res.forEach((r, i) => assert.equal(r.exit, 0, `${ids[i]}: ${r.stdout}`));
    const ips = new Set(res.map((r) => (r.json as Result).ips[0]!.address));
    assert.equal(ips.size, 50);
    assert.equal((await hostd.client.request<unknown[]>('GET', '/networks')).filter((n) => (n as { Name: string }).Name === 'par').length, 1, 'one network, not a race of two');
    const dels = await Promise.all(ids.map((id, i) => cni.call({ command: 'DEL', containerId: id, netns: nss[i], conf: conc })));
    dels.forEach((r, i) => assert.equal(r.exit, 0, `${ids[i]}: ${r.stdout}`));
    assert.equal((await endpoints('par')).length, 0);
  });

  it('ADD replaces an attachment left behind by a lost container whose namespace is gone', async () => {
    const first = await cni.container('lost1');
    assert.equal((await cni.call({ command: 'ADD', containerId: 'lost', netns: first, conf: conf() })).exit, 0);
    await import('../../src/dataplane/run.js').then(({ run }) => run(['ip', 'netns', 'delete', first.split('/').pop()!]));
    const second = await cni.container('lost2');
    const r = await cni.call({ command: 'ADD', containerId: 'lost', netns: second, conf: conf() });
    assert.equal(r.exit, 0, r.stdout);
    const eps = (await endpoints()).filter((e) => e.NamespacePath === first || e.NamespacePath === second);
    assert.deepEqual(eps.map((e) => e.NamespacePath), [second]);
    // while the old namespace still exists, the same identity elsewhere is refused
    const third = await cni.container('lost3');
    const clash = await cni.call({ command: 'ADD', containerId: 'lost', netns: third, conf: conf() });
    assert.equal(clash.json!.code, 100, clash.stdout);
    assert.equal((await cni.call({ command: 'DEL', containerId: 'lost', conf: conf() })).exit, 0);
  });

  it('several interfaces in one namespace share hostd\'s record of it; it goes with the last of them', async () => {
    const ns = await cni.container('multi');
    const multi = { ...conf(), name: 'multi', subnet: '10.92.0.0/24' };
    const adds = await Promise.all(['eth1', 'eth2', 'eth3'].map((ifName) => cni.call({ command: 'ADD', containerId: 'm', ifName, netns: ns, conf: multi })));
    adds.forEach((r) => assert.equal(r.exit, 0, r.stdout));
    // one DEL racing a new ADD in the same namespace: neither may take the other's namespace record away
    const [del, add] = await Promise.all([
      cni.call({ command: 'DEL', containerId: 'm', ifName: 'eth1', netns: ns, conf: multi }),
      cni.call({ command: 'ADD', containerId: 'm', ifName: 'eth4', netns: ns, conf: multi }),
    ]);
    assert.equal(del.exit, 0, del.stdout);
    assert.equal(add.exit, 0, add.stdout);
    const links = await w.exec(ns.split('/').pop()!, ['ip', '-j', 'link', 'show']);
    for (const i of ['eth2', 'eth3', 'eth4']) assert.ok(links.stdout.includes(`"ifname":"${i}"`), i);
    for (const ifName of ['eth2', 'eth3', 'eth4']) assert.equal((await cni.call({ command: 'DEL', containerId: 'm', ifName, conf: multi })).exit, 0);
    const nss = await hostd.client.request<{ Path: string }[]>('GET', '/namespaces');
    assert.ok(!nss.some((n) => n.Path === ns), 'released with the last interface');
  });

  it('the plugin does no kernel work: an ADD and a DEL start no process and open no socket but hostd\'s', async () => {
    const { readFileSync } = await import('node:fs');
    const ns = await cni.container('nokernel');
    const trace = join(w.dir, 'nokernel.strace');
    const prefix = ['strace', '-f', '-qq', '-o', trace, '-e', 'trace=execve,execveat,fork,vfork,clone,clone3,socket'];
    for (const command of ['ADD', 'DEL']) {
      const r = await cni.call({ command, containerId: 'nokernel', netns: ns, conf: conf(), prefix });
      assert.equal(r.exit, 0, r.stdout);
      const calls = readFileSync(trace, 'utf8').split('\n').filter((l) => /^\d+ +(execve|execveat|fork|vfork|clone|clone3|socket)\(/.test(l));
      const execs = calls.filter((l) => /execve/.test(l)).map((l) => /execve\("([^"]+)"/.exec(l)?.[1]);
      assert.deepEqual(execs.slice(1), [join(cni.binDir, 'switchyard')], `${command}: only nsenter's exec of the plugin (${execs.join(', ')})`);
      const sockets = calls.filter((l) => /socket\(/.test(l));
      assert.ok(sockets.length > 0 && sockets.every((l) => /socket\(AF_UNIX,/.test(l)), `${command}: unix sockets only:\n${sockets.join('\n')}`);
      const forks = calls.filter((l) => /^\d+ +(fork|vfork|clone3?)\(/.test(l) && !/CLONE_THREAD/.test(l));
      assert.deepEqual(forks, [], `${command}: no child process`);
    }
  });

  it('ADD and DEL of the same container racing end consistent: hostd and the namespace agree', async () => {
    const race = { ...conf(), name: 'race', subnet: '10.91.0.0/24' };
    for (let round = 0; round < 8; round++) {
      const id = `race${round}`;
      const ns = await cni.container(id);
      const [add, del] = await Promise.all([
        cni.call({ command: 'ADD', containerId: id, netns: ns, conf: race }),
        cni.call({ command: 'DEL', containerId: id, netns: ns, conf: race }),
      ]);
      assert.equal(del.exit, 0, del.stdout);
      assert.equal(add.exit, 0, add.stdout);
      const inHostd = (await endpoints('race')).some((e) => e.NamespacePath === ns);
      const link = await w.exec(ns.split('/').pop()!, ['ip', '-j', 'link', 'show', 'eth0'], { okExitCodes: [1] });
      assert.equal(link.exitCode === 0, inHostd, `round ${round}: interface present iff hostd has the endpoint`);
      assert.equal((await cni.call({ command: 'DEL', containerId: id, netns: ns, conf: race })).exit, 0);
      await waitFor('eth0 gone', async () => (await w.exec(ns.split('/').pop()!, ['ip', 'link', 'show', 'eth0'], { okExitCodes: [1] })).exitCode === 1);
    }
    assert.equal((await endpoints('race')).length, 0);
  });
});
