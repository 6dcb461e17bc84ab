/**
 * Injected kernel command failures in the uplink modes (issue 13): an L2Bridge network create with
 * each of its kernel commands failing in turn (SWITCHYARD_FAULT=fail:PROG:N), among them the
 * `ip -batch` that moves the host's addresses and routes onto the switch, and with every nft run
 * failing. A request either succeeds (hostd retried) and the network works, or fails with SY_KERNEL
 * naming what failed and changes nothing: no record, no switch, no table, and eth1 keeps exactly
 * its addresses and routes, with the router reachable from the host. The same for an Overlay network
 * create and a remote endpoint create, whose failures must also leave no rule, route, FDB or
 * neighbour entry behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { requireRoot, World, type Hostd } from './world.js';
import { disagreements, listing } from './agreement.js';
import { run } from '../../src/dataplane/run.js';
import { ApiError } from '../../src/cli/client.js';

describe('uplink modes: kernel commands that fail at network create', () => {
  const w = new World('fmod');
  let host: string;
  let hostd: Hostd;
  const stateDir = join(w.dir, 'state');
  const testNamespaces: string[] = [];
  const figures: string[] = [];
  let original: string;

  const start = async (fault?: string) => {
    hostd = await w.startHostd(host, { stateDir, resyncSeconds: 3600, ...(fault ? { env: { SWITCHYARD_FAULT: fault } } : {}) });
  };
  const restart = async (fault?: string) => {
    await w.stopHostd(hostd, 'SIGKILL');
    await start(fault);
  };
  const api = <T = unknown>(method: string, path: string, body?: unknown) => hostd.client.request<T>(method, path, body);
  const ping = async (from: string, to: string) => (await w.exec(from, ['busybox', 'ping', '-c', '1', '-W', '2', to], { okExitCodes: [1] })).exitCode === 0;
  /** What a failed create must leave as it was: eth1, the host's routes, every link and table. */
  const snapshot = async () =>
    [
      // "tentative": IPv6 duplicate address detection still running on the link-local address
      (await run(['ip', '-n', host, '-j', 'addr', 'show', 'dev', 'eth1'])).stdout.replace(/"tentative":true,/g, ''),
      (await run(['ip', '-n', host, '-j', 'route', 'show'])).stdout,
      (await run(['ip', '-n', host, '-br', 'link'])).stdout.replace(/@if\d+/g, ''),
      (await run(['nft', 'list', 'ruleset'], { netns: `/run/netns/${host}` })).stdout,
      // an overlay network's rules, its table's routes, its FDB and neighbour entries
      (await run(['ip', '-n', host, 'rule', 'show'])).stdout,
      (await run(['ip', '-n', host, '-4', 'route', 'show', 'table', 'all'])).stdout,
      (await run(['bridge', '-n', host, 'fdb', 'show'])).stdout,
      (await run(['ip', '-n', host, 'neigh', 'show', 'nud', 'permanent'])).stdout,
    ].join('\n');
  const body = {
    Name: 'net',
    Type: 'L2Bridge',
    Policies: [{ Type: 'NetAdapterName', Settings: { NetworkAdapterName: 'eth1' } }],
    Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: '10.0.0.0/24', Routes: [{ NextHop: '10.0.0.1', DestinationPrefix: '0.0.0.0/0' }] }] }],
  };
  const agree = async () => disagreements(await listing(hostd.client), { hostNs: host, stateDir, prefix: w.prefix, testNamespaces });
  const removeNet = async () => {
    for (const n of await api<{ ID: string }[]>('GET', '/networks')) await api('DELETE', `/networks/${n.ID}`);
  };

  /** The create under `fault`: 'ok' (and it works, and goes cleanly), or the error's code (and nothing changed). */
  const createUnder = async (fault: string): Promise<string> => {
    await restart(`${fault},on-signal`);
    await removeNet();
    const before = await snapshot();
    assert.equal(before, original, 'the starting point is the host as it was');
    await w.armFault(hostd);
    const r = await api('POST', '/networks', body).then(
      () => 'ok' as const,
      (e: unknown) => {
        if (e instanceof ApiError) return e;
        throw e;
      },
    );
    assert.deepEqual(await agree(), [], `${fault}: the store and the kernel agree`);
    assert.ok(await ping(host, '10.0.0.1'), `${fault}: the host reaches the router`);
    if (r === 'ok') {
      await api('DELETE', '/networks/net');
      assert.equal(await snapshot(), original, `${fault}: after the delete the host is as it was`);
      return 'ok';
    }
    assert.equal(r.code, 'SY_KERNEL', `${fault}: ${r.code} ${r.message}`);
    assert.ok(r.status >= 500, `${fault}: status ${r.status}`);
    assert.deepEqual(await api('GET', '/networks'), [], `${fault}: no record`);
    assert.equal(await snapshot(), original, `${fault}: refused, so eth1, the routes, the links and the tables are as they were`);
    return `${r.code} (${r.message.slice(0, 80)})`;
  };

  before(async () => {
    requireRoot();
    const fabric = await w.addNs('fab');
    const router = await w.addNs('rtr');
    host = await w.addNs('h1');
    testNamespaces.push(fabric, router, host);
    await w.ip(fabric, 'link add fab0 type bridge', 'link set fab0 up');
    await w.ip(fabric, `link add fab-rtr type veth peer name eth1 netns ${router}`, 'link set fab-rtr master fab0 up');
    await w.ip(router, 'addr add 10.0.0.1/24 dev eth1', 'link set eth1 up');
    await w.ip(fabric, `link add fab-h1 type veth peer name eth1 netns ${host}`, 'link set fab-h1 master fab0 up');
    await w.ip(host, 'addr add 10.0.0.11/24 dev eth1', 'link set eth1 up', 'route add default via 10.0.0.1 dev eth1', 'route add 198.18.7.0/24 via 10.0.0.1 dev eth1 metric 50');
    original = await snapshot();
    await start();
  });

  after(async () => {
    if (figures.length) console.log(figures.join('\n'));
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  it('L2Bridge network create: each kernel command failing in turn is retried or changes nothing; the move failing is refused', async () => {
    await restart('count,on-signal');
    await w.armFault(hostd);
    await api('POST', '/networks', body);
    const commands = [...hostd.log().matchAll(/^fault command (\w+) (\d+): (.*)$/gm)].map((m) => ({ prog: m[1]!, n: Number(m[2]), argv: m[3]! }));
    const batch = commands.find((c) => c.argv.startsWith('ip -batch'));
    assert.ok(batch, `the create moves the adapter with ip -batch: ${commands.map((c) => c.argv).join('; ')}`);
    const seen: string[] = [];
    for (const c of commands) {
      const r = await createUnder(`fail:${c.prog}:${c.n}`);
      seen.push(`${c.prog} ${c.n} (${c.argv.slice(0, 30)}): ${r}`);
      if (c === batch) assert.match(r, /^SY_KERNEL/, 'the move of the adapter failing fails the request');
    }
    figures.push(`L2Bridge network create, ${commands.length} commands failed in turn:\n  ${seen.join('\n  ')}`);
  });

  it('L2Bridge network create with every nft run failing: refused, and the adapter keeps its addresses and routes', async () => {
    const every = Array.from({ length: 30 }, (_, i) => `fail:nft:${i + 1}`).join(',');
    assert.match(await createUnder(every), /^SY_KERNEL/);
  });

  const overlayBody = {
    Name: 'ov',
    Type: 'Overlay',
    Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: '10.0.0.11' } }],
    Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: '10.1.0.0/24', Policies: [{ Type: 'VSID', Settings: { IsolationId: 4096 } }] }] }],
  };
  const remoteBody = { Name: 'r1', HostComputeNetwork: 'ov', Flags: 1, IpConfigurations: [{ IpAddress: '10.1.0.7' }], MacAddress: '02:00:00:00:00:07', Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: '10.0.0.12' } }] };
  /**
   * `act` under `fault` (after `setup`, which runs before the fault is armed): 'ok' (the store and
   * kernel agree), or SY_KERNEL with nothing changed (no new record, the same links, rules, routes,
   * FDB and neighbour entries).
   */
  const underFault = async (fault: string, setup: () => Promise<void>, act: () => Promise<unknown>, records: () => Promise<unknown>): Promise<string> => {
    await restart(`${fault},on-signal`);
    await setup();
    const before = { kernel: await snapshot(), records: await records() };
    await w.armFault(hostd);
    const r = await act().then(
      () => 'ok' as const,
      (e: unknown) => {
        if (e instanceof ApiError) return e;
        throw e;
      },
    );
    assert.deepEqual(await agree(), [], `${fault}: the store and the kernel agree`);
    if (r === 'ok') return 'ok';
    assert.equal(r.code, 'SY_KERNEL', `${fault}: ${r.code} ${r.message}`);
    assert.deepEqual({ kernel: await snapshot(), records: await records() }, before, `${fault}: refused, so nothing changed`);
    return `${r.code} (${r.message.slice(0, 80)})`;
  };
  const commandsOf = async (setup: () => Promise<void>, act: () => Promise<unknown>) => {
    await restart('count,on-signal');
    await setup();
    await w.armFault(hostd);
    await act();
    return [...hostd.log().matchAll(/^fault command (\w+) (\d+): (.*)$/gm)].map((m) => ({ prog: m[1]!, n: Number(m[2]), argv: m[3]! }));
  };

  for (const [what, setup, act, records] of [
    ['Overlay network create', removeNet, () => api('POST', '/networks', overlayBody), () => api('GET', '/networks')],
    [
      'Overlay remote endpoint create',
      async () => {
        if (!(await api<unknown[]>('GET', '/networks')).length) await api('POST', '/networks', overlayBody);
        if ((await api<unknown[]>('GET', '/endpoints')).length) await api('DELETE', '/endpoints/r1');
      },
      () => api('POST', '/endpoints', remoteBody),
      () => api('GET', '/endpoints'),
    ],
  ] as const) {
    it(`${what}: each kernel command failing in turn is retried or changes nothing`, async () => {
      const commands = await commandsOf(setup, act);
      assert.ok(commands.length > 0, 'the request runs kernel commands');
      const seen: string[] = [];
      for (const c of commands) seen.push(`${c.prog} ${c.n} (${c.argv.slice(0, 40)}): ${await underFault(`fail:${c.prog}:${c.n}`, setup, act, records)}`);
      figures.push(`${what}, ${commands.length} commands failed in turn:\n  ${seen.join('\n  ')}`);
    });
  }

  it('leaves the host as it was', async () => {
    await restart();
    await removeNet();
    assert.equal(await snapshot(), original);
  });
});
