/**
 * Disk and kernel faults on the real kernel. hostd runs in a private mount namespace with a small
 * tmpfs on its state directory (the machine's mounts are never touched): when that directory is full
 * or read-only, requests that must write fail with SY_STORE naming the problem, and nothing changes,
 * neither the kernel nor the state; reads go on; a write cut short leaves no file that breaks the
 * next start; once the directory is writable again, requests work. Then the kernel commands: with
 * SWITCHYARD_FAULT, each command an operation runs fails in turn (and some hang until run()'s
 * timeout kills them); the request either succeeds (hostd retried) or fails with SY_KERNEL /
 * SY_TIMEOUT and leaves the state and the kernel as they were.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { requireRoot, waitFor, World, type Hostd } from './world.js';
import { disagreements, listing } from './agreement.js';
import { run } from '../../src/dataplane/run.js';
import { ApiError } from '../../src/cli/client.js';

describe('a full or read-only state directory, kernel commands that fail or hang', () => {
  const w = new World('flt');
  let host: string;
  let outside: string;
  let hostd: Hostd;
  let holder: number;
  const stateDir = join(w.dir, 'state');
  /** The state directory as hostd sees it (inside its mount namespace). */
  const seen = () => `/proc/${holder}/root${stateDir}`;
  const inMounts = (...argv: string[]) => run(['nsenter', `--mount=/proc/${holder}/ns/mnt`, '--', ...argv], { okExitCodes: [1] });
  const testNamespaces: string[] = [];
  const start = async (fault?: string) => {
    hostd = await w.startHostd(host, { stateDir, resyncSeconds: 3600, mountNsPid: holder, ...(fault ? { env: { SWITCHYARD_FAULT: fault } } : {}) });
  };
  const restart = async (fault?: string) => {
    await w.stopHostd(hostd, 'SIGKILL');
    await start(fault);
  };
  const arm = () => w.armFault(hostd);
  const api = <T = unknown>(method: string, path: string, body?: unknown) => hostd.client.request<T>(method, path, body);
  /** The error a request gets (or 'ok'). */
  const outcome = (p: Promise<unknown>) =>
    p.then(
      () => 'ok' as const,
      (e: unknown) => {
        if (e instanceof ApiError) return e;
        throw e;
      },
    );
  const agree = async () => disagreements(await listing(hostd.client), { hostNs: host, stateDir: seen(), prefix: w.prefix, testNamespaces });

  /** Everything a request could change: the kernel (hostd's namespace and web's), the records, the files. */
  const snapshot = async () => {
    const strip = (s: string) => s.replace(/@if\d+/g, '');
    const kernel = [
      strip((await run(['ip', '-n', host, '-br', 'addr'])).stdout),
      (await w.exec(host, ['nft', '-s', 'list', 'ruleset'])).stdout,
      (await run(['tc', '-n', host, 'qdisc', 'show'])).stdout,
      strip((await run(['ip', '-n', w.nsName('web'), '-br', 'addr'])).stdout),
      (await run(['ip', '-n', w.nsName('web'), 'route'])).stdout,
      (await run(['tc', '-n', w.nsName('web'), 'qdisc', 'show'])).stdout,
    ];
    const l = await listing(hostd.client);
    const records = JSON.stringify(l, (k, v: unknown) => (k === 'Health' ? undefined : v));
    const files: string[] = [];
    for (const kind of readdirSync(seen()).sort()) {
      if (!statSync(join(seen(), kind)).isDirectory()) continue;
      for (const f of readdirSync(join(seen(), kind)).sort()) files.push(`${kind}/${f} ${readFileSync(join(seen(), kind, f), 'utf8')}`);
    }
    return { kernel, records, files };
  };

  const pm = (ext: number, proto = 6) => ({ Type: 'PortMapping', Settings: { Protocol: proto, InternalPort: 80, ExternalPort: ext } });
  const acl = (id: string, prio: number) => ({ Type: 'ACL', Settings: { Id: id, Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: '80', Priority: prio } });
  const web2 = { Name: 'web2', HostComputeNetwork: 'net', IpConfigurations: [{ IpAddress: '172.30.9.20' }], Policies: [pm(8081)] };
  const works = () => waitFor('web to answer on 8080', async () => (await w.curl(outside, 'http://192.0.2.1:8080/', 2)) === 'web', 8000);

  before(async () => {
    requireRoot();
    ({ host, outside } = await w.hostAndOutside());
    testNamespaces.push(host, outside, await w.addNs('web'), await w.addNs('w3'));
    // A private mount namespace, held by a sleeping process, with a 512 KiB tmpfs on the state directory.
    mkdirSync(stateDir);
    const p = w.spawnProc(['unshare', '-m', '--propagation', 'private', 'sleep', '3600']);
    holder = p.pid!;
    const mountNs = (pid: number | 'self') => {
      try {
        return readlinkSync(`/proc/${pid}/ns/mnt`);
      } catch {
        return undefined;
      }
    };
    await waitFor('the private mount namespace', async () => (mountNs(holder) ?? mountNs('self')) !== mountNs('self'));
    await run(['nsenter', `--mount=/proc/${holder}/ns/mnt`, '--', 'mount', '-t', 'tmpfs', '-o', 'size=512k,mode=0700', 'switchyard-test', stateDir]);
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(stateDir), 'the mount is not in the test\'s own mount namespace');
    await start();
    await api('POST', '/networks', { Name: 'net', Type: 'NAT', Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: '172.30.9.0/24' }] }] });
    await api('POST', '/endpoints', {
      Name: 'web',
      HostComputeNetwork: 'net',
      HostComputeNamespace: `/run/netns/${w.nsName('web')}`,
      AdoptNamespace: true,
      IpConfigurations: [{ IpAddress: '172.30.9.10' }],
      Policies: [pm(8080), acl('http', 100), { Type: 'QOS', Settings: { MaximumOutgoingBandwidthInBytes: 4_000_000 } }],
    });
    await w.httpServer(w.nsName('web'), 80, 'web');
    await works();
  });

  after(async () => {
    await inMounts('mount', '-o', 'remount,rw', stateDir).catch(() => undefined);
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  /** Requests that must write: each fails with SY_STORE and `re`, and changes nothing. */
  const refusedByTheStore = async (re: RegExp, requests: [string, string, unknown?][]) => {
    const before = await snapshot();
    for (const [method, path, body] of requests) {
      const r = await outcome(api(method, path, body));
      assert.ok(r !== 'ok', `${method} ${path} must fail`);
      assert.equal(r.status, 500, `${method} ${path}: ${r.message}`);
      assert.equal(r.code, 'SY_STORE', `${method} ${path}: ${r.message}`);
      assert.match(r.message, re);
      assert.deepEqual(await snapshot(), before, `${method} ${path} changed nothing`);
    }
    // Reads go on.
    assert.equal((await api<unknown[]>('GET', '/networks')).length, 1);
    assert.equal((await api<{ Name: string }>('GET', '/endpoints/web')).Name, 'web');
    assert.equal((await api<{ Status: string }>('GET', '/healthz')).Status, 'ok');
    await works();
  };

  it('a full state directory: requests that write fail with SY_STORE and change nothing; a delete still works', async () => {
    await inMounts('dd', 'if=/dev/zero', `of=${stateDir}/fill`, 'bs=64k');
    await refusedByTheStore(/state directory is full/, [
      ['POST', '/networks', { Name: 'net2', Type: 'NAT' }],
      ['POST', '/endpoints', web2],
      ['POST', '/endpoints', { ...web2, HostComputeNamespace: `/run/netns/${w.nsName('w3')}`, AdoptNamespace: true }],
      ['PATCH', '/endpoints/web', { ResourceType: 'Policy', RequestType: 'Add', Settings: { Policies: [pm(8082)] } }],
      ['POST', '/namespaces', { Path: w.nsName('x') }],
    ]);
    // A write cut short half-way (8 KiB free, a record of ~60 KiB) leaves no file behind.
    await inMounts('truncate', '-s', '-8192', `${stateDir}/fill`);
    const many = Array.from({ length: 400 }, (_, i) => acl(`rule-${i}`, 200 + i));
    await refusedByTheStore(/state directory is full/, [['PATCH', '/endpoints/web', { ResourceType: 'Policy', RequestType: 'Add', Settings: { Policies: many } }]]);
    // A removal needs no space.
    const w2 = await (async () => {
      await inMounts('rm', `${stateDir}/fill`);
      const d = await api<{ ID: string }>('POST', '/endpoints', web2);
      await inMounts('dd', 'if=/dev/zero', `of=${stateDir}/fill`, 'bs=64k');
      return d;
    })();
    await api('DELETE', `/endpoints/${w2.ID}`);
    assert.deepEqual(await agree(), []);
    // Writable again: requests work; a restart finds the store readable.
    await inMounts('rm', `${stateDir}/fill`);
    await api('PATCH', '/endpoints/web', { ResourceType: 'Policy', RequestType: 'Add', Settings: { Policies: many } });
    await api('PATCH', '/endpoints/web', { ResourceType: 'Policy', RequestType: 'Remove', Settings: { Policies: many } });
    await restart();
    assert.deepEqual(await agree(), []);
    await works();
  });

  it('a read-only state directory: every request that writes fails with SY_STORE and changes nothing; hostd starts and serves reads', async () => {
    await inMounts('mount', '-o', 'remount,ro', stateDir);
    const refused: [string, string, unknown?][] = [
      ['POST', '/networks', { Name: 'net2', Type: 'NAT' }],
      ['POST', '/endpoints', web2],
      ['PATCH', '/endpoints/web', { ResourceType: 'Policy', RequestType: 'Add', Settings: { Policies: [pm(8082)] } }],
      ['POST', '/endpoints/web/detach'],
      ['DELETE', '/endpoints/web'],
      ['DELETE', '/networks/net'],
      ['POST', '/namespaces', { Path: w.nsName('x') }],
    ];
    await refusedByTheStore(/state directory is read-only/, refused);
    await restart();
    assert.deepEqual(await agree(), [], 'a start on a read-only directory');
    await refusedByTheStore(/state directory is read-only/, refused.slice(0, 3));
    await inMounts('mount', '-o', 'remount,rw', stateDir);
    const d = await api<{ ID: string }>('POST', '/endpoints', web2);
    await api('DELETE', `/endpoints/${d.ID}`);
    assert.deepEqual(await agree(), []);
  });

  // ---- kernel commands that fail or hang ----

  interface CommandOp {
    name: string;
    prepare(): Promise<void>;
    act(): Promise<unknown>;
    /** The request's effect is there. */
    done(): Promise<boolean>;
  }
  const get = async <T>(path: string): Promise<T | undefined> => {
    const r = await api<T>('GET', path).catch((e: unknown) => (e instanceof ApiError && e.status === 404 ? undefined : Promise.reject(e)));
    return r;
  };
  type Ep = { NamespacePath?: string; Policies: { Type: string; Settings: Record<string, unknown> }[] };
  const patchWeb = (kind: string, policies: unknown[]) => api('PATCH', '/endpoints/web', { ResourceType: 'Policy', RequestType: kind, Settings: { Policies: policies } });
  const extra = [acl('extra', 50), pm(8085), { Type: 'SDNRoute', Settings: { DestinationPrefix: '198.18.9.0/24', NextHop: '172.30.9.1' } }];
  const qosAt = (bytes: number) => ({ Type: 'QOS', Settings: { MaximumOutgoingBandwidthInBytes: bytes } });
  const w3 = () => ({
    Name: 'w3',
    HostComputeNetwork: 'net',
    HostComputeNamespace: `/run/netns/${w.nsName('w3')}`,
    AdoptNamespace: true,
    IpConfigurations: [{ IpAddress: '172.30.9.30' }],
    Policies: [pm(8086), acl('http', 100), { Type: 'QOS', Settings: { MaximumOutgoingBandwidthInBytes: 3_000_000, MaximumIncomingBandwidthInBytes: 3_000_000 } }],
  });
  const commandOps: CommandOp[] = [
    {
      name: 'endpoint create (port mapping, ACL, QOS both ways; adopted namespace)',
      prepare: async () => {
        if (await get('/endpoints/w3')) await api('DELETE', '/endpoints/w3');
      },
      act: () => api('POST', '/endpoints', w3()),
      done: async () => !!(await get('/endpoints/w3')),
    },
    {
      name: 'policy change (ACL, port mapping, route added)',
      prepare: async () => {
        const e = await get<Ep>('/endpoints/web');
        if (e?.Policies.some((p) => p.Settings.Id === 'extra')) await patchWeb('Remove', extra);
      },
      act: () => patchWeb('Add', extra),
      done: async () => !!(await get<Ep>('/endpoints/web'))?.Policies.some((p) => p.Settings.Id === 'extra'),
    },
    {
      name: 'policy change (QOS updated)',
      prepare: async () => void (await patchWeb('Update', [qosAt(4_000_000)])),
      act: () => patchWeb('Update', [qosAt(7_000_000)]),
      done: async () => !!(await get<Ep>('/endpoints/web'))?.Policies.some((p) => p.Type === 'QOS' && p.Settings.MaximumOutgoingBandwidthInBytes === 7_000_000),
    },
    {
      name: 'attach (adopted namespace)',
      prepare: async () => {
        if (await get('/endpoints/w3')) await api('DELETE', '/endpoints/w3');
        const e = await get<Ep>('/endpoints/web2');
        if (!e) await api('POST', '/endpoints', web2);
        else if (e.NamespacePath) await api('POST', '/endpoints/web2/detach');
      },
      act: () => api('POST', '/endpoints/web2/attach', { NamespaceId: `/run/netns/${w.nsName('w3')}`, AdoptNamespace: true }),
      done: async () => !!(await get<Ep>('/endpoints/web2'))?.NamespacePath,
    },
  ];

  /** Runs `op` once with fault `fault` armed; checks "succeeded and is there" or "refused and nothing changed". */
  const underFault = async (op: CommandOp, fault: string, codes: string[]) => {
    await restart(`${fault},on-signal`);
    await op.prepare();
    // A detach in prepare() removes its retired veth's elements a moment later (LATER_NFT_MS in
    // linux.ts): the starting point is the snapshot once it no longer moves (bounded).
    let before = await snapshot();
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 150));
      const again = await snapshot();
      if (JSON.stringify(again) === JSON.stringify(before)) break;
      before = again;
    }
    await arm();
    const r = await outcome(op.act());
    const why = `${op.name} with ${fault}`;
    if (r === 'ok') assert.ok(await op.done(), `${why}: answered but not done`);
    else {
      assert.ok(codes.includes(r.code), `${why}: ${r.code} ${r.message}`);
      assert.ok(r.status >= 500, `${why}: status ${r.status}`);
      assert.deepEqual(await snapshot(), before, `${why}: refused, so nothing changed`);
    }
    assert.deepEqual(await agree(), [], `${why}: the store and the kernel agree`);
    await works();
    return r === 'ok' ? 'ok' : r.code;
  };
  const figures: string[] = [];

  for (const op of commandOps) {
    it(`${op.name}: each kernel command failing in turn is retried or rolled back`, async () => {
      await restart('count,on-signal');
      await op.prepare();
      await arm();
      await op.act();
      const commands = [...hostd.log().matchAll(/^fault command (\w+) (\d+): (.*)$/gm)].map((m) => ({ prog: m[1]!, n: Number(m[2]), argv: m[3]! }));
      assert.ok(commands.length > 0);
      const seen: string[] = [];
      for (const c of commands) seen.push(`${c.prog} ${c.n} (${c.argv.slice(0, 40)}): ${await underFault(op, `fail:${c.prog}:${c.n}`, ['SY_KERNEL'])}`);
      figures.push(`${op.name}: ${commands.length} commands failed in turn: ${seen.join('; ')}`);
    });
  }

  it('endpoint delete: each kernel command failing in turn, the removal still completes', async () => {
    // A removal goes forward, never back: the record goes first, and what the kernel refused is
    // tried again at once with a full pass.
    const op: CommandOp = {
      name: 'endpoint delete',
      prepare: async () => {
        if (!(await get('/endpoints/w3'))) await api('POST', '/endpoints', w3());
      },
      act: () => api('DELETE', '/endpoints/w3'),
      done: async () => !(await get('/endpoints/w3')),
    };
    await restart('count,on-signal');
    await op.prepare();
    await arm();
    await op.act();
    const commands = [...hostd.log().matchAll(/^fault command (\w+) (\d+): /gm)].map((m) => ({ prog: m[1]!, n: Number(m[2]) }));
    assert.ok(commands.length > 0);
    const seen: string[] = [];
    for (const c of commands) {
      const r = await underFault(op, `fail:${c.prog}:${c.n}`, []);
      assert.equal(r, 'ok', `the removal completes with ${c.prog} ${c.n} failing`);
      seen.push(`${c.prog} ${c.n}: ${r}`);
    }
    figures.push(`endpoint delete: ${commands.length} commands failed in turn: ${seen.join('; ')}`);
  });

  it('endpoint create: each kernel command hanging in turn is killed at the timeout, and retried or rolled back', async () => {
    const op = commandOps[0]!;
    await restart('count,on-signal');
    await op.prepare();
    await arm();
    await op.act();
    const commands = [...hostd.log().matchAll(/^fault command (\w+) (\d+): /gm)].map((m) => ({ prog: m[1]!, n: Number(m[2]) }));
    const seen: string[] = [];
    for (const c of commands) seen.push(`${c.prog} ${c.n}: ${await underFault(op, `hang:${c.prog}:${c.n},timeout:1000`, ['SY_TIMEOUT'])}`);
    assert.ok(seen.some((s) => s.endsWith('SY_TIMEOUT')), 'some hang fails the request');
    figures.push(`endpoint create, each command hanging in turn: ${seen.join('; ')}`);
    // The ruleset refused twice (the change, then the whole tables against the kernel's: the inet,
    // bridge and netdev tables read, then written, so the write is the 4th call after): rolled back.
    const nft = commands.filter((c) => c.prog === 'nft').map((c) => c.n);
    assert.equal(await underFault(op, `fail:nft:${nft[0]},fail:nft:${nft[0]! + 4}`, ['SY_KERNEL']), 'SY_KERNEL');
  });

  after(() => {
    if (figures.length) console.log(figures.join('\n'));
  });
});
