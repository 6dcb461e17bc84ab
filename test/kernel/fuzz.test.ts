/**
 * Fuzz tests against a real hostd in a test namespace (property-based, fast-check; the unit tests
 * test/unit/fuzz-*.test.ts run thousands more inputs in-process):
 *  - the host API over hostd's real unix socket: random, spoiled and malformed requests on every
 *    route, and bytes that are not HTTP at all. Property: a 4xx with {Error, Code} (never a 5xx,
 *    never a hang), hostd still running, and for a refusal nothing changed: links, addresses and
 *    routes of the host and of the endpoint's namespace, the whole nft ruleset (counters aside),
 *    /run/netns, /etc/netns and the state directory;
 *  - the CNI plugin, run as a runtime runs it (the installed binary, CNI_* environment, config on
 *    stdin) with random environments and spoiled or malformed configs. Property: exit 0 with a
 *    JSON result, or exit 1 with the spec's error JSON (cniVersion, code, msg) within a bound; a
 *    refusal changes nothing (same snapshot as above).
 * A valid input by chance is counted, and the world is put back to its seed before the next one.
 * SWITCHYARD_FUZZ_KERNEL_RUNS scales both (default 400 API requests, 200 plugin runs).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { run } from '../../src/dataplane/run.js';
import { requireRoot, World, type Hostd } from './world.js';
import { CniHarness } from './cni.js';
import { hostileString, pollutedJson, rawBodies, requestRaw, spoiled } from '../unit/fuzz-inputs.js';
import { hostRequest, seedRequests, type HostRequest, type Paths } from '../unit/fuzz-host-requests.js';

const SCALE = Number(process.env.SWITCHYARD_FUZZ_KERNEL_RUNS ?? 400);
const API_RUNS = SCALE;
const CNI_RUNS = Math.round(SCALE / 2);
const HANG_MS = 30_000;

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

describe('fuzz against a real hostd', () => {
  const w = new World('fz');
  let host: string;
  let hostd: Hostd;
  let paths: Paths;

  before(async () => {
    requireRoot();
    ({ host } = await w.hostAndOutside());
    hostd = await w.startHostd(host, { resyncSeconds: 3600 });
    paths = { nsA: `/run/netns/${w.nsName('a')}`, nsB: `/run/netns/${w.nsName('b')}`, fresh: `/run/netns/${w.nsName('fresh')}` };
  });
  after(async () => {
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  const alive = () => hostd.proc.exitCode === null && hostd.proc.signalCode === null;

  /** Everything a request could change, as text. */
  async function world(): Promise<Record<string, string>> {
    const addrs = async (ns: string) => {
      const res = await run(['ip', '-n', ns, '-j', 'addr', 'show'], { okExitCodes: [1, 255] });
      if (res.exitCode) return `(no namespace ${ns})`;
      type L = { ifname: string; master?: string; address?: string; addr_info?: { family: string; local: string; prefixlen: number }[] };
      // IPv4 only: the kernel adds IPv6 link-local addresses to new links on its own time
      const v4 = (l: L) => (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
      return (JSON.parse(res.stdout) as L[]).map((l) => `${l.ifname} ${l.master ?? ''} ${l.address ?? ''} ${v4(l).join(',')}`).join('\n');
    };
    const routes = (ns: string) => run(['ip', '-n', ns, '-4', 'route', 'show', 'table', 'all'], { okExitCodes: [1, 255] }).then((r) => r.stdout);
    const [hostLinks, hostRoutes, innerLinks, innerRoutes, nft] = await Promise.all([
      addrs(host),
      routes(host),
      addrs(paths.nsA.replace('/run/netns/', '')),
      routes(paths.nsA.replace('/run/netns/', '')),
      run(['nsenter', `--net=/run/netns/${host}`, 'nft', 'list', 'ruleset']).then((r) => r.stdout.replace(/counter packets \d+ bytes \d+/g, 'counter')),
    ]);
    const files: string[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d).sort()) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(`${relative(hostd.stateDir, p)}: ${readFileSync(p, 'utf8')}`);
      }
    };
    walk(hostd.stateDir);
    // other tests on this machine make namespaces meanwhile: only ours count here (see strayNamespaces)
    const ours = (d: string) => list(d).filter((n) => n.startsWith(`${w.prefix}-`)).join(' ');
    return { hostLinks, hostRoutes, innerLinks, innerRoutes, nft, netns: ours('/run/netns'), etcNetns: ours('/etc/netns'), store: files.join('\n') };
  }

  const list = (d: string) => {
    try {
      return readdirSync(d).sort();
    } catch {
      return [];
    }
  };
  /** Namespaces (or /etc/netns entries) that appeared since `before` and that `input` named: made by the request. */
  const strayNamespaces = (before: string[][], input: string) =>
    [list('/run/netns'), list('/etc/netns')].flatMap((now, i) => now.filter((n) => !before[i]!.includes(n) && input.includes(n)));
  const namespaceLists = () => [list('/run/netns'), list('/etc/netns')];

  /** Removes every object hostd holds and makes the seed again. */
  async function reseed(): Promise<void> {
    const c = hostd.client;
    for (const n of await c.request<{ ID: string }[]>('GET', '/networks')) await c.request('DELETE', `/networks/${n.ID}`);
    for (const n of await c.request<{ ID: string }[]>('GET', '/namespaces')) await c.request('DELETE', `/namespaces/${n.ID}`);
    for (const [method, path, body] of seedRequests(paths)) await c.request(method, path, body);
  }

  function send(r: HostRequest): Promise<{ status: number; text: string }> {
    return requestRaw(hostd.socket, r.method, r.url, r.body, HANG_MS, 'application/json');
  }

  /** Raw bytes on the socket; resolves with what came back when hostd closes (bounded). */
  function sendRaw(bytes: Buffer): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = connect(hostd.socket);
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`hostd kept a connection open ${HANG_MS} ms after raw bytes`));
      }, HANG_MS);
      s.on('data', (b: Buffer) => chunks.push(b));
      s.on('error', () => undefined); // a reset is a fine way to refuse garbage
      s.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
      s.end(bytes);
    });
  }

  const RAW_HTTP = [
    'GARBAGE\r\n\r\n',
    'GET / HTTP/9.9\r\n\r\n',
    'GET /networks HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
    'POST /networks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"Name":',
    'POST /networks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    `GET /networks HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`,
    'GET /networks HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    'GET /\u0000 HTTP/1.1\r\n\r\n',
    '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003',
  ];

  it(`host API over the unix socket: ${API_RUNS} random and malformed requests`, async (t) => {
    await reseed();
    let baseline = await world();
    const seen = { refused: 0, succeeded: 0, raw: 0 };
    const input = fc.oneof({ weight: 30, arbitrary: hostRequest(paths).map((r) => ({ r })) }, { weight: 1, arbitrary: fc.constantFrom(...RAW_HTTP).map((raw) => ({ raw })) });
    await fc.assert(
      fc.asyncProperty(input, async (x) => {
        if ('raw' in x) {
          seen.raw++;
          const answer = await sendRaw(Buffer.from(x.raw, 'latin1'));
          assert.doesNotMatch(answer, /^HTTP\/1\.1 5/, `raw ${JSON.stringify(x.raw.slice(0, 80))} → ${answer.slice(0, 200)}`);
          assert.ok(alive(), `hostd died on raw ${JSON.stringify(x.raw.slice(0, 80))}`);
          assert.deepEqual(await world(), baseline, `raw ${JSON.stringify(x.raw.slice(0, 80))} changed the world`);
          return;
        }
        const r = x.r;
        const what = `${r.method} ${r.url.slice(0, 200)} (${r.body?.what ?? 'no body'}) ${String(r.body?.body ?? '').slice(0, 300)}`;
        const namespacesBefore = namespaceLists();
        const res = await send(r);
        assert.ok(alive(), `hostd died on ${what}: ${w.daemonLogs().slice(-2000)}`);
        assert.ok(res.status < 500, `${what} → ${res.status} ${res.text.slice(0, 500)}`);
        if (res.status >= 400) {
          seen.refused++;
          const body = JSON.parse(res.text) as { Error?: unknown; Code?: unknown };
          assert.ok(typeof body.Error === 'string' && body.Error.length > 0, `${what}: ${res.text.slice(0, 300)}`);
          assert.match(String(body.Code), /^SY_[A-Z_]+$/);
          assert.deepEqual(await world(), baseline, `${what} was refused (${String(body.Code)}: ${String(body.Error).slice(0, 200)}) but changed the world`);
          assert.deepEqual(strayNamespaces(namespacesBefore, `${r.url} ${safeDecode(r.url)} ${String(r.body?.body ?? '')}`), [], `${what} was refused but made a namespace`);
        } else if (r.mutating) {
          seen.succeeded++;
          await reseed();
          baseline = await world();
        } else {
          assert.deepEqual(await world(), baseline, `${what} (${res.status}) changed the world`);
        }
      }),
      { numRuns: API_RUNS, includeErrorInReport: true },
    );
    t.diagnostic(`fuzz host API (real hostd, unix socket): ${API_RUNS} inputs, ${seen.refused} refused (4xx), ${seen.raw} raw non-HTTP byte strings, ${seen.succeeded} valid by chance (world re-seeded)`);
  });

  it(`CNI plugin as a runtime runs it: ${CNI_RUNS} random environments and configs`, async (t) => {
    const cni = new CniHarness(w, host);
    const seedNs = await cni.container('c1');
    const freeNs = await cni.container('c2');
    const conf = {
      cniVersion: '1.1.0',
      name: 'fuzznet',
      type: 'switchyard',
      mode: 'nat',
      subnet: '10.88.0.0/16',
      gateway: '10.88.0.1',
      mtu: 1400,
      timeout: 20,
      socket: hostd.socket,
      capabilities: { portMappings: true, bandwidth: true, ipRanges: true, dns: true },
      dns: { nameservers: ['192.0.2.53'], search: ['corp.example'], domain: 'corp.example', options: ['ndots:2'] },
      AdditionalArgs: [{ Name: 'EndpointPolicy', Value: { Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 81, ExternalPort: 9181 } } }],
      runtimeConfig: {
        portMappings: [{ hostPort: 9180, containerPort: 80, protocol: 'tcp', hostIP: '192.0.2.1' }],
        bandwidth: { ingressRate: 8_000_000, ingressBurst: 65536, egressRate: 8_000_000, egressBurst: 65536 },
        ipRanges: [[{ subnet: '10.88.0.0/16', rangeStart: '10.88.5.1', rangeEnd: '10.88.5.200', gateway: '10.88.0.1' }]],
        dns: { nameservers: ['192.0.2.54'], search: ['b.example'] },
        ips: ['10.88.9.9'],
      },
      prevResult: { cniVersion: '1.1.0', interfaces: [{ name: 'eth0', sandbox: freeNs }], ips: [{ address: '10.88.9.9/16', gateway: '10.88.0.1', interface: 0 }] },
      'cni.dev/valid-attachments': [{ containerID: 'seed-1', ifname: 'eth0' }],
    };
    const seedConf = { cniVersion: '1.1.0', name: 'fuzznet', type: 'switchyard', mode: 'nat', subnet: '10.88.0.0/16', socket: hostd.socket };
    const seedCni = async () => {
      const c = hostd.client;
      for (const n of await c.request<{ ID: string }[]>('GET', '/networks')) await c.request('DELETE', `/networks/${n.ID}`);
      for (const n of await c.request<{ ID: string }[]>('GET', '/namespaces')) await c.request('DELETE', `/namespaces/${n.ID}`);
      const r = await cni.call({ command: 'ADD', containerId: 'seed-1', netns: seedNs, conf: seedConf });
      assert.equal(r.exit, 0, r.stdout);
    };
    await seedCni();
    let baseline = await world();

    // env values cannot hold NUL: execve cuts them there
    const envString = hostileString.map((s) => s.replace(/\0/g, ''));
    // mostly a runtime's environment with one thing wrong, so that inputs reach hostd
    const odd = fc.oneof(envString, fc.constant(undefined));
    const env = fc.record({
      CNI_COMMAND: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('ADD', 'ADD', 'ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC') }, fc.constantFrom('', 'add', 'ADD ', 'FOO', 'ADD\n'), odd),
      CNI_CONTAINERID: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('seed-1', 'fuzz-1') }, odd),
      CNI_NETNS: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(freeNs, freeNs, seedNs, '/run/netns/does-not-exist-here') }, odd),
      CNI_IFNAME: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('eth0', 'eth1') }, odd),
      CNI_ARGS: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom('', 'IP=10.88.0.77', 'IgnoreUnknown=1;K8S_POD_NAME=x;K8S_POD_NAMESPACE=y') },
        envString.map((s) => `IP=${s}`),
        envString.map((s) => `K8S_POD_NAME=${s}`),
        odd,
      ),
      CNI_PATH: fc.oneof({ weight: 6, arbitrary: fc.constant(cni.cniPath) }, odd),
    });
    const stdin = fc.oneof(
      { weight: 6, arbitrary: spoiled([conf]).map((d) => JSON.stringify(d) ?? '') },
      { weight: 1, arbitrary: pollutedJson.map((d) => JSON.stringify(d) ?? '') },
      { weight: 2, arbitrary: rawBodies([conf]).map((b) => (typeof b.body === 'string' ? b.body : b.body.toString('latin1'))) },
    );
    const seen = { refused: 0, answered: 0, succeeded: 0, codes: new Map<number, number>() };
    await fc.assert(
      fc.asyncProperty(env, stdin, async (e, input) => {
        const what = `${JSON.stringify(e).slice(0, 400)} stdin ${input.slice(0, 300)}`;
        const namespacesBefore = namespaceLists();
        const res = await cni.call({ command: e.CNI_COMMAND ?? '', conf: undefined, stdin: input, env: { ...e, CNI_COMMAND: e.CNI_COMMAND } });
        assert.ok(alive(), `hostd died on ${what}`);
        if (res.exit !== 0) {
          seen.refused++;
          assert.equal(res.exit, 1, `${what}: exit ${res.exit}`);
          const err = res.json as { cniVersion?: unknown; code?: unknown; msg?: unknown } | undefined;
          assert.ok(err, `${what}: the error is JSON on stdout: ${res.stdout.slice(0, 300)} ${res.stderr.slice(0, 300)}`);
          assert.equal(typeof err.cniVersion, 'string', what);
          assert.ok(Number.isInteger(err.code) && ([1, 2, 3, 4, 5, 6, 7, 11, 50, 51].includes(err.code as number) || (err.code as number) >= 100), `${what}: code ${String(err.code)}`);
          assert.ok(typeof err.msg === 'string' && err.msg.length > 0, `${what}: msg`);
          seen.codes.set(err.code as number, (seen.codes.get(err.code as number) ?? 0) + 1);
          // code 5 (I/O failure) is what the plugin answers for anything it did not foresee (a
          // TypeError): hostd and its socket are up, so here it can only be that
          assert.notEqual(err.code, 5, `${what}: an unforeseen error: ${String(err.msg)}`);
          assert.deepEqual(await world(), baseline, `${what} was refused (code ${String(err.code)}: ${String(err.msg).slice(0, 200)}) but changed the world`);
          assert.deepEqual(strayNamespaces(namespacesBefore, `${JSON.stringify(e)} ${input}`), [], `${what} was refused but made a namespace`);
          return;
        }
        if (res.stdout.trim()) assert.ok(res.json, `${what}: success prints JSON: ${res.stdout.slice(0, 300)}`);
        const now = await world();
        if (JSON.stringify(now) === JSON.stringify(baseline)) {
          seen.answered++;
          return;
        }
        seen.succeeded++;
        await seedCni();
        baseline = await world();
      }),
      { numRuns: CNI_RUNS, includeErrorInReport: true },
    );
    const codes = [...seen.codes].sort(([a], [b]) => a - b).map(([c, n]) => `${c}×${n}`).join(' ');
    t.diagnostic(`fuzz CNI plugin (real binary, real hostd): ${CNI_RUNS} inputs, ${seen.refused} refused with a CNI error (codes ${codes}), ${seen.answered} answered without change, ${seen.succeeded} valid by chance (world re-seeded)`);
  });
});
