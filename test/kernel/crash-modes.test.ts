/**
 * Crash consistency of the uplink modes (issue 13): hostd, on a host whose eth1 is a port of a fabric
 * bridge with a router on it, is killed (SWITCHYARD_FAULT=crash-at:N) at every step of network
 * create, endpoint create, endpoint delete and network delete (with an endpoint) of a Transparent,
 * an L2Bridge and an L2Tunnel network, and restarted without the fault. After each restart: the state
 * and the kernel agree (agreement.ts, which derives the sy-sw bridge, its adapter port, the bridge
 * table's sw-* chains and ep_by_ip elements and the netdev table's up-* chains); the operation
 * either completed (an endpoint reaches the router) or left no trace; and the host keeps its address
 * and default route, on eth1 while no network holds it and on the sy-sw bridge while one does, and
 * reaches the router. Where no network exists, eth1's addresses and the host's routes are exactly
 * those it had before the test. K is learnt with SWITCHYARD_FAULT=count. L2Bridge is walked at every
 * step; Transparent and L2Tunnel at a sample of steps (first, last and every other one) unless
 * CRASH_MODES_ALL=1, to keep the file near two minutes on a 2-core machine. An Overlay network (no
 * adapter taken: the host's address stays on eth1) is walked at every step too, with the create and
 * delete of a remote endpoint, whose FDB and neighbour entries agreement.ts derives from the listing
 * (CRASH_MODES_ONLY=Overlay walks it alone).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { requireRoot, World, type Hostd } from './world.js';
import { disagreements, listing, type Listing } from './agreement.js';
import { run } from '../../src/dataplane/run.js';
import { ApiError } from '../../src/cli/client.js';

type Outcome = 'done' | 'none';
interface Op {
  name: string;
  prepare(): Promise<void>;
  act(): Promise<unknown>;
  outcome(l: Listing): Outcome | string;
  works(o: Outcome): Promise<string | undefined>;
}

interface IpAddrJson {
  ifname: string;
  master?: string;
  flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string; broadcast?: string; tentative?: boolean }[];
}

const MODES = ['L2Bridge', 'Transparent', 'L2Tunnel', 'Overlay'] as const;

describe('uplink modes: hostd killed at every step, the host keeps its address', () => {
  const w = new World('cmod');
  let host: string;
  let hostd: Hostd;
  const stateDir = join(w.dir, 'state');
  const ns = (s: string) => w.nsName(s);
  const testNamespaces: string[] = [];
  const figures: string[] = [];
  let original: { addr: string; routes: string };

  const start = async (fault?: string) => {
    hostd = await w.startHostd(host, { stateDir, resyncSeconds: 3600, ...(fault ? { env: { SWITCHYARD_FAULT: fault } } : {}) });
  };
  const restart = async (fault?: string) => {
    await w.stopHostd(hostd, 'SIGKILL');
    await start(fault);
  };
  const api = <T = unknown>(method: string, path: string, body?: unknown) => hostd.client.request<T>(method, path, body);
  const get = async <T>(path: string): Promise<T | undefined> => {
    try {
      return await api<T>('GET', path);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return undefined;
      throw e;
    }
  };
  const ping = async (from: string, to: string) => (await w.exec(from, ['busybox', 'ping', '-c', '1', '-W', '2', to], { okExitCodes: [1] })).exitCode === 0;

  /** eth1's addresses (ip -j addr) and the host's routes (ip -j route), the device names kept. */
  const addressing = async () => {
    const l = JSON.parse((await run(['ip', '-n', host, '-j', 'addr', 'show', 'dev', 'eth1'])).stdout)[0] as IpAddrJson;
    // "tentative" is IPv6 duplicate address detection still running on the link-local address, not ours
    const addrs = l.addr_info?.map(({ tentative: _, ...a }) => a);
    return { addr: JSON.stringify({ flags: l.flags, master: l.master, addr_info: addrs }), routes: (await run(['ip', '-n', host, '-j', 'route', 'show'])).stdout.trim() };
  };

  /** The host's address and default route are on eth1 (no network) or on the network's switch, and it reaches the router. */
  const hostKeepsItsAddress = async (l: Listing): Promise<string[]> => {
    const out: string[] = [];
    const net = l.networks.find((n) => n.Name === 'net');
    // An overlay network leaves the adapter alone: its traffic is VXLAN from the host's address.
    const holder = net && net.Type !== 'Overlay' ? net.Bridge : 'eth1';
    const links = JSON.parse((await run(['ip', '-n', host, '-j', 'addr', 'show'])).stdout) as IpAddrJson[];
    const v4 = (name: string) => (links.find((x) => x.ifname === name)?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
    if (JSON.stringify(v4(holder)) !== '["10.0.0.11/24"]') out.push(`${holder} holds ${JSON.stringify(v4(holder))}, want the host's 10.0.0.11/24`);
    const def = (await run(['ip', '-n', host, 'route', 'show', 'default'])).stdout.trim();
    if (def !== `default via 10.0.0.1 dev ${holder}`) out.push(`default route "${def}", want via 10.0.0.1 dev ${holder}`);
    if (!(await ping(host, '10.0.0.1'))) out.push('the host does not reach the router');
    if (holder === 'eth1') {
      const now = await addressing();
      if (now.addr !== original.addr) out.push(`eth1 is not as it was: ${now.addr}, want ${original.addr}`);
      if (now.routes !== original.routes) out.push(`the host's routes are not as they were: ${now.routes}, want ${original.routes}`);
    }
    return out;
  };

  const adapterPolicy = { Type: 'NetAdapterName', Settings: { NetworkAdapterName: 'eth1' } };
  const netBody = (type: string) =>
    type === 'Overlay'
      ? {
          Name: 'net',
          Type: type,
          Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: '10.0.0.11' } }],
          // two subnets with a VSID each: two VXLAN ports on the network's bridge
          Ipams: [{ Type: 'Static', Subnets: ['10.1.0.0/24', '10.1.1.0/24'].map((p, i) => ({ IpAddressPrefix: p, Policies: [{ Type: 'VSID', Settings: { IsolationId: 4096 + i } }] })) }],
        }
      : {
          Name: 'net',
          Type: type,
          Policies: [adapterPolicy],
          Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: '10.0.0.0/24', Routes: [{ NextHop: '10.0.0.1', DestinationPrefix: '0.0.0.0/0' }] }] }],
        };
  /** An overlay's endpoint sits on its second subnet (its gateway is the network's second address). */
  const epIp = (type: string) => (type === 'Overlay' ? '10.1.1.50' : '10.0.0.50');
  const epBody = (name = 'ep1', type = '') => ({
    Name: name,
    HostComputeNetwork: 'net',
    ...(name === 'ep1' ? { HostComputeNamespace: `/run/netns/${ns('ep1')}`, AdoptNamespace: true } : {}),
    IpConfigurations: [{ IpAddress: epIp(type), PrefixLength: 24 }],
  });
  /** A remote endpoint of an overlay network: behind another host's PA. */
  const remoteBody = (name = 'r1') => ({
    Name: name,
    HostComputeNetwork: 'net',
    Flags: 1,
    IpConfigurations: [{ IpAddress: '10.1.0.60', PrefixLength: 24 }],
    MacAddress: '02:00:00:00:00:60',
    Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: '10.0.0.12' } }],
  });
  const epKnown = (l: Listing) => [l.endpoints.some((e) => e.Name === 'ep1'), l.namespaces.some((n) => n.Path === `/run/netns/${ns('ep1')}`)];
  let served = '10.0.0.1';
  const epServed = async () => ((await ping(ns('ep1'), served)) ? undefined : `ep1 does not reach ${served}`);
  /** Its name and address (and for a remote one its MAC) are free: a new endpoint takes them, and goes again. */
  const epGone = async (type = '', remote = false) => {
    try {
      const probe = await api<{ ID: string }>('POST', '/endpoints', remote ? remoteBody('probe') : epBody('probe', type));
      await api('DELETE', `/endpoints/${probe.ID}`);
    } catch (e) {
      return `the address of ep1 is still taken: ${(e as Error).message}`;
    }
    return undefined;
  };
  const ensureNet = async (type: string) => {
    const n = await get<{ Type: string }>('/networks/net');
    if (n && n.Type !== type) await api('DELETE', '/networks/net');
    if (!n || n.Type !== type) await api('POST', '/networks', netBody(type));
    served = type === 'Overlay' ? '10.1.1.1' : '10.0.0.1';
  };
  const ensureEp = async (type: string) => {
    await ensureNet(type);
    if (!(await get('/endpoints/ep1'))) await api('POST', '/endpoints', epBody('ep1', type));
  };
  const remoteKnown = (l: Listing) => l.endpoints.some((e) => e.Name === 'r1');
  /** Overlay only: a remote endpoint's create and delete (its FDB and neighbour entries: agreement.ts). */
  const remoteOps: Op[] = [
    {
      name: 'Overlay remote endpoint create',
      prepare: async () => {
        await ensureEp('Overlay');
        if (await get('/endpoints/r1')) await api('DELETE', '/endpoints/r1');
      },
      act: () => api('POST', '/endpoints', remoteBody()),
      outcome: (l) => (remoteKnown(l) ? 'done' : 'none'),
      works: (o) => (o === 'done' ? epServed() : epGone('Overlay', true)),
    },
    {
      name: 'Overlay remote endpoint delete',
      prepare: async () => {
        await ensureEp('Overlay');
        if (!(await get('/endpoints/r1'))) await api('POST', '/endpoints', remoteBody());
      },
      act: () => api('DELETE', '/endpoints/r1'),
      outcome: (l) => (remoteKnown(l) ? 'none' : 'done'),
      works: (o) => (o === 'none' ? epServed() : epGone('Overlay', true)),
    },
  ];

  const opsOf = (type: string): Op[] => [
    {
      name: `${type} network create`,
      prepare: async () => {
        if (await get('/networks/net')) await api('DELETE', '/networks/net');
      },
      act: () => api('POST', '/networks', netBody(type)),
      outcome: (l) => (l.networks.some((n) => n.Name === 'net') ? 'done' : 'none'),
      works: async () => undefined,
    },
    {
      name: `${type} endpoint create (adopted namespace)`,
      prepare: async () => {
        await ensureNet(type);
        if (await get('/endpoints/ep1')) await api('DELETE', '/endpoints/ep1');
      },
      act: () => api('POST', '/endpoints', epBody('ep1', type)),
      outcome: (l) => {
        const [e, n] = epKnown(l);
        return e && n ? 'done' : !e && !n ? 'none' : `endpoint ${e}, its adopted namespace known ${n}`;
      },
      works: (o) => (o === 'done' ? epServed() : epGone(type)),
    },
    {
      name: `${type} endpoint delete`,
      prepare: () => ensureEp(type),
      act: () => api('DELETE', '/endpoints/ep1'),
      outcome: (l) => {
        const [e, n] = epKnown(l);
        return e && n ? 'none' : !e && !n ? 'done' : `endpoint ${e}, its adopted namespace known ${n}`;
      },
      works: (o) => (o === 'none' ? epServed() : epGone(type)),
    },
    ...(type === 'Overlay' ? remoteOps : []),
    {
      name: `${type} network delete (with an endpoint)`,
      prepare: () => ensureEp(type),
      act: () => api('DELETE', '/networks/net'),
      outcome: (l) => {
        const present = [l.networks.some((n) => n.Name === 'net'), ...epKnown(l)];
        return present.every((x) => x) ? 'none' : present.every((x) => !x) ? 'done' : `network, ep1, its namespace present: ${present.join(', ')}`;
      },
      works: (o) => (o === 'none' ? epServed() : Promise.resolve(undefined)),
    },
  ];

  const check = async (op: Op) => {
    const problems: string[] = [];
    const l = await listing(hostd.client);
    problems.push(...(await disagreements(l, { hostNs: host, stateDir, prefix: w.prefix, testNamespaces })));
    problems.push(...(await hostKeepsItsAddress(l)));
    const o = op.outcome(l);
    if (o !== 'done' && o !== 'none') problems.push(`neither completed nor without trace: ${o}`);
    else {
      const bad = await op.works(o);
      if (bad) problems.push(`${o}: ${bad}`);
    }
    return { outcome: o, problems };
  };
  const stepsIn = (log: string) => [...log.matchAll(/^fault step (\d+): (.*)$/gm)].map((m) => ({ n: Number(m[1]), what: m[2]! }));

  before(async () => {
    requireRoot();
    const fabric = await w.addNs('fab');
    const router = await w.addNs('rtr');
    host = await w.addNs('h1');
    testNamespaces.push(fabric, router, host, await w.addNs('ep1'));
    await w.ip(fabric, 'link add fab0 type bridge', 'link set fab0 up');
    await w.ip(fabric, `link add fab-rtr type veth peer name eth1 netns ${router}`, 'link set fab-rtr master fab0 up');
    await w.ip(router, 'addr add 10.0.0.1/24 dev eth1', 'link set eth1 up');
    await w.ip(fabric, `link add fab-h1 type veth peer name eth1 netns ${host}`, 'link set fab-h1 master fab0 up');
    await w.ip(host, 'addr add 10.0.0.11/24 dev eth1', 'link set eth1 up', 'route add default via 10.0.0.1 dev eth1', 'route add 198.18.7.0/24 via 10.0.0.1 dev eth1 metric 50');
    original = await addressing();
    await start();
    assert.ok(await ping(host, '10.0.0.1'), 'the host reaches the router before the test');
  });

  after(async () => {
    if (figures.length) console.log(`crash walk (uplink modes):\n  ${figures.join('\n  ')}`);
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  const only = process.env.CRASH_MODES_ONLY;
  for (const type of MODES.filter((m) => !only || m === only)) {
    for (const op of opsOf(type)) {
      it(`${op.name}: completes or leaves no trace, the host keeps its address, whatever step hostd dies at`, async () => {
        const t0 = performance.now();
        await op.prepare();
        const l0 = await listing(hostd.client);
        assert.deepEqual([...(await disagreements(l0, { hostNs: host, stateDir, prefix: w.prefix, testNamespaces })), ...(await hostKeepsItsAddress(l0))], [], 'agreement before the walk');
        await restart('count,on-signal');
        await w.armFault(hostd);
        await op.act();
        const k = stepsIn(hostd.log()).length;
        if (process.env.CRASH_MODES_VERBOSE) console.error(`${op.name}: steps ${stepsIn(hostd.log()).map((s) => s.what).join(', ')}`);
        assert.ok(k > 0, 'the operation has steps');
        assert.equal(op.outcome(await listing(hostd.client)), 'done');
        const all = type === 'L2Bridge' || type === 'Overlay' || process.env.CRASH_MODES_ALL === '1';
        const points = Array.from({ length: k }, (_, i) => i + 1).filter((n) => all || n === 1 || n === k || n % 2 === 0);
        await restart(`crash-at:${points[0]},on-signal`);
        const failures: string[] = [];
        const outcomes = { done: 0, none: 0 };
        let ended = 0;
        for (const [i, n] of points.entries()) {
          await op.prepare();
          await w.armFault(hostd);
          const crashed = hostd;
          const answered = await op.act().then(
            () => true,
            () => false,
          );
          // A step may come after the answer (the reconciler's strands run on): bounded wait for it.
          const exited = crashed.proc.exitCode !== null || crashed.proc.signalCode !== null || (await Promise.race([new Promise((r) => crashed.proc.once('exit', () => r(true))), new Promise((r) => setTimeout(() => r(false), 5000))]));
          const at = stepsIn(crashed.log()).find((s) => s.n === n)?.what ?? '(not reached)';
          if (!exited) {
            // The count run's hostd was the first to make a network since its start (ip_forward and
            // the FORWARD accept were its to do); a later one has fewer steps, and this one ended.
            await w.stopHostd(crashed, 'SIGKILL');
            if (!answered) failures.push(`step ${n}: neither answered nor reached within 5 s`);
            await start();
            const { outcome, problems } = await check(op);
            for (const p of problems) failures.push(`after the last step (${n - 1}): ${p}`);
            if (outcome !== 'done') failures.push(`after the last step (${n - 1}): ${outcome}`);
            ended = n - 1;
            break;
          }
          if (process.env.CRASH_MODES_VERBOSE) console.error(`${op.name}: crash at ${n}/${k} (${at})`);
          if (exited && crashed.proc.signalCode !== 'SIGKILL') failures.push(`step ${n} (${at}): hostd did not die by the fault (${crashed.proc.signalCode}, answered ${answered})`);
          // While hostd is down the host must still have its address somewhere that works.
          if (!(await ping(host, '10.0.0.1'))) failures.push(`crash at step ${n} (${at}): the host does not reach the router while hostd is down`);
          const next = points[i + 1];
          await start(next ? `crash-at:${next},on-signal` : undefined);
          const { outcome, problems } = await check(op);
          if (outcome === 'done' || outcome === 'none') outcomes[outcome]++;
          for (const p of problems) failures.push(`crash at step ${n} (${at}): ${p}`);
        }
        figures.push(`${op.name}: ${k} crash points${ended ? ` (${ended} after a restart)` : ''}, ${ended ? points.filter((p) => p <= ended).length : points.length} walked, ${outcomes.done} completed, ${outcomes.none} without trace, ${failures.length} problem(s), ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        assert.deepEqual(failures, []);
      });
    }
  }

  it('gives the adapter back exactly as it was once everything is removed', async () => {
    if (await get('/networks/net')) await api('DELETE', '/networks/net');
    for (const n of await api<{ ID: string }[]>('GET', '/namespaces')) await api('DELETE', `/namespaces/${n.ID}`);
    const l = await listing(hostd.client);
    assert.deepEqual(l, { networks: [], endpoints: [], namespaces: [] });
    assert.deepEqual(await disagreements(l, { hostNs: host, stateDir, prefix: w.prefix, testNamespaces }), []);
    assert.deepEqual(await addressing(), original);
    assert.doesNotMatch((await run(['ip', '-n', host, '-br', 'link'])).stdout, /sy-/);
    assert.equal((await run(['nft', 'list', 'tables'], { netns: `/run/netns/${host}` })).stdout.trim(), '');
  });
});
