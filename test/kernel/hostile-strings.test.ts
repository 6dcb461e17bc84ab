/**
 * Hostile strings on the real kernel (the unit test test/unit/hostile-strings.test.ts covers every
 * field against the fake data plane): the odd but valid strings hostd accepts — ACL Ids that look
 * like options or prototype names, DNS names with "_" — appear verbatim in the real ruleset
 * (`nft list table`), in the ACL counters read back, and in the namespace's resolv.conf, and nothing
 * else; hostile ones (quotes, newlines, `$(…)`, nft syntax, 10,000 characters) are refused and the
 * whole ruleset, the links and resolv.conf stay as they were. The CNI plugin ignores what it does
 * not use (CNI_ARGS K8S_POD_NAME), and a first ADD that hostd refuses leaves no network behind.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { run } from '../../src/dataplane/run.js';
import { parseElementCounters } from '../../src/dataplane/nft-diff.js';
import { ApiError } from '../../src/cli/client.js';
import { requireRoot, World, type Hostd } from './world.js';
import { CniHarness } from './cni.js';

const ODD_IDS = ['-rf', '--help', '__proto__', 'constructor', 'a:b@c.d-e_f', 'x'.repeat(64)];
const HOSTILE = ['x" ; flush ruleset ; "', '} ; add rule inet switchyard forward accept ; {', 'a\nb', 'a\rb', '$(reboot)', '`id`', "a'b", 'a\\b', '# c', 'y'.repeat(10_000), '\u202eb', '😀'];

describe('hostile strings on the real kernel', () => {
  const w = new World('hs');
  let host: string;
  let hostd: Hostd;
  let nsPath: string;
  let resolvConf: string;

  before(async () => {
    requireRoot();
    ({ host } = await w.hostAndOutside());
    hostd = await w.startHostd(host, { resyncSeconds: 3600 });
    nsPath = `/run/netns/${w.nsName('ep')}`;
    resolvConf = `/etc/netns/${w.nsName('ep')}/resolv.conf`;
  });
  after(async () => {
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
    assert.ok(!existsSync(resolvConf), 'resolv.conf removed with the namespace');
  });

  const ruleset = async () => (await run(['nsenter', `--net=/run/netns/${host}`, 'nft', 'list', 'ruleset'])).stdout.replace(/counter packets \d+ bytes \d+/g, 'counter');
  const links = async () => (await run(['ip', '-n', host, '-o', 'link', 'show'])).stdout.replace(/\\\s+link\/ether.*$/gm, '');
  const acl = (Id: string, Priority: number) => ({ Type: 'ACL', Settings: { Id, Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: String(1000 + Priority), Priority } });

  it('odd but valid ACL Ids and DNS names are in the ruleset, the counters and resolv.conf verbatim', async () => {
    await hostd.client.request('POST', '/networks', { Name: 'hs-net', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.28.0.0/24' }] }] });
    await hostd.client.request('POST', '/namespaces', { Path: nsPath });
    await hostd.client.request('POST', '/endpoints', {
      Name: 'hs-ep',
      HostComputeNetwork: 'hs-net',
      HostComputeNamespace: nsPath,
      Dns: { Domain: 'corp.example', Search: ['_sip._tcp.corp.example', 'constructor', '__proto__'], ServerList: ['192.0.2.53'], Options: ['ndots:2', '-rf'] },
      Policies: ODD_IDS.map((id, i) => acl(id, i + 1)),
    });
    const table = (await run(['nsenter', `--net=/run/netns/${host}`, 'nft', 'list', 'table', 'inet', 'switchyard'])).stdout;
    // each rule's elements carry the comment "acl ID" (what their counters are read by)
    for (const id of ODD_IDS) assert.match(table, new RegExp(`comment "acl ${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" : accept`), `the ruleset holds the comment of ACL ${id}`);
    // The counters as /metrics reads them (the kernel's own listing, through hostd's parser): one
    // counted element per rule, under its Id verbatim.
    const listed = (await run(['nsenter', `--net=/run/netns/${host}`, 'nft', '-j', 'list', 'table', 'inet', 'switchyard'])).stdout;
    const counted = parseElementCounters(listed).filter((c) => c.set === 'acl_in').map((c) => c.comment);
    assert.deepEqual(counted.sort(), ODD_IDS.map((id) => `acl ${id}`).sort(), 'the counters are read back under the same Ids');
    const stats = await hostd.client.request<{ AclStats: { Id: string }[] }>('GET', '/endpoints/hs-ep/stats');
    assert.deepEqual(stats.AclStats.map((s) => s.Id).filter((id) => id !== 'default').sort(), [...ODD_IDS].sort());
    assert.equal(
      readFileSync(resolvConf, 'utf8'),
      '# written by switchyard\nsearch corp.example _sip._tcp.corp.example constructor __proto__\nnameserver 192.0.2.53\noptions ndots:2 -rf\n',
    );
  });

  it('hostile ACL Ids and DNS names are refused naming the field; the ruleset, the links and resolv.conf stay as they were', async () => {
    const before = { ruleset: await ruleset(), links: await links(), resolv: readFileSync(resolvConf, 'utf8') };
    for (const v of HOSTILE) {
      const requests: [string, string, unknown, RegExp][] = [
        ['PATCH', '/endpoints/hs-ep', { ResourceType: 'Policy', RequestType: 'Add', Settings: { Policies: [acl(v, 90)] } }, /Settings\.Id/],
        ['PATCH', '/endpoints/hs-ep', { ResourceType: 'Policy', RequestType: 'Add', Settings: { Policies: [{ ...acl('ok-id', 91), Settings: { ...acl('ok-id', 91).Settings, RemoteAddresses: v } }] } }, /RemoteAddresses/],
        ['POST', '/endpoints', { Name: 'hs-ep2', HostComputeNetwork: 'hs-net', Dns: { Search: [v] } }, /Dns/],
        ['POST', '/endpoints', { Name: 'hs-ep2', HostComputeNetwork: 'hs-net', Dns: { ServerList: [v] } }, /ServerList/],
        ['POST', '/endpoints', { Name: 'hs-ep2', HostComputeNetwork: 'hs-net', Dns: { Options: [v] } }, /[Oo]ption/],
        ['POST', '/networks', { Name: v, Type: 'NAT' }, /Network name|\/Name/],
        ['POST', '/namespaces', { Path: v }, /Namespace path|\/Path/],
      ];
      for (const [method, path, body, names] of requests) {
        await assert.rejects(hostd.client.request(method, path, body), (e: unknown) => e instanceof ApiError && e.status === 400 && names.test(e.message), `${method} ${path} with ${JSON.stringify(v.slice(0, 30))}`);
      }
    }
    assert.equal(await ruleset(), before.ruleset, 'the whole ruleset is as it was');
    assert.equal(await links(), before.links, 'the links are as they were');
    assert.equal(readFileSync(resolvConf, 'utf8'), before.resolv, 'resolv.conf is as it was');
  });

  it('CNI: what the plugin does not use never reaches hostd, and a refused first ADD leaves no network', async () => {
    const cni = new CniHarness(w, host);
    const c1 = await cni.container('c1');
    const conf = { cniVersion: '1.1.0', name: 'hs-cni', type: 'switchyard', subnet: '10.89.0.0/16', socket: hostd.socket };
    // (CNI_ARGS is KEY=VALUE;KEY=VALUE: a value cannot hold ";")
    const pod = '$(reboot)`id`" flush ruleset #\u202e😀';
    const before = await ruleset();
    const add = await cni.call({ command: 'ADD', containerId: 'hs-1', netns: c1, conf, env: { CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAME=${pod};K8S_POD_NAMESPACE=x` } });
    assert.equal(add.exit, 0, add.stdout);
    const after = await ruleset();
    assert.notEqual(after, before, 'the ADD made its elements');
    for (const part of ['reboot', '`id`', 'flush', '\u202e', '😀']) assert.ok(!after.includes(part), `nothing of K8S_POD_NAME (${part}) in the ruleset`);
    const state = (await run(['grep', '-rl', 'reboot', hostd.stateDir], { okExitCodes: [1] })).stdout;
    assert.equal(state, '', 'nor in the state directory');
    assert.equal((await cni.call({ command: 'DEL', containerId: 'hs-1', netns: c1, conf })).exit, 0);

    const networks = async () => (await hostd.client.request<{ Name: string }[]>('GET', '/networks')).map((n) => n.Name).sort();
    const nets = await networks();
    const rs = await ruleset();
    const refused = await cni.call({ command: 'ADD', containerId: 'hs-2', netns: c1, conf: { ...conf, name: 'hs-left', subnet: '10.90.0.0/16', runtimeConfig: { ips: ['10.91.0.5'] } } });
    assert.equal(refused.exit, 1);
    assert.equal((refused.json as { code: number }).code, 7, refused.stdout);
    assert.deepEqual(await networks(), nets, 'the network the refused ADD made is gone again');
    assert.equal(await ruleset(), rs, 'and the ruleset is as it was');
  });
});
