/**
 * Entry point of the issue-2 benchmark (`npm run bench`): (a) endpoint create/delete through hostd,
 * Debian's CNI chain and a hand-written floor; (b) iperf3 throughput through hostd vs bare veth and
 * bare bridge; (c) hostd's memory with many endpoints and its restart time. Everything runs in
 * namespaces this run creates (prefix `sybench-<pid>-`), is undone in `finally` and on Ctrl-C, and
 * ends with a leak check. Writes bench/RESULTS.md. Settings: BENCH_N, BENCH_IPERF_SECONDS,
 * BENCH_IPERF_RUNS, BENCH_SCALE (0 skips (c)), BENCH_SCALE_ATTACHED, BENCH_ONLY=lifecycle,throughput,scale,docker.
 * (d) the Docker front door (bench/docker/run-docker.ts) writes bench/DOCKER-RESULTS.md.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostdAvailable, loadConfig, type BenchConfig } from './lib/config.js';
import { abortExec, exec, isAborted } from './lib/exec.js';
import { delNetns, listNetns } from './lib/netns.js';
import { rootLeaks, snapshotRoot } from './lib/root-guard.js';
import { Teardown } from './lib/teardown.js';
import { startHostdWorld, type HostdWorld } from './hostd/world.js';
import { CniPath } from './lifecycle/cni-path.js';
import { FloorPath } from './lifecycle/floor-path.js';
import { HostdPath } from './lifecycle/hostd-path.js';
import type { EndpointPath } from './lifecycle/path.js';
import { runLifecycle } from './lifecycle/run-lifecycle.js';
import { runScale } from './scale/run-scale.js';
import { runThroughput } from './throughput/run-throughput.js';
import { buildBareBridge, buildBareVeth, buildHostd, type Scenario } from './throughput/topologies.js';
import { renderReport, type BenchReport } from './report.js';
import { describeMachine } from './lib/machine.js';

/** Names the run gives to objects inside its namespaces; seeing one in the root namespace is a leak. */
const OUR_NAMES = ['cni-bench0', 'br-floor', 'bench-out0', 'sybench'];

function log(s: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}


async function lifecycleSection(cfg: BenchConfig, world: HostdWorld | undefined, tmpDir: string, root: Teardown, report: BenchReport): Promise<void> {
  const td = root.child();
  try {
    const candidates: EndpointPath[] = [
      ...(world ? [new HostdPath(world)] : []),
      new CniPath(`${cfg.prefix}cni`, cfg.cniDir, tmpDir),
      new FloorPath(`${cfg.prefix}floor`),
    ];
    const paths: EndpointPath[] = [];
    for (const p of candidates) {
      try {
        await p.setup(td);
        paths.push(p);
      } catch (e) {
        log(`(a) ${p.key}: setup failed: ${message(e)}`);
        if (p.key === 'hostd') report.hostdNote = `setup failed: ${message(e)}`;
      }
    }
    log(`(a) endpoint lifecycle: ${paths.map((p) => p.key).join(', ')} × ${cfg.iterations} rounds`);
    report.lifecycle = await runLifecycle(paths, cfg.iterations, cfg.prefix, td, log);
  } finally {
    report.teardownFailures.push(...(await td.run()));
  }
}

async function throughputSection(cfg: BenchConfig, world: HostdWorld | undefined, root: Teardown, report: BenchReport): Promise<void> {
  const td = root.child();
  try {
    const scenarios: Scenario[] = [];
    if (world) {
      try {
        scenarios.push(...(await buildHostd(cfg.prefix, world, td)));
      } catch (e) {
        log(`(b) hostd topology failed: ${message(e)}`);
        report.hostdNote ??= `throughput topology failed: ${message(e)}`;
      }
    }
    scenarios.push(await buildBareVeth(cfg.prefix, td), await buildBareBridge(cfg.prefix, td));
    log(`(b) throughput: ${scenarios.map((s) => s.key).join(', ')} × ${cfg.iperfRuns} runs of ${cfg.iperfSeconds} s`);
    report.throughput = await runThroughput(scenarios, cfg.iperfRuns, cfg.iperfSeconds, cfg.iperfAffinity, td, log);
  } finally {
    report.teardownFailures.push(...(await td.run()));
  }
}

async function scaleSection(cfg: BenchConfig, tmpDir: string, root: Teardown, report: BenchReport): Promise<void> {
  const td = root.child();
  try {
    log(`(c) scale: ${cfg.scale} detached + ${cfg.scaleAttached} attached endpoints, then restart`);
    report.scale = await runScale(cfg, tmpDir, td, log);
  } catch (e) {
    report.scaleNote = `**Failed:** ${message(e)}`;
    log(`(c) failed: ${message(e)}`);
  } finally {
    report.teardownFailures.push(...(await td.run()));
  }
}

/** Removes what is left with the run's prefix (processes are stopped by then); returns the names. */
async function sweep(prefix: string): Promise<string[]> {
  const left = listNetns(prefix);
  for (const name of left) await delNetns(name).catch((e: unknown) => log(`sweep: ${message(e)}`));
  return left;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('The benchmark needs root (it creates network namespaces); run it as root.');
  const cfg = loadConfig();
  const rootBefore = await snapshotRoot();
  const report: BenchReport = {
    machine: await describeMachine(cfg.repoRoot, 'bench', 'node dist/bench/run.js'),
    iterations: cfg.iterations,
    iperfRuns: cfg.iperfRuns,
    iperfSeconds: cfg.iperfSeconds,
    iperfAffinity: cfg.iperfAffinity,
    prefix: cfg.prefix,
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
      writeFileSync(cfg.resultsFile, renderReport(report));
      // every sample, for whoever wants to look past p50/p90 (bench/out is git-ignored)
      mkdirSync(cfg.outDir, { recursive: true });
      writeFileSync(join(cfg.outDir, `samples-${process.pid}.json`), JSON.stringify(report, null, 2) + '\n');
      log(`wrote ${cfg.resultsFile}${report.leaks.length ? `; LEAKS: ${report.leaks.join(', ')}` : '; leak check clean'}`);
    })());
  // Ctrl-C: stop creating anything, let the sections unwind through their finally blocks; if that
  // takes too long (a hung command), unwind from here and exit.
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

  const hostdOk = hostdAvailable(cfg);
  if (!hostdOk) report.hostdNote = `not run: ${cfg.hostdEntry} does not exist (hostd not built yet)`;
  try {
    const hostdTd = root.child();
    let world: HostdWorld | undefined;
    const wantsHostd = cfg.sections.has('lifecycle') || cfg.sections.has('throughput');
    if (hostdOk && wantsHostd) {
      try {
        world = await startHostdWorld(cfg, tmpDir, hostdTd);
        log(`hostd running in ${world.netns} (pid ${world.hostd.pid}, ${world.hostd.comm()})`);
      } catch (e) {
        report.hostdNote = `could not start: ${message(e)}`;
        log(`hostd: ${report.hostdNote}`);
      }
    }
    if (cfg.sections.has('lifecycle') && !isAborted()) await lifecycleSection(cfg, world, tmpDir, root, report);
    if (cfg.sections.has('throughput') && !isAborted()) await throughputSection(cfg, world, root, report);
    report.teardownFailures.push(...(await hostdTd.run()));
    if (!cfg.sections.has('scale') || cfg.scale === 0) report.scaleNote = 'Skipped (BENCH_SCALE=0 or BENCH_ONLY).';
    else if (!hostdOk) report.scaleNote = 'Not run: hostd is not built yet.';
    else if (!isAborted()) await scaleSection(cfg, tmpDir, root, report);
    if (cfg.sections.has('docker') && hostdOk && !isAborted()) {
      // (d) the Docker front door, in a process of its own (its own dockerd, hostd and namespaces,
      // cleaned up by itself); it writes bench/DOCKER-RESULTS.md.
      log('(d) docker: docker run / -p / connect with -d nat vs bridge vs --net none');
      const r = await exec([process.execPath, join(cfg.repoRoot, 'dist', 'bench', 'docker', 'run-docker.js')], { timeoutMs: 30 * 60_000, okCodes: [1] });
      if (r.code !== 0) log(`(d) docker failed: ${r.stderr.slice(-2000)}`);
    }
  } finally {
    await finish();
    if (report.interrupted) process.exitCode = 130;
  }
}

main().catch((e: unknown) => {
  log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
