/**
 * Coexistence with Docker's networking (shared/notes/coexisting-with-docker.md): on a host whose
 * iptables FORWARD policy is DROP, with a DOCKER-USER chain and br_netfilter on, Switchyard's traffic
 * still passes, through one marked jump into a chain of its own that goes away with the last network.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, World, type Hostd } from './world.js';

describe('on a host where Docker set the FORWARD policy to DROP', () => {
  const w = new World('dock');
  let hostd: Hostd;
  let host: string;
  let outside: string;
  const a = w.nsName('a');
  const b = w.nsName('b');
  const ipt = async (...args: string[]) => (await w.exec(host, ['iptables', ...args])).stdout;

  before(async () => {
    requireRoot();
    ({ host, outside } = await w.hostAndOutside());
    // What dockerd does at start, in this host only.
    await ipt('-N', 'DOCKER-USER');
    await ipt('-A', 'DOCKER-USER', '-j', 'RETURN');
    await ipt('-I', 'FORWARD', '1', '-j', 'DOCKER-USER');
    await ipt('-P', 'FORWARD', 'DROP');
    await w.exec(host, ['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1']);
    hostd = await w.startHostd(host);
  });
  after(async () => {
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  it('passes bridged, published and outbound traffic', async () => {
    assert.equal((await w.cli(hostd, 'network', 'create', '--subnet', '172.22.0.0/24', 'n')).code, 0);
    assert.equal((await w.cli(hostd, 'endpoint', 'create', '--network', 'n', '--publish', '8080:80', a)).code, 0);
    assert.equal((await w.cli(hostd, 'endpoint', 'create', '--network', 'n', b)).code, 0);
    await w.httpServer(a, 80, 'a');
    await w.httpServer(outside, 9000, 'outside');
    assert.equal(await w.curl(b, 'http://172.22.0.2/'), 'a', 'bridged between endpoints');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8080/'), 'a', 'published port');
    assert.equal(await w.curl(b, 'http://192.0.2.1:8080/'), 'a', 'hairpin');
    assert.equal(await w.curl(a, 'http://192.0.2.2:9000/'), 'outside', 'outbound');
    const user = await ipt('-S', 'DOCKER-USER');
    assert.match(user.split('\n')[1] ?? '', /-j SWITCHYARD-FORWARD/, 'jump first in DOCKER-USER, marked');
    assert.match(user, /--comment switchyard/);
  });

  it('removes its iptables presence with the last network and leaves Docker\'s alone', async () => {
    assert.equal((await w.cli(hostd, 'network', 'rm', 'n')).code, 0);
    const all = await ipt('-S');
    assert.ok(!all.includes('SWITCHYARD'), all);
    assert.match(all, /-P FORWARD DROP/);
    assert.match(all, /-A DOCKER-USER -j RETURN/);
  });
});
