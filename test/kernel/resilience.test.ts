/**
 * State survives: kill -9 of hostd keeps traffic flowing and a restart finds everything; a simulated
 * reboot (every kernel object of Switchyard's gone: links, both tables, the namespaces it made, the
 * sysctls) is rebuilt from the store; drift made while hostd runs (a veth, a flushed chain, whole
 * tables, map elements, a QOS qdisc on either side of a veth, a route in an endpoint's namespace) is
 * repaired by the first periodic resync after it; objects Switchyard did not make are never touched;
 * 50 concurrent creates succeed; refused requests leave the kernel as it was.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, World, waitFor, type Hostd } from './world.js';
import { run } from '../../src/dataplane/run.js';

type Doc = { ID: string; Name: string; HostIfName: string; Bridge: string; Policies: { Settings: { ExternalPort: number } }[]; IpConfigurations: { IpAddress: string }[] };

describe('hostd restarts, reboots, drift, foreign objects, concurrency, refusals', () => {
  const w = new World('res');
  let hostd: Hostd;
  let host: string;
  let outside: string;
  const web = w.nsName('web');
  const peer = w.nsName('peer');
  const qr = w.nsName('qr');
  const RESYNC_SECONDS = 1;

  const kernelSnapshot = async () => {
    const links = (await run(['ip', '-n', host, '-br', 'link'])).stdout.split('\n').map((l) => l.split(/\s+/)[0]).sort().join(' ');
    const nft = (await w.exec(host, ['nft', '-s', 'list', 'ruleset'])).stdout; // -s: without counters
    return `${links}\n${nft}`;
  };
  const works = async () => (await w.curl(outside, 'http://192.0.2.1:8080/')) === 'web' && (await w.curl(peer, 'http://192.0.2.1:8080/')) === 'web';
  const passes = async () => (await hostd.client.request<{ ReconcilePasses: number }>('GET', '/status')).ReconcilePasses;
  /**
   * Waits until a full resync has run from start to end after this call: the pass counter moves at
   * the start of a pass and passes run one at a time, so once it has moved twice, the pass that
   * started after the drift was made has finished. The bound (generous, for a loaded machine) only
   * keeps a stuck hostd from hanging the test; what is asserted is "repaired by that one pass".
   */
  const oneResync = async () => {
    const n = await passes();
    await waitFor('a full resync after the drift', async () => (await passes()) >= n + 2, 20 * RESYNC_SECONDS * 1000 + 10_000);
  };
  const qdisc = async (ns: string, dev: string) => (await run(['tc', '-n', ns, 'qdisc', 'show', 'dev', dev, 'root'])).stdout;

  before(async () => {
    requireRoot();
    ({ host, outside } = await w.hostAndOutside());
    // Objects that are not Switchyard's: they must survive everything below.
    await w.ip(host, 'link add foreign0 type bridge');
    await w.exec(host, ['nft', '-f', '-'], { stdin: 'table inet other {\n chain c { type filter hook forward priority 10; policy accept; counter; }\n}\n' });
    hostd = await w.startHostd(host, { resyncSeconds: RESYNC_SECONDS });
    assert.equal((await w.cli(hostd, 'network', 'create', '--subnet', '172.20.0.0/24', 'net')).code, 0);
    assert.equal((await w.cli(hostd, 'endpoint', 'create', '--network', 'net', '--publish', '8080:80', web)).code, 0);
    assert.equal((await w.cli(hostd, 'endpoint', 'create', '--network', 'net', peer)).code, 0);
    const route = JSON.stringify({ Type: 'SDNRoute', Settings: { DestinationPrefix: '10.80.0.0/16' } });
    const r = await w.cli(hostd, 'endpoint', 'create', '--network', 'net', '--max-egress', '20mbit', '--max-ingress', '20mbit', '--policy', route, qr);
    assert.equal(r.code, 0, r.stderr);
    await w.httpServer(web, 80, 'web');
    assert.ok(await works());
  });
  after(async () => {
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  it('keeps traffic flowing through kill -9 and finds everything again on restart', async () => {
    const before = await kernelSnapshot();
    await w.stopHostd(hostd, 'SIGKILL');
    assert.ok(await works(), 'the data plane does not depend on the process');
    hostd = await w.startHostd(host, { stateDir: hostd.stateDir, resyncSeconds: RESYNC_SECONDS });
    assert.ok(await works());
    assert.equal(await kernelSnapshot(), before, 'a restart changes nothing that was right');
  });

  it('rebuilds a simulated reboot (all of its kernel objects gone) from the stored state', async () => {
    await w.stopHostd(hostd, 'SIGKILL');
    const eps = (await run(['ip', '-n', host, '-br', 'link'])).stdout.split('\n').map((l) => l.split(/[\s@]+/)[0]!).filter((n) => n.startsWith('sy-'));
    await w.ip(host, ...eps.map((n) => `link del ${n}`));
    await w.exec(host, ['nft', 'delete', 'table', 'inet', 'switchyard']);
    await w.exec(host, ['nft', 'delete', 'table', 'bridge', 'switchyard']);
    // The namespaces hostd made (tmpfs under /run/netns) and the host's sysctls do not survive a reboot either.
    for (const n of [web, peer, qr]) await run(['ip', 'netns', 'delete', n]);
    await w.exec(host, ['sysctl', '-qw', 'net.ipv4.ip_forward=0']);
    assert.ok(!(await works()));
    hostd = await w.startHostd(host, { stateDir: hostd.stateDir, resyncSeconds: RESYNC_SECONDS });
    await w.httpServer(web, 80, 'web'); // the container starts again in its new namespace
    assert.ok(await works(), 'restored from the store at start');
    assert.equal((await w.exec(host, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim(), '1');
    assert.match((await w.exec(host, ['nft', 'list', 'tables'])).stdout, /table bridge switchyard/);
    assert.match(await qdisc(qr, 'eth0'), /tbf .*rate 20Mbit/);
    assert.match((await w.exec(qr, ['ip', 'route'])).stdout, /10\.80\.0\.0\/16 dev eth0/);
  });

  it('repairs drift made behind its back by the first resync after it', async () => {
    const ep = (await hostd.client.request('GET', `/endpoints/${peer}`)) as Doc;
    await w.exec(host, ['nft', 'flush', 'chain', 'inet', 'switchyard', 'nat-prerouting']);
    await w.ip(host, `link del ${ep.HostIfName}`);
    await oneResync();
    assert.ok(await works(), 'the flushed chain and the deleted veth');
    await w.exec(host, ['nft', 'delete', 'element', 'inet', 'switchyard', 'pm_any', '{', 'tcp', '.', '8080', '}']);
    await oneResync();
    assert.ok(await works(), 'the map element');
  });

  it('restores whole tables, inet and bridge, by the first resync after they were deleted', async () => {
    await w.exec(host, ['nft', 'delete', 'table', 'inet', 'switchyard']);
    await w.exec(host, ['nft', 'delete', 'table', 'bridge', 'switchyard']);
    assert.ok(!(await works()));
    await oneResync();
    assert.ok(await works());
    const spoof = (await w.exec(host, ['nft', 'list', 'set', 'bridge', 'switchyard', 'ep_ok'])).stdout;
    for (const n of [web, peer, qr]) {
      const doc = (await hostd.client.request('GET', `/endpoints/${n}`)) as Doc;
      assert.ok(spoof.includes(doc.IpConfigurations[0]!.IpAddress), `the anti-spoofing element of ${n}`);
    }
  });

  it('restores a verdict map element, QOS qdiscs on both sides and a route in the namespace by the first resync after', async () => {
    const ep = (await hostd.client.request('GET', `/endpoints/${qr}`)) as Doc;
    const bridge = ((await hostd.client.request('GET', '/networks/net')) as Doc).Bridge;
    const fwd = async () => (await w.exec(host, ['nft', 'list', 'map', 'inet', 'switchyard', 'fwd_into_net'])).stdout;
    assert.match(await fwd(), new RegExp(`"${bridge}" : jump`));
    await w.exec(host, ['nft', 'delete', 'element', 'inet', 'switchyard', 'fwd_into_net', '{', `"${bridge}"`, '}']);
    await w.exec(qr, ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
    await w.exec(host, ['tc', 'qdisc', 'del', 'dev', ep.HostIfName, 'root']);
    await w.exec(qr, ['ip', 'route', 'del', '10.80.0.0/16']);
    assert.doesNotMatch(await qdisc(qr, 'eth0'), /tbf/);
    await oneResync();
    assert.match(await fwd(), new RegExp(`"${bridge}" : jump`), 'the isolation of the network (its forward verdict)');
    assert.match(await qdisc(qr, 'eth0'), /tbf .*rate 20Mbit/, 'the egress cap inside the namespace');
    assert.match(await qdisc(host, ep.HostIfName), /tbf .*rate 20Mbit/, 'the ingress cap on the host side');
    assert.match((await w.exec(qr, ['ip', 'route'])).stdout, /10\.80\.0\.0\/16 dev eth0/, 'the route');
  });

  it('never touches objects it did not make', async () => {
    const links = (await run(['ip', '-n', host, '-br', 'link'])).stdout;
    assert.match(links, /foreign0/);
    const other = await w.exec(host, ['nft', 'list', 'table', 'inet', 'other']);
    assert.match(other.stdout, /counter/);
  });

  it('creates 50 endpoints issued at once, with distinct addresses and ports', async () => {
    const names = Array.from({ length: 50 }, (_, i) => w.nsName(`c${i}`));
    const nss = await Promise.all(names.map((n) => hostd.client.request<{ ID: string }>('POST', '/namespaces', { Path: n })));
    const docs = await Promise.all(
      names.map((n, i) =>
        hostd.client.request<Doc>('POST', '/endpoints', {
          Name: n,
          HostComputeNetwork: 'net',
          HostComputeNamespace: nss[i]!.ID,
          Policies: [{ Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 80, ExternalPort: 0 } }],
        }),
      ),
    );
    assert.equal(new Set(docs.map((d) => d.IpConfigurations[0]!.IpAddress)).size, 50);
    assert.equal(new Set(docs.map((d) => d.Policies[0]!.Settings.ExternalPort)).size, 50);
    const links = (await run(['ip', '-n', host, '-br', 'link'])).stdout;
    for (const d of docs) assert.ok(links.includes(d.HostIfName), `veth of ${d.Name}`);
    await Promise.all(docs.map((d) => hostd.client.request('DELETE', `/endpoints/${d.ID}`)));
    await Promise.all(nss.map((n) => hostd.client.request('DELETE', `/namespaces/${n.ID}`)));
    assert.deepEqual(w.leftovers().filter((n) => /-c\d+$/.test(n)), []);
  });

  it('refuses bad requests with a clear error and leaves the kernel as it was', async () => {
    w.spawnIn(host, ['socat', 'TCP-LISTEN:8085,reuseaddr,fork', 'SYSTEM:echo busy']);
    await waitFor('a host process listening on 8085', async () => (await w.exec(host, ['ss', '-Htln'])).stdout.includes(':8085'));
    const before = await kernelSnapshot();
    const cases: [string[], RegExp][] = [
      [['endpoint', 'create', '--network', 'net', '--publish', '8085:80', w.nsName('bad1')], /in use by a process listening/],
      [['endpoint', 'create', '--network', 'net', '--publish', '8080:80', w.nsName('bad2')], /already published/],
      [['endpoint', 'create', '--network', 'net', '--ip', '172.20.0.2', w.nsName('bad3')], /already used/],
      [['endpoint', 'create', '--network', 'net', '--ip', '10.9.9.9', w.nsName('bad4')], /outside the subnet/],
      [['endpoint', 'create', '--network', 'nope', w.nsName('bad5')], /Network "nope" not found/],
      [['endpoint', 'create', '--network', 'net', 'x;reboot'], /not valid/],
      [['network', 'create', '--subnet', '172.20.0.128/25', 'overlap'], /overlaps network "net"/],
      [['network', 'create', '--subnet', '192.0.2.0/25', 'overlap2'], /overlaps the host route/],
      [['network', 'create', '--type', 'bogus', 'x'], /Unknown network Type/],
      [['network', 'create', '--subnet', '172.21.0.0/24', 'net'], /already exists/],
    ];
    for (const [args, re] of cases) {
      const r = await w.cli(hostd, ...args);
      assert.equal(r.code, 1, `${args.join(' ')} must fail`);
      assert.match(r.stderr, re);
    }
    assert.equal(await kernelSnapshot(), before);
    assert.deepEqual(w.leftovers().filter((n) => /-bad\d$/.test(n)), [], 'no namespace left by a refused create');
    const bad = await fetchRaw(hostd.socket, 'POST', '/networks', '{"Name": "x", ');
    assert.equal(bad.status, 400);
    assert.match(bad.body, /not valid JSON/);
  });
});

async function fetchRaw(socketPath: string, method: string, path: string, body: string): Promise<{ status: number; body: string }> {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
