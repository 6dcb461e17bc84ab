/**
 * The Switchyard plugin first in a chain, followed by Debian's reference `tuning` and `firewall`
 * plugins, as libcni runs a conflist: each plugin gets the previous result as prevResult on ADD and
 * CHECK, and DEL runs the chain backwards. The reference plugins (1.1.1) speak spec 1.0.0 at most.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, World, type Hostd } from './world.js';
import { CniHarness, pluginConf } from './cni.js';

describe('CNI chain: switchyard → tuning → firewall (Debian reference plugins)', () => {
  const w = new World('cnich');
  let hostd: Hostd;
  let host: string;
  let outside: string;
  let cni: CniHarness;
  let list: { cniVersion: string; name: string; plugins: Record<string, unknown>[] };

  before(async () => {
    requireRoot();
    ({ host, outside } = await w.hostAndOutside());
    hostd = await w.startHostd(host);
    cni = new CniHarness(w, host);
    list = {
      cniVersion: '1.0.0',
      name: 'chained',
      plugins: [
        { type: 'switchyard', subnet: '10.93.0.0/24', socket: hostd.socket, capabilities: { portMappings: true } },
        { type: 'tuning', mtu: 1400, sysctl: { 'net.ipv4.conf.eth0.accept_redirects': '0' } },
        { type: 'firewall', backend: 'iptables' },
      ],
    };
  });
  after(async () => {
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  /** Runs the whole list for one command, as libcni does; answers the final result (ADD). */
  async function chain(command: 'ADD' | 'CHECK' | 'DEL', containerId: string, netns: string, cached?: Record<string, unknown>) {
    const plugins = command === 'DEL' ? [...list.plugins].reverse() : list.plugins;
    let prev = cached;
    for (const p of plugins) {
      const extra: Record<string, unknown> = prev ? { prevResult: prev } : {};
      if (p.type === 'switchyard') extra.runtimeConfig = { portMappings: [{ hostPort: 8081, containerPort: 80, protocol: 'tcp' }] };
      const r = await cni.call({ command, containerId, netns, plugin: String(p.type), conf: pluginConf(list, p, extra) });
      assert.equal(r.exit, 0, `${command} ${String(p.type)}: ${r.stdout} ${r.stderr}`);
      if (command === 'ADD') prev = r.json;
    }
    return prev;
  }

  it('ADD through the chain: tuning and firewall act on the interface Switchyard made', async () => {
    const ns = await cni.container('c1');
    const result = await chain('ADD', 'chain-1', ns);
    assert.ok(result);
    const ips = result.ips as { address: string }[];
    assert.equal(ips[0]!.address, '10.93.0.2/24');
    const nsName = ns.split('/').pop()!;
    const link = await w.exec(nsName, ['ip', '-j', 'link', 'show', 'eth0']);
    assert.match(link.stdout, /"mtu":1400/, 'tuning set the MTU');
    const sysctl = await w.exec(nsName, ['cat', '/proc/sys/net/ipv4/conf/eth0/accept_redirects']);
    assert.equal(sysctl.stdout.trim(), '0', 'tuning set the sysctl');
    const rules = await w.exec(host, ['iptables', '-S', 'CNI-FORWARD']);
    assert.match(rules.stdout, /10\.93\.0\.2/, 'firewall allowed the container address in the host namespace');
    await w.httpServer(nsName, 80, 'chained');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8081/'), 'chained');

    await chain('CHECK', 'chain-1', ns, result);

    await chain('DEL', 'chain-1', ns, result);
    const after = await w.exec(host, ['iptables', '-S', 'CNI-FORWARD'], { okExitCodes: [1] });
    assert.doesNotMatch(after.stdout, /10\.93\.0\.2/, 'firewall removed its rules');
    assert.equal((await hostd.client.request<unknown[]>('GET', '/endpoints')).length, 0);
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8081/', 1), '');
    // DEL of the whole chain again (a runtime retrying) succeeds
    await chain('DEL', 'chain-1', ns, result);
  });
});
