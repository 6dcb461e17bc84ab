/**
 * The CNI benchmark (issue 5, `npm run bench:cni`), written to bench/RESULTS-cni.md:
 *  (1) start-up of the forms the plugin binary could take, measured side by side by spawning each
 *      (VERSION, which needs no hostd) — bare Node as the floor of anything on Node, Node with a
 *      user-land V8 startup snapshot (Node 20 has no compile cache), the plugin on Node (tsc output
 *      and one bundled file), and on Bun (the TypeScript source, one bundled file, the installed executable);
 *  (2) ADD and DEL latency through the installed plugin binary (→ hostd) against Debian's reference
 *      chain bridge(host-local, ipMasq)+portmap+bandwidth invoked directly, and the same chain
 *      without bandwidth, interleaved round by round (bench/lifecycle/run-lifecycle.ts).
 * Everything runs in namespaces with the run's prefix, is undone in `finally`, and ends with a leak
 * check. (The hostd API driven directly is measured alongside, to show what is hostd's own work.) Settings: BENCH_N (rounds of (2), default 30), BENCH_STARTUP_N (spawns per form, default 30).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installCni, pluginParts } from '../../src/cli/install-cni.js';
import { loadConfig } from '../lib/config.js';
import { exec } from '../lib/exec.js';
import { listNetns } from '../lib/netns.js';
import { fmtMs, fmtRatio, percentile, ratio } from '../lib/stats.js';
import { Teardown } from '../lib/teardown.js';
import { BENCH_NETWORK, startHostd } from '../hostd/world.js';
import { HostdPath } from '../lifecycle/hostd-path.js';
import { CniPath } from '../lifecycle/cni-path.js';
import { runLifecycle, type LifecycleResult } from '../lifecycle/run-lifecycle.js';
import { SwitchyardCniPath } from './switchyard-cni-path.js';

function log(s: string): void {
  process.stderr.write(`[bench:cni ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
}

interface StartupForm {
  key: string;
  what: string;
  argv: string[];
  samples: number[];
  /** CPU time (user + system) of all timed spawns, ms */
  cpuMs: number;
  error?: string;
}

/**
 * CPU time of this process's waited-for children so far, ms (cutime + cstime of /proc/self/stat, in
 * 10 ms clock ticks: summed over the spawns of a form, exact to 10 ms in all).
 */
function childCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * 10;
}

/** Spawns each form `n` times, interleaved (A B C …, n rounds) so machine noise falls on all alike. */
async function measureStartup(forms: StartupForm[], n: number): Promise<void> {
  const env = { PATH: process.env.PATH, CNI_COMMAND: 'VERSION' };
  const stdin = '{"cniVersion":"1.1.0"}';
  for (let round = -2; round < n; round++) {
    for (const f of forms) {
      if (f.error) continue;
      const cpu0 = childCpuMs();
      const t0 = process.hrtime.bigint();
      try {
        const r = await exec(f.argv, { stdin, env });
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (f.key !== 'node-empty' && !r.stdout.includes('cniVersion')) throw new Error(`unexpected output: ${r.stdout.slice(0, 200)}`);
        if (round >= 0) {
          f.samples.push(ms);
          f.cpuMs += childCpuMs() - cpu0;
        }
      } catch (e) {
        f.error = e instanceof Error ? e.message.split('\n')[0] : String(e);
        log(`  startup ${f.key}: ${f.error}`);
      }
    }
  }
}

async function main(): Promise<void> {
  const cfg = loadConfig();
  const n = cfg.iterations;
  const startupN = Number(process.env.BENCH_STARTUP_N ?? 30);
  const prefix = cfg.prefix;
  const tmpDir = mkdtempSync(join(tmpdir(), `${prefix}cni-`));
  const td = new Teardown();
  td.defer(`remove ${tmpDir}`, async () => rmSync(tmpDir, { recursive: true, force: true }));
  const forms: StartupForm[] = [];
  let lifecycle: LifecycleResult[] = [];
  let leaks: string[] = [];
  let teardownFailures: string[] = [];
  try {
    // ---- (1) start-up -------------------------------------------------------------------------
    const parts = pluginParts();
    const bin = join(tmpDir, 'bin');
    const installed = installCni(bin);
    writeFileSync(join(tmpDir, 'empty.js'), '');
    writeFileSync(
      join(tmpDir, 'snap-entry.js'),
      "require('node:v8').startupSnapshot.setDeserializeMainFunction(() => process.stdout.write('{\"cniVersion\":\"1.1.0\"}\\n'));\n",
    );
    await exec([process.execPath, '--snapshot-blob', join(tmpDir, 'snap.blob'), '--build-snapshot', join(tmpDir, 'snap-entry.js')], { env: process.env });
    forms.push(
      { key: 'node-empty', what: '`node empty.js` (the floor of any plugin on Node)', argv: [process.execPath, join(tmpDir, 'empty.js')], samples: [], cpuMs: 0 },
      { key: 'node-snapshot', what: 'Node with a V8 startup snapshot (trivial main: the floor of this option)', argv: [process.execPath, '--snapshot-blob', join(tmpDir, 'snap.blob')], samples: [], cpuMs: 0 },
      { key: 'node-tsc', what: 'the plugin on Node, tsc output (ES modules, several files)', argv: [process.execPath, parts.nodeEntry], samples: [], cpuMs: 0 },
    );
    if (parts.bun) {
      const main = join(cfg.repoRoot, 'src/cni/main.ts');
      const nodeBundle = join(tmpDir, 'switchyard-node.mjs');
      await exec([parts.bun, 'build', main, '--target=node', '--outfile', nodeBundle], { env: process.env });
      // one bundled file run by Bun through its #! line (no extension: Bun then reads it as JavaScript)
      const bunBundle = join(tmpDir, 'switchyard-bun');
      await exec([parts.bun, 'build', main, '--target=bun', '--outfile', `${bunBundle}.js`], { env: process.env });
      writeFileSync(bunBundle, `#!${parts.bun}\n${readFileSync(`${bunBundle}.js`, 'utf8')}`, { mode: 0o755 });
      forms.push(
        { key: 'node-bundle', what: 'the plugin on Node, bundled into one file', argv: [process.execPath, nodeBundle], samples: [], cpuMs: 0 },
        { key: 'bun-ts', what: 'the plugin on Bun, TypeScript source run directly', argv: [parts.bun, main], samples: [], cpuMs: 0 },
        { key: 'bun-bundle', what: 'the plugin on Bun, one bundled file with a `#!bun` line', argv: [bunBundle], samples: [], cpuMs: 0 },
      );
    }
    forms.push({
      key: 'installed',
      what: `**the installed plugin** (\`switchyard install-cni\`: ${installed.runtime === 'Bun, compiled in' ? 'one executable compiled by Bun, code as bytecode' : 'Node launcher'})`,
      argv: [installed.path],
      samples: [],
      cpuMs: 0,
    });
    log(`(1) start-up: ${forms.map((f) => f.key).join(', ')} × ${startupN}`);
    await measureStartup(forms, startupN);

    // ---- (2) ADD/DEL ----------------------------------------------------------------------------
    const hostd = await startHostd(cfg, 'sycni', tmpDir, td);
    const net = await hostd.client.createNatNetwork(BENCH_NETWORK.name, BENCH_NETWORK.subnet);
    const paths = [
      new SwitchyardCniPath(hostd.opts.netns, bin, hostd.socketPath),
      new SwitchyardCniPath(hostd.opts.netns, bin, hostd.socketPath, { bandwidth: true }),
      new HostdPath({ hostd, netns: hostd.opts.netns, networkId: net.ID }),
      new CniPath(`${prefix}cnibw`, cfg.cniDir, tmpDir, { bandwidth: true }),
      new CniPath(`${prefix}cni`, cfg.cniDir, tmpDir),
    ];
    for (const p of paths) await p.setup(td);
    log(`(2) ADD/DEL: ${paths.map((p) => p.key).join(', ')} × ${n} rounds`);
    lifecycle = await runLifecycle(paths, n, prefix, td, log);
  } finally {
    teardownFailures = await td.run();
    leaks = listNetns(prefix);
  }
  const report = render(cfg, forms, lifecycle, n, startupN, leaks, teardownFailures, await describe(cfg.repoRoot));
  const file = join(cfg.repoRoot, 'bench/RESULTS-cni.md');
  mkdirSync(join(cfg.repoRoot, 'bench'), { recursive: true });
  writeFileSync(file, report);
  log(`wrote ${file}`);
  process.stdout.write(report);
  if (leaks.length || teardownFailures.length) process.exitCode = 1;
}

async function describe(repo: string): Promise<string[]> {
  const out = async (argv: string[]) => (await exec(argv, {}).catch(() => ({ stdout: '?' }))).stdout.trim();
  const cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?';
  const dirty = (await out(['git', '-C', repo, 'status', '--porcelain'])) !== '';
  const bun = pluginParts().bun;
  return [
    `| kernel | ${await out(['uname', '-r'])} |`,
    `| CPUs | ${await out(['nproc'])} × ${cpu} |`,
    `| node | ${process.version} |`,
    `| bun | ${bun ? await out([bun, '--version']) : 'not installed'} |`,
    `| date | ${new Date().toISOString()} |`,
    `| commit | ${await out(['git', '-C', repo, 'rev-parse', '--short', 'HEAD'])}${dirty ? ' + uncommitted changes' : ''} |`,
  ];
}

function render(
  cfg: ReturnType<typeof loadConfig>,
  forms: StartupForm[],
  lifecycle: LifecycleResult[],
  n: number,
  startupN: number,
  leaks: string[],
  failures: string[],
  machine: string[],
): string {
  const p = (xs: number[], q: number) => (xs.length ? fmtMs(percentile(xs, q)) : '–');
  const by = (k: string) => lifecycle.find((l) => l.key === k);
  const sy = by('switchyard-cni');
  const syBw = by('switchyard-cni-bw');
  const bw = by('cni-bw');
  const plain = by('cni');
  const r = (a: number[] | undefined, b: number[] | undefined) => (a?.length && b?.length ? fmtRatio(ratio(percentile(a, 50), percentile(b, 50))) : '–');
  const met = (a: number[] | undefined, b: number[] | undefined) =>
    a?.length && b?.length ? (ratio(percentile(a, 50), percentile(b, 50)) <= 0.5 ? 'met' : 'not met') : '–';
  const lines = [
    '# Switchyard CNI benchmark (issue 5)',
    '',
    '| Machine |  |',
    '| --- | --- |',
    ...machine,
    `| command | \`${['BENCH_N', 'BENCH_STARTUP_N'].filter((k) => process.env[k]).map((k) => `${k}=${process.env[k]} `).join('')}npm run bench:cni\` |`,
    '',
    '## Targets (reported, not asserted)',
    '',
    '| Target | Goal | Measured |  |',
    '| --- | --- | --- | --- |',
    `| ADD p50 / reference chain (bridge+portmap+bandwidth) ADD p50, both applying the caps | ≤ 0.5× | ${r(syBw?.create, bw?.create)} | ${met(syBw?.create, bw?.create)} |`,
    `| DEL p50 / reference chain (bridge+portmap+bandwidth) DEL p50 | ≤ 0.5× | ${r(syBw?.remove, bw?.remove)} | ${met(syBw?.remove, bw?.remove)} |`,
    `| ADD p50 / chain without bandwidth ADD p50, neither capping | (same work) | ${r(sy?.create, plain?.create)} | |`,
    `| DEL p50 / chain without bandwidth DEL p50 | (same work) | ${r(sy?.remove, plain?.remove)} | |`,
    '',
    `## (1) Start-up of the plugin binary (CNI_COMMAND=VERSION, no hostd), ${startupN} spawns each, interleaved`,
    '',
    '| form | p50 | p90 | min | CPU per start |',
    '| --- | --- | --- | --- | --- |',
    ...forms.map(
      (f) =>
        `| ${f.what} | ${f.error ? `failed: ${f.error}` : p(f.samples, 50)} | ${p(f.samples, 90)} | ${f.samples.length ? fmtMs(Math.min(...f.samples)) : '–'} | ${f.samples.length ? fmtMs(f.cpuMs / f.samples.length) : '–'} |`,
    ),
    '',
    'Times are from spawn to exit as seen by the (Node) bench process, so they include fork/exec and',
    'pipe handling; CPU is user + system time of the spawned process (the kernel\'s child times, 10 ms',
    'ticks summed over all spawns of a form). Node 20 has no module compile cache (that is Node ≥ 22.1);',
    'a user-land startup snapshot does not lower Node\'s own boot, which is the floor. Bun is the choice;',
    'the installed form is `bun build --compile --bytecode` (no parse at start, no .env/bunfig.toml',
    'lookup in the runtime\'s working directory), ~110 MB because the Bun runtime is inside.',
    '',
    `## (2) ADD and DEL latency, ${n} rounds (+1 warm-up), interleaved, one TCP port mapping (host 8080+i → 80)`,
    '',
    'Every plugin runs as a runtime runs it (CNI_* environment, config on stdin) under `nsenter --net` in',
    'its own bench host namespace. The Switchyard path\'s ADD includes the plugin start, two requests to',
    'hostd side by side (the endpoint, adopting the namespace in the same step; the network lookup) and',
    'hostd\'s kernel work; its DEL, three requests (look up, remove, release check). Its warm-up ADD made',
    'the network. The bandwidth chain caps both directions (100 Mbit/s, 1 Mbit bursts); the Switchyard',
    'path "with bandwidth" asks for the same caps (hostd shapes them with tbf), the other asks for none and',
    'is compared with the chain without the bandwidth plugin. The hostd row is the',
    'same hostd driven directly over one keep-alive connection (namespace adopted untimed): the part of',
    'the plugin\'s ADD/DEL that is hostd\'s own work; the rest is the plugin process and its requests.',
    '',
    '| path | ADD p50 | ADD p90 | DEL p50 | DEL p90 | note |',
    '| --- | --- | --- | --- | --- | --- |',
    ...lifecycle.map((l) => `| ${l.title} | ${p(l.create, 50)} | ${p(l.create, 90)} | ${p(l.remove, 50)} | ${p(l.remove, 90)} | ${l.error ? `stopped: ${l.error}` : ''} |`),
    '',
    '## Leak check',
    '',
    leaks.length || failures.length
      ? `LEFT BEHIND: namespaces ${leaks.join(', ') || 'none'}; teardown failures: ${failures.join('; ') || 'none'}`
      : `No namespace with the run's prefix \`${cfg.prefix}\` remained and every teardown step succeeded.`,
    '',
  ];
  return lines.join('\n');
}

main().catch((e) => {
  process.stderr.write(`bench:cni failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
