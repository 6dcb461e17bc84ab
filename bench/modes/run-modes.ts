/**
 * The benchmark of the uplink modes (issue 13; `npm run bench:modes`, or
 * `node dist/bench/modes/run-modes.js`), in one run on a fabric of namespaces it builds itself
 * (fabric.ts):
 *  3. network create/delete time of each mode on an adapter holding the host's address and default
 *     route (the adapter move), against the move made by hand;
 *  1. iperf3 throughput endpoint → fabric peer through Switchyard's Transparent, L2Bridge and L2Tunnel
 *     networks (kept side by side, one adapter each) against a bare macvlan and a bare bridged veth,
 *     all interleaved round by round;
 *  2. endpoint create/delete latency per mode against the same kernel calls made by hand (paths.ts).
 * Everything lives in namespaces with the prefix `sybench-<pid>-`, is undone in `finally` and on
 * Ctrl-C, and the run ends with a leak check. Writes bench/RESULTS-modes.md (never asserts a timing).
 * Settings: BENCH_MODES_ROUNDS (iperf3 rounds, 7), BENCH_IPERF_SECONDS (5), BENCH_IPERF_AFFINITY,
 * BENCH_N (endpoint creates per path, 30), BENCH_MODES_NET (network creates per mode, 8).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostdAvailable, intFromEnv, loadConfig, type BenchConfig } from '../lib/config.js';
import { abortExec, exec, isAborted } from '../lib/exec.js';
import { addNetns, delNetns, listNetns } from '../lib/netns.js';
import { rootLeaks, snapshotRoot } from '../lib/root-guard.js';
import { Teardown } from '../lib/teardown.js';
import { timed, waitFor } from '../lib/wait.js';
import { startHostd } from '../hostd/world.js';
import type { HostdClient } from '../hostd/client.js';
import { runLifecycle } from '../lifecycle/run-lifecycle.js';
import type { EndpointPath } from '../lifecycle/path.js';
import { runThroughput } from '../throughput/run-throughput.js';
import type { Scenario } from '../throughput/topologies.js';
import { buildBareScenarios, buildFabric, buildSwitchyardScenarios, hostIp, ipBatch, MODES, SUBNET_OF, TIMED_ADAPTER, uplinkNetworkDoc, type Fabric, type Mode } from './fabric.js';
import { ModeFloorPath, ModeHostdPath } from './paths.js';
import { renderReport, type ModesReport, type NetCreateResult } from './report.js';
import { describeMachine } from '../lib/machine.js';

const OUR_NAMES = ['sybench', 'sy-sw-floor'];
const started = Date.now();

function log(s: string): void {
  process.stderr.write(`[bench:modes ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');


interface LinkJson {
  ifname: string;
  master?: string;
  address?: string;
  addr_info?: { family: string; local: string }[];
}

async function linkOf(netns: string, dev: string): Promise<LinkJson> {
  return (JSON.parse((await exec(['ip', '-n', netns, '-j', 'addr', 'show', 'dev', dev])).stdout) as LinkJson[])[0]!;
}

const hasV4 = (l: LinkJson, ip: string) => (l.addr_info ?? []).some((a) => a.family === 'inet' && a.local === ip);

async function defaultDev(netns: string): Promise<string | undefined> {
  const routes = JSON.parse((await exec(['ip', '-n', netns, '-j', 'route', 'show', 'default'])).stdout) as { dev?: string }[];
  return routes[0]?.dev;
}

/** After a create: the adapter is a port of a switch bridge holding the host's address and default route. */
async function checkTaken(netns: string, adapter: string, ip: string, bridgePrefix: string): Promise<void> {
  const a = await linkOf(netns, adapter);
  if (!a.master?.startsWith(bridgePrefix)) throw new Error(`${adapter} is not a port of a ${bridgePrefix}* bridge after create (master ${a.master})`);
  const br = await linkOf(netns, a.master);
  if (!hasV4(br, ip) || hasV4(a, ip)) throw new Error(`${ip} did not move from ${adapter} to ${a.master}`);
  if ((await defaultDev(netns)) !== a.master) throw new Error(`the default route is not on ${a.master}`);
}

/** After a delete: the adapter has no master, its address and the default route back. */
async function checkGivenBack(netns: string, adapter: string, ip: string): Promise<void> {
  const a = await linkOf(netns, adapter);
  if (a.master || !hasV4(a, ip)) throw new Error(`${adapter} was not given back (master ${a.master}, address ${hasV4(a, ip) ? 'back' : 'missing'})`);
  if ((await defaultDev(netns)) !== adapter) throw new Error(`the default route is not back on ${adapter}`);
}

/** (3) hostd's network create/delete per mode on eth1, and the adapter move by hand in a floor host. */
async function netCreateSection(api: HostdClient, cfg: BenchConfig, f: Fabric, rounds: number, td: Teardown): Promise<NetCreateResult[]> {
  const results: NetCreateResult[] = MODES.map((m) => ({ key: m, title: `hostd ${m}`, create: [], remove: [] }));
  const floor: NetCreateResult = { key: 'floor', title: 'floor: the adapter move by hand (ip -batch)', create: [], remove: [] };
  const floorNs = await addNetns(`${cfg.prefix}floor-net`, td);
  const fIp = '10.0.9.11';
  await ipBatch(floorNs, ['link add eth1 type veth peer name eth1-wire', 'link set eth1-wire up', `addr add ${fIp}/24 dev eth1`, 'link set eth1 up', 'route add default via 10.0.9.1 dev eth1']);
  const fMac = (await linkOf(floorNs, 'eth1')).address!;
  const ip = hostIp(SUBNET_OF.Transparent);
  const all: (Mode | 'floor')[] = [...MODES, 'floor'];
  for (let round = -1; round < rounds && !isAborted(); round++) {
    const k = (round + 1) % all.length;
    for (const what of [...all.slice(k), ...all.slice(0, k)]) {
      const r = what === 'floor' ? floor : results.find((x) => x.key === what)!;
      if (r.error) continue;
      try {
        if (what === 'floor') {
          const c = await timed(() =>
            ipBatch(floorNs, [
              `link add sy-sw-floor address ${fMac} mtu 1500 type bridge`,
              `addr replace ${fIp}/24 brd 10.0.9.255 dev sy-sw-floor`,
              'link set sy-sw-floor up',
              'link set eth1 master sy-sw-floor',
              'link set eth1 up',
              'route replace 0.0.0.0/0 via 10.0.9.1 dev sy-sw-floor',
              `addr del ${fIp}/24 dev eth1`,
            ]),
          );
          await checkTaken(floorNs, 'eth1', fIp, 'sy-sw-');
          const d = await timed(() =>
            ipBatch(floorNs, [`addr replace ${fIp}/24 brd 10.0.9.255 dev eth1`, 'link set eth1 nomaster', 'route replace 0.0.0.0/0 via 10.0.9.1 dev eth1', 'link del sy-sw-floor'], true),
          );
          await checkGivenBack(floorNs, 'eth1', fIp);
          if (round >= 0) r.create.push(c.ms), r.remove.push(d.ms);
        } else {
          const doc = uplinkNetworkDoc(`nc-${what.toLowerCase()}-${round < 0 ? 'w' : round}`, what, TIMED_ADAPTER, SUBNET_OF.Transparent);
          const c = await timed(() => api.call<{ ID: string }>('POST', '/networks', doc));
          let deleted = false;
          try {
            await checkTaken(f.host, TIMED_ADAPTER, ip, 'sy-sw-');
            const d = await timed(() => api.deleteNetwork(c.value.ID));
            deleted = true;
            await checkGivenBack(f.host, TIMED_ADAPTER, ip);
            if (round >= 0) r.create.push(c.ms), r.remove.push(d.ms);
          } finally {
            if (!deleted) await api.deleteNetwork(c.value.ID).catch((e: unknown) => log(`(3) cleanup of ${what}: ${message(e)}`));
          }
        }
      } catch (e) {
        r.error = `round ${round < 0 ? 'w' : round}: ${message(e)}`;
        log(`  (3) ${what}: stopped: ${r.error}`);
      }
    }
  }
  return [...results, floor];
}

/** The client namespaces reach the peer before anything is timed (ARP settles, a broken path fails early). */
async function checkReach(scenarios: Scenario[]): Promise<void> {
  for (const s of scenarios) {
    await waitFor(async () => (await exec(['busybox', 'ping', '-c', '1', '-W', '1', s.host], { netns: s.clientNetns, okCodes: [1] })).code === 0, {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: `${s.key}: ${s.clientNetns} to reach ${s.host}`,
    });
  }
}

async function sweep(prefix: string): Promise<string[]> {
  const left = listNetns(prefix);
  for (const name of left) await delNetns(name).catch((e: unknown) => log(`sweep: ${message(e)}`));
  return left;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('The benchmark needs root (it creates network namespaces); run it as root.');
  const cfg = loadConfig();
  cfg.resultsFile = join(cfg.repoRoot, 'bench/RESULTS-modes.md');
  const rounds = intFromEnv('BENCH_MODES_ROUNDS', 7, 1);
  const netRounds = intFromEnv('BENCH_MODES_NET', 8, 1);
  const lifeRounds = intFromEnv('BENCH_N', 30, 1, 150);
  if (!hostdAvailable(cfg)) throw new Error(`${cfg.hostdEntry} does not exist`);
  const rootBefore = await snapshotRoot();
  const report: ModesReport = {
    machine: { ...(await describeMachine(cfg.repoRoot, 'bench:modes', 'node dist/bench/modes/run-modes.js', ' + uncommitted changes in the working tree (shared with other engineers)')), loadBefore: loadavg() },
    prefix: cfg.prefix,
    rounds,
    iperfSeconds: cfg.iperfSeconds,
    iperfAffinity: cfg.iperfAffinity,
    lifecycleRounds: lifeRounds,
    netRounds,
    notes: [],
    leaks: [],
    teardownFailures: [],
    interrupted: false,
  };
  const root = new Teardown();
  const tmpDir = mkdtempSync(join(tmpdir(), cfg.prefix));
  root.defer(`remove ${tmpDir}`, async () => rmSync(tmpDir, { recursive: true, force: true }));
  let finishing: Promise<void> | undefined;
  const finish = (): Promise<void> =>
    (finishing ??= (async () => {
      report.teardownFailures.push(...(await root.run()));
      report.leaks = await sweep(cfg.prefix);
      report.leaks.push(...rootLeaks(rootBefore, await snapshotRoot(), OUR_NAMES, cfg.prefix));
      report.machine.loadAfter = loadavg();
      report.machine.durationS = (Date.now() - started) / 1000;
      writeFileSync(cfg.resultsFile, renderReport(report));
      mkdirSync(cfg.outDir, { recursive: true });
      writeFileSync(join(cfg.outDir, `modes-samples-${process.pid}.json`), JSON.stringify(report, null, 2) + '\n');
      log(`wrote ${cfg.resultsFile}${report.leaks.length ? `; LEAKS: ${report.leaks.join(', ')}` : '; leak check clean'}`);
    })());
  process.on('SIGINT', () => {
    if (report.interrupted) return log('SIGINT again: still cleaning up');
    log('SIGINT: stopping after the current step, then cleaning up');
    report.interrupted = true;
    abortExec();
    setTimeout(() => {
      log('cleanup did not finish in time: unwinding now');
      void finish().finally(() => process.exit(130));
    }, 60_000).unref();
  });

  try {
    const hostd = await startHostd(cfg, 'host', tmpDir, root);
    const api = hostd.client;
    log(`hostd running in ${hostd.opts.netns} (pid ${hostd.pid})`);
    const f = await buildFabric(cfg.prefix, hostd.opts.netns, root);
    // networks and endpoints are registered after hostd's stop, so they are deleted while it runs
    const work = root.child();

    log(`(3) network create/delete on ${TIMED_ADAPTER}: ${MODES.join(', ')} + floor × ${netRounds} (+1 warm-up)`);
    report.netCreate = await netCreateSection(api, cfg, f, netRounds, work);

    if (!isAborted()) {
      const sy = await buildSwitchyardScenarios(api, cfg.prefix, f, work);
      const bare = await buildBareScenarios(cfg.prefix, f, work);
      // A B A B: each mode next to its baseline in the rotation
      const scenarios = [sy[0]!, bare[0]!, sy[1]!, bare[1]!, sy[2]!];
      await checkReach(scenarios);
      log(`(1) throughput: ${scenarios.map((s) => s.key).join(', ')} × ${rounds} rounds of ${cfg.iperfSeconds} s`);
      report.throughput = await runThroughput(scenarios, rounds, cfg.iperfSeconds, cfg.iperfAffinity, work, log);
    }

    if (!isAborted()) {
      const nets = (await api.call<{ ID: string; Type: string; Name: string }[]>('GET', '/networks')).filter((n) => n.Name.startsWith('tput-'));
      const idOf = (m: Mode) => nets.find((n) => n.Type === m)?.ID ?? '';
      const paths: EndpointPath[] = [];
      for (const m of MODES) {
        paths.push(new ModeHostdPath(m, api, idOf(m), hostd.opts.netns));
        for (const fp of [new ModeFloorPath(m, `${cfg.prefix}floor-${m.toLowerCase()}`), new ModeFloorPath(m, `${cfg.prefix}floor-ip-${m.toLowerCase()}`, false)]) {
          await fp.setup(work);
          paths.push(fp);
        }
      }
      log(`(2) endpoint create/delete: ${paths.map((p) => p.key).join(', ')} × ${lifeRounds} rounds (+1 warm-up)`);
      report.lifecycle = await runLifecycle(paths, lifeRounds, cfg.prefix, work, log);
    }
    report.teardownFailures.push(...(await work.run()));
  } catch (e) {
    report.notes.push(`**The run failed:** ${message(e)}`);
    throw e;
  } finally {
    await finish();
    if (report.interrupted) process.exitCode = 130;
  }
}

main().catch((e: unknown) => {
  log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
