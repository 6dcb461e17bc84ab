/**
 * Crash consistency: hostd is killed (SIGKILL, by itself, through SWITCHYARD_FAULT=crash-at:N) at
 * every step of each operation — before each store write and rename, before each kernel change, at
 * the end of each reconcile pass (src/faults.ts) — and restarted without the fault. After each
 * restart: (a) the stored state and the kernel agree (agreement.ts derives the kernel objects from
 * the API's listing and compares both ways); (b) the interrupted operation either completed (the
 * object is there and works) or left no trace (no record, no kernel object, no adopted namespace;
 * its address and host port can be taken by a new create); (c) a pair of other endpoints keeps
 * working: TCP connections opened at the start (one bridged between them, one through a port
 * mapping from outside) still carry data while hostd is down and after it restarted, and new ones
 * open; (d) at the end, after everything is
 * removed through the API, nothing is left. K, the number of steps of an operation, is learnt by
 * running it once with SWITCHYARD_FAULT=count; every N from 1 to K is walked, for every operation
 * (no sampling: 11 operations, about 70 crash points). Where the reconciler runs two strands side
 * by side (links and ruleset), the Nth step may fall on either; K is the same every run.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { requireRoot, waitFor, World, type Hostd } from './world.js';
import { disagreements, listing, type Listing } from './agreement.js';
import { run } from '../../src/dataplane/run.js';
import { ApiError } from '../../src/cli/client.js';

type Outcome = 'done' | 'none';
interface Op {
  name: string;
  /** Brings the world to the operation's starting point (hostd runs without a fault). */
  prepare(): Promise<void>;
  act(): Promise<unknown>;
  /** Which of the two outcomes the listing shows, or a description of a third one (a failure). */
  outcome(l: Listing): Outcome | string;
  /** Behaviour a user would see for that outcome; returns what is wrong, if anything. */
  works(o: Outcome): Promise<string | undefined>;
}

/** One long-lived TCP connection (socat) to the echo server, fed line by line. */
class Conn {
  private out = '';
  constructor(private readonly proc: ChildProcess) {
    proc.stdout!.on('data', (b: Buffer) => (this.out += b.toString()));
  }
  close(): void {
    for (const s of [this.proc.stdin, this.proc.stdout, this.proc.stderr]) s!.destroy();
  }
  async echo(tag: string): Promise<boolean> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return false;
    this.proc.stdin!.write(`${tag}\n`);
    return waitFor(`echo of ${tag}`, async () => this.out.includes(`${tag}\n`), 5000).then(
      () => true,
      () => false,
    );
  }
}

describe('crash consistency: hostd killed at every step of every operation', () => {
  const w = new World('crash');
  let host: string;
  let outside: string;
  let hostd: Hostd;
  const stateDir = join(w.dir, 'state');
  const ns = (s: string) => w.nsName(s);
  const testNamespaces: string[] = [];
  const conns: Conn[] = [];
  let round = 0;
  const figures: string[] = [];

  const start = async (fault?: string) => {
    hostd = await w.startHostd(host, { stateDir, resyncSeconds: 3600, ...(fault ? { env: { SWITCHYARD_FAULT: fault } } : {}) });
  };
  const restart = async (fault?: string) => {
    await w.stopHostd(hostd, 'SIGKILL');
    await start(fault);
  };
  const arm = () => w.armFault(hostd);
  const api = <T = unknown>(method: string, path: string, body?: unknown) => hostd.client.request<T>(method, path, body);
  const get = async <T>(path: string): Promise<T | undefined> => {
    try {
      return await api<T>('GET', path);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return undefined;
      throw e;
    }
  };
  type Ep = { ID: string; Name: string; NamespacePath?: string; Policies: { Type: string; Settings: Record<string, unknown> }[] };
  const echoNew = async (from: string, to: string) =>
    (await w.exec(from, ['socat', '-T', '3', '-', `TCP:${to}`], { stdin: 'new\n', okExitCodes: [1], timeoutMs: 8000 })).stdout === 'new\n';

  // ---- the objects the operations work on ----
  const pm = (ext: number, int = 80, proto = 6) => ({ Type: 'PortMapping', Settings: { Protocol: proto, InternalPort: int, ExternalPort: ext } });
  const allowHttp = { Type: 'ACL', Settings: { Id: 'http', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: '80', Priority: 100 } };
  const extraAcl = { Type: 'ACL', Settings: { Id: 'extra', Action: 'Block', Direction: 'In', Protocols: '6', LocalPorts: '81', Priority: 50 } };
  const qos = { Type: 'QOS', Settings: { MaximumOutgoingBandwidthInBytes: 5_000_000, MaximumIncomingBandwidthInBytes: 6_000_000 } };
  const overhead = { Type: 'EncapOverhead', Settings: { Overhead: 50 } };
  const route = { Type: 'SDNRoute', Settings: { DestinationPrefix: '198.18.5.0/24', NextHop: '172.31.2.1' } };
  const ep1Body = () => ({
    Name: 'ep1',
    HostComputeNetwork: 'work',
    HostComputeNamespace: `/run/netns/${ns('ep1')}`,
    AdoptNamespace: true,
    IpConfigurations: [{ IpAddress: '172.31.2.50' }],
    Policies: [pm(8081), pm(8082, 80, 17), allowHttp, qos, route],
  });
  const tmpnetBody = { Name: 'tmpnet', Type: 'NAT', Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: '172.31.3.0/24' }] }] };

  const ep1 = () => get<Ep>('/endpoints/ep1');
  const has = (e: Ep | undefined, pred: (p: Ep['Policies'][number]) => boolean) => !!e?.Policies.some(pred);
  const hasPort = (e: Ep | undefined, port: number) => has(e, (p) => p.Type === 'PortMapping' && p.Settings.ExternalPort === port);
  const hasAcl = (e: Ep | undefined, id: string) => has(e, (p) => p.Type === 'ACL' && p.Settings.Id === id);
  const hasQos = (e: Ep | undefined) => has(e, (p) => p.Type === 'QOS');
  const patch = (kind: string, ...policies: unknown[]) => api('PATCH', '/endpoints/ep1', { ResourceType: 'Policy', RequestType: kind, Settings: { Policies: policies } });
  /** ep1 as first created (the starting point of the policy changes and of its delete). */
  const ensureEp1 = async () => {
    const e = await ep1();
    if (!e) return void (await api('POST', '/endpoints', ep1Body()));
    if (hasAcl(e, 'extra')) await patch('Remove', extraAcl);
    if (!hasPort(e, 8081)) await patch('Add', pm(8081));
    if (!hasQos(e)) await patch('Add', qos, route);
    if (has(e, (p) => p.Type === 'EncapOverhead')) await patch('Remove', overhead);
  };
  /** A published port answers `body` (within a bounded wait: the first packet may wait for ARP). */
  const answers = (port: number, body: string) =>
    waitFor(`host port ${port} to answer`, async () => (await w.curl(outside, `http://192.0.2.1:${port}/`, 2)) === body, 8000).then(
      () => true,
      () => false,
    );
  const ep1Served = async () => ((await answers(8081, 'ep1')) ? undefined : 'ep1 does not answer on host port 8081');
  const ep1Gone = async () => {
    // Its address and host port are free: a new endpoint takes them, and goes again.
    try {
      const probe = await api<{ ID: string }>('POST', '/endpoints', { ...ep1Body(), Name: 'probe', HostComputeNamespace: undefined, AdoptNamespace: undefined });
      await api('DELETE', `/endpoints/${probe.ID}`);
    } catch (e) {
      return `the address or host port of ep1 is still taken: ${(e as Error).message}`;
    }
    return undefined;
  };

  const ops: Op[] = [
    {
      name: 'network create',
      prepare: async () => {
        if (await get('/networks/tmpnet')) await api('DELETE', '/networks/tmpnet');
      },
      act: () => api('POST', '/networks', tmpnetBody),
      outcome: (l) => (l.networks.some((n) => n.Name === 'tmpnet') ? 'done' : 'none'),
      // The bridge, its address and its chains are checked by agreement.ts; without a trace, the
      // name and the subnet are free.
      works: async (o) => {
        if (o === 'done') return undefined;
        try {
          await api('POST', '/networks', tmpnetBody);
          await api('DELETE', '/networks/tmpnet');
        } catch (e) {
          return `the name or subnet of tmpnet is still taken: ${(e as Error).message}`;
        }
        return undefined;
      },
    },
    {
      name: 'endpoint create (2 port mappings, ACL, QOS, route; adopted namespace)',
      prepare: async () => {
        if (await ep1()) await api('DELETE', '/endpoints/ep1');
      },
      act: () => api('POST', '/endpoints', ep1Body()),
      outcome: (l) => {
        const e = l.endpoints.find((x) => x.Name === 'ep1');
        const nsKnown = l.namespaces.some((n) => n.Path === `/run/netns/${ns('ep1')}`);
        if (e && nsKnown && e.Policies.length === 5) return 'done';
        if (!e && !nsKnown) return 'none';
        return `endpoint ${e ? `with ${e.Policies.length} policies` : 'absent'}, its adopted namespace ${nsKnown ? 'known' : 'unknown'}`;
      },
      works: (o) => (o === 'done' ? ep1Served() : ep1Gone()),
    },
    {
      name: 'policy modify: add an ACL',
      prepare: ensureEp1,
      act: () => patch('Add', extraAcl),
      outcome: (l) => {
        const e = l.endpoints.find((x) => x.Name === 'ep1') as Ep | undefined;
        return hasAcl(e, 'extra') ? 'done' : hasAcl(e, 'http') ? 'none' : 'ep1 lost its ACLs';
      },
      works: () => ep1Served(),
    },
    {
      name: 'policy modify: remove a port mapping',
      prepare: ensureEp1,
      act: () => patch('Remove', pm(8081)),
      outcome: (l) => {
        const e = l.endpoints.find((x) => x.Name === 'ep1') as Ep | undefined;
        return !e ? 'ep1 is gone' : hasPort(e, 8081) ? 'none' : 'done';
      },
      works: async (o) => {
        if (o === 'none') return ep1Served();
        return (await w.curl(outside, 'http://192.0.2.1:8081/', 1)) === '' ? undefined : 'host port 8081 still answers after its mapping was removed';
      },
    },
    {
      name: 'policy modify: remove QOS and a route',
      prepare: ensureEp1,
      act: () => patch('Remove', qos, route),
      outcome: (l) => {
        const e = l.endpoints.find((x) => x.Name === 'ep1') as Ep | undefined;
        const q = hasQos(e);
        const r = has(e, (p) => p.Type === 'SDNRoute');
        return !e ? 'ep1 is gone' : q && r ? 'none' : !q && !r ? 'done' : `QOS ${q}, route ${r}`;
      },
      works: () => ep1Served(),
    },
    {
      name: 'policy modify: add EncapOverhead (both ends\' MTU)',
      prepare: ensureEp1,
      act: () => patch('Add', overhead),
      outcome: (l) => {
        const e = l.endpoints.find((x) => x.Name === 'ep1') as Ep | undefined;
        return !e ? 'ep1 is gone' : has(e, (p) => p.Type === 'EncapOverhead') ? 'done' : 'none';
      },
      works: () => ep1Served(),
    },
    {
      name: 'attach (adopted namespace)',
      prepare: async () => {
        const e = await get<Ep>('/endpoints/ep2');
        if (!e) await api('POST', '/endpoints', { Name: 'ep2', HostComputeNetwork: 'work', IpConfigurations: [{ IpAddress: '172.31.2.60' }], Policies: [pm(8083)] });
        else if (e.NamespacePath) await api('POST', '/endpoints/ep2/detach');
      },
      act: () => api('POST', '/endpoints/ep2/attach', { NamespaceId: `/run/netns/${ns('ep2')}`, AdoptNamespace: true }),
      outcome: (l) => attachOutcome(l, true),
      works: (o) => ep2Works(o === 'done'),
    },
    {
      name: 'detach (the adopted namespace is forgotten)',
      prepare: async () => {
        const e = await get<Ep>('/endpoints/ep2');
        if (!e) throw new Error('detach starts from the attach test');
        if (!e.NamespacePath) await api('POST', '/endpoints/ep2/attach', { NamespaceId: `/run/netns/${ns('ep2')}`, AdoptNamespace: true });
      },
      act: () => api('POST', '/endpoints/ep2/detach'),
      outcome: (l) => attachOutcome(l, false),
      works: (o) => ep2Works(o === 'none'),
    },
    {
      name: 'endpoint delete',
      prepare: ensureEp1,
      act: () => api('DELETE', '/endpoints/ep1'),
      outcome: (l) => {
        const e = l.endpoints.some((x) => x.Name === 'ep1');
        const nsKnown = l.namespaces.some((n) => n.Path === `/run/netns/${ns('ep1')}`);
        return e && nsKnown ? 'none' : !e && !nsKnown ? 'done' : `endpoint ${e}, adopted namespace known ${nsKnown}`;
      },
      works: (o) => (o === 'none' ? ep1Served() : ep1Gone()),
    },
    {
      name: 'namespace create (hostd makes it)',
      prepare: async () => {
        if (await get(`/namespaces/${ns('own')}`)) await api('DELETE', `/namespaces/${ns('own')}`);
      },
      act: () => api('POST', '/namespaces', { Path: ns('own') }),
      // Without a trace, no namespace of that name exists (agreement.ts: an unlisted one is extra).
      outcome: (l) => (l.namespaces.some((n) => n.Path === `/run/netns/${ns('own')}` && n.Owned) ? 'done' : 'none'),
      works: async () => undefined,
    },
    {
      name: 'namespace delete (hostd made it)',
      prepare: async () => {
        if (!(await get(`/namespaces/${ns('own')}`))) await api('POST', '/namespaces', { Path: ns('own') });
      },
      act: () => api('DELETE', `/namespaces/${ns('own')}`),
      outcome: (l) => (l.namespaces.some((n) => n.Path === `/run/netns/${ns('own')}`) ? 'none' : 'done'),
      works: async () => undefined,
    },
    {
      name: 'network delete (2 endpoints: adopted and owned namespaces)',
      prepare: async () => {
        if (!(await get('/networks/tmpnet'))) await api('POST', '/networks', tmpnetBody);
        if (!(await get('/endpoints/t1'))) {
          await api('POST', '/endpoints', { Name: 't1', HostComputeNetwork: 'tmpnet', HostComputeNamespace: `/run/netns/${ns('t1')}`, AdoptNamespace: true, Policies: [pm(8090), allowHttp] });
        }
        if (!(await get(`/namespaces/${ns('t2')}`))) await api('POST', '/namespaces', { Path: ns('t2') });
        if (!(await get('/endpoints/t2'))) await api('POST', '/endpoints', { Name: 't2', HostComputeNetwork: 'tmpnet', HostComputeNamespace: ns('t2'), Policies: [qos] });
      },
      act: () => api('DELETE', '/networks/tmpnet'),
      outcome: (l) => {
        const present = [l.networks.some((n) => n.Name === 'tmpnet'), l.endpoints.some((e) => e.Name === 't1'), l.endpoints.some((e) => e.Name === 't2'), l.namespaces.some((n) => n.Path === `/run/netns/${ns('t1')}`)];
        return present.every((x) => x) ? 'none' : present.every((x) => !x) ? 'done' : `network, t1, t2, t1's namespace present: ${present.join(', ')}`;
      },
      works: async () => undefined,
    },
  ];

  function attachOutcome(l: Listing, attach: boolean): Outcome | string {
    const e = l.endpoints.find((x) => x.Name === 'ep2');
    const nsKnown = l.namespaces.some((n) => n.Path === `/run/netns/${ns('ep2')}`);
    if (!e) return 'ep2 is gone';
    const attached = !!e.NamespacePath && nsKnown;
    const detached = !e.NamespacePath && !nsKnown;
    if (attached) return attach ? 'done' : 'none';
    if (detached) return attach ? 'none' : 'done';
    return `ep2 attached ${!!e.NamespacePath}, its adopted namespace known ${nsKnown}`;
  }
  async function ep2Works(attached: boolean): Promise<string | undefined> {
    if (attached) return (await answers(8083, 'ep2')) ? undefined : 'ep2 does not answer on host port 8083 while attached';
    if ((await w.curl(outside, 'http://192.0.2.1:8083/', 1)) !== '') return 'host port 8083 answers while ep2 is detached';
    return undefined;
  }

  /** (c): the long-lived connections still carry data, and new ones open. */
  async function pairWorks(): Promise<string | undefined> {
    round++;
    for (const [i, c] of conns.entries()) if (!(await c.echo(`round-${round}-${i}`))) return `long-lived connection ${i} no longer carries data`;
    if (!(await echoNew(ns('kb'), '172.31.1.10:7000'))) return 'a new connection kb -> ka fails';
    if (!(await echoNew(outside, '192.0.2.1:7001'))) return 'a new connection to the published port of ka fails';
    return undefined;
  }

  const check = async (op: Op) => {
    const problems: string[] = [];
    const l = await listing(hostd.client);
    problems.push(...(await disagreements(l, { hostNs: host, stateDir, prefix: w.prefix, testNamespaces })));
    const o = op.outcome(l);
    if (o !== 'done' && o !== 'none') problems.push(`neither completed nor without trace: ${o}`);
    else {
      const bad = await op.works(o);
      if (bad) problems.push(`${o}: ${bad}`);
    }
    const pair = await pairWorks();
    if (pair) problems.push(pair);
    return { outcome: o, problems };
  };

  const stepsIn = (log: string) => [...log.matchAll(/^fault step (\d+): (.*)$/gm)].map((m) => ({ n: Number(m[1]), what: m[2]! }));

  before(async () => {
    requireRoot();
    ({ host, outside } = await w.hostAndOutside());
    for (const s of ['ka', 'kb', 'ep1', 'ep2', 't1']) testNamespaces.push(await w.addNs(s));
    testNamespaces.push(host, outside);
    await start();
    const net = (name: string, prefix: string, dns?: string[]) =>
      api('POST', '/networks', { Name: name, Type: 'NAT', Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: prefix }] }], ...(dns ? { Dns: { ServerList: dns } } : {}) });
    await net('keep', '172.31.1.0/24');
    await net('work', '172.31.2.0/24', ['192.0.2.53']);
    const adopt = (name: string, ip: string, policies: unknown[]) =>
      api('POST', '/endpoints', { Name: name, HostComputeNetwork: 'keep', HostComputeNamespace: `/run/netns/${ns(name)}`, AdoptNamespace: true, IpConfigurations: [{ IpAddress: ip }], Policies: policies });
    await adopt('ka', '172.31.1.10', [pm(7001, 7000), { Type: 'ACL', Settings: { Id: 'echo', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: '7000', Priority: 100 } }]);
    await adopt('kb', '172.31.1.11', [{ Type: 'QOS', Settings: { MaximumOutgoingBandwidthInBytes: 10_000_000 } }]);
    // One process serves every connection (a forking server's children would outlive it).
    w.spawnIn(ns('ka'), [process.execPath, '-e', "require('net').createServer((s) => s.pipe(s)).listen(7000)"]);
    await waitFor('the echo server in ka', () => echoNew(ns('kb'), '172.31.1.10:7000'));
    conns.push(new Conn(w.spawnIn(ns('kb'), ['socat', '-', 'TCP:172.31.1.10:7000'], { stdin: true })));
    conns.push(new Conn(w.spawnIn(outside, ['socat', '-', 'TCP:192.0.2.1:7001'], { stdin: true })));
    await w.httpServer(ns('ep1'), 80, 'ep1');
    await w.httpServer(ns('ep2'), 80, 'ep2');
    assert.equal(await pairWorks(), undefined);
  });

  after(async () => {
    if (figures.length) console.log(`crash walk:\n  ${figures.join('\n  ')}`);
    for (const c of conns) c.close();
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  for (const op of ops) {
    it(`${op.name}: completes or leaves no trace, whatever step hostd dies at`, async () => {
      const t0 = performance.now();
      await op.prepare();
      assert.deepEqual(await disagreements(await listing(hostd.client), { hostNs: host, stateDir, prefix: w.prefix, testNamespaces }), [], 'agreement before the walk');
      // Learn K: the steps of one uninterrupted run.
      await restart('count,on-signal');
      await arm();
      await op.act();
      const k = stepsIn(hostd.log()).length;
      assert.ok(k > 0, 'the operation has steps');
      assert.equal(op.outcome(await listing(hostd.client)), 'done');
      // Each hostd started after a crash is also the next one to crash: the fault waits for SIGUSR2,
      // sent once the world is back at the operation's starting point.
      await restart(`crash-at:1,on-signal`);
      const failures: string[] = [];
      const outcomes = { done: 0, none: 0 };
      for (let n = 1; n <= k; n++) {
        await op.prepare();
        await arm();
        const crashed = hostd;
        const answered = await op.act().then(
          () => true,
          () => false,
        );
        if (crashed.proc.exitCode === null && crashed.proc.signalCode === null) await new Promise((r) => crashed.proc.once('exit', r));
        const at = stepsIn(crashed.log()).find((s) => s.n === n)?.what ?? '(not reached)';
        if (answered || crashed.proc.signalCode !== 'SIGKILL') failures.push(`step ${n} (${at}): hostd answered or did not die (${crashed.proc.signalCode})`);
        // While hostd is down, the established connections carry on.
        round++;
        for (const [i, c] of conns.entries()) if (!(await c.echo(`down-${round}-${i}`))) failures.push(`crash at step ${n} (${at}): connection ${i} stopped while hostd was down`);
        await start(n < k ? `crash-at:${n + 1},on-signal` : undefined);
        const { outcome, problems } = await check(op);
        if (outcome === 'done' || outcome === 'none') outcomes[outcome]++;
        for (const p of problems) failures.push(`crash at step ${n} (${at}): ${p}`);
      }
      figures.push(`${op.name}: ${k} crash points, ${outcomes.done} completed, ${outcomes.none} without trace, ${failures.length} problem(s), ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      assert.deepEqual(failures, []);
    });
  }

  it('leaves nothing behind once everything is removed through the API', async () => {
    for (const n of await api<{ ID: string }[]>('GET', '/networks')) await api('DELETE', `/networks/${n.ID}`);
    for (const n of await api<{ ID: string }[]>('GET', '/namespaces')) await api('DELETE', `/namespaces/${n.ID}`);
    const l = await listing(hostd.client);
    assert.deepEqual(l, { networks: [], endpoints: [], namespaces: [] });
    assert.deepEqual(await disagreements(l, { hostNs: host, stateDir, prefix: w.prefix, testNamespaces }), []);
    const links = (await run(['ip', '-n', host, '-br', 'link'])).stdout;
    assert.doesNotMatch(links, /sy-/);
    for (const n of testNamespaces) {
      const own = n === host || n === outside ? /^(lo|eth0)[\s@]/ : /^lo\s/;
      const inside = (await run(['ip', '-n', n, '-br', 'link'])).stdout.split('\n').filter((x) => x && !own.test(x));
      assert.deepEqual(inside, [], `links left in ${n}`);
    }
    assert.deepEqual(w.leftovers().filter((x) => !testNamespaces.includes(x)), [], 'namespaces hostd made are gone');
    for (const kind of ['networks', 'endpoints', 'namespaces']) assert.deepEqual(readdirSync(join(stateDir, kind)), [], `state files left in ${kind}`);
    assert.ok(!existsSync('/etc/netns') || readdirSync('/etc/netns').every((d) => !d.startsWith(w.prefix)), 'resolv.conf directories are gone');
  });
});
