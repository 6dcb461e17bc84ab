/**
 * The Docker front door benchmark (issue 4): a private dockerd and hostd --docker in namespaces this
 * run makes (the test harness's World and DockerEngine), the same container run several ways,
 * interleaved (A B C A B C ...) so that drift of the machine hits all alike:
 *   - `docker run --rm` on --net none, on Docker's default bridge, on a user-defined bridge network
 *     (which, like ours, gets Docker's embedded DNS), on two do-nothing remote drivers (null-driver.ts:
 *     the floor of any remote driver, with and without a veth for Docker to move), on a `-d nat`
 *     network; the container checks whether its eth0 has its address when its process starts;
 *   - with one `-p`: from `docker run -d` to the first successful HTTP request on the published port
 *     (from the outside namespace), for the default bridge, brnet and nat;
 *   - `docker network connect` + `disconnect` of a running container, bridge vs nat;
 *   - the nat figures again with 1,000 ports already published on the host.
 * The networking overhead of a driver is its time above --net none. hostd's handler times (its
 * SWITCHYARD_DOCKER_TRACE log) are collected for the nat runs. Writes bench/DOCKER-RESULTS.md.
 * Settings: BENCH_DOCKER_N (rounds, default 15); BENCH_DOCKER_TIMELINE=1 runs dockerd with debug logs
 * and splits each `run --rm` into phases from their timestamps (where the time goes, per network).
 * Run: node dist/bench/docker/run-docker.js
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { World, waitFor } from '../../test/kernel/world.js';
import { DockerEngine, IMAGE } from '../../test/kernel/docker-world.js';
import { fmtMs, median, percentile } from '../lib/stats.js';
import { NullDrivers } from './null-driver.js';

const N = Number(process.env.BENCH_DOCKER_N ?? 15);
/** the machine's 1-minute load average when the run began, for the report */
const loadAtStart = loadavg()[0]!;
const TIMELINE = process.env.BENCH_DOCKER_TIMELINE === '1';

/** A `docker run --rm`'s phases, from dockerd's debug log (ms). */
interface Phases {
  /** client start → the start call reaches dockerd (create, attach) */
  toStart: number[];
  /** the start call → the container's task started (sandbox, Join, SetKey, runc) */
  startToTask: number[];
  /** Docker's SetKey in the prestart hook: the sandbox's namespace, embedded DNS, interfaces moved in */
  setKey: number[];
  /** the task exited → the container is deleted (Leave, DeleteEndpoint, the sandbox's removal) */
  exitToDelete: number[];
}

function phasesOf(log: string, runs: { net: string; a: number; b: number }[]): Record<string, Phases> {
  const lines = log.split('\n').flatMap((l) => {
    const m = /time="([^"]+)"/.exec(l);
    return m ? [{ t: Date.parse(m[1]!), l }] : [];
  });
  const out: Record<string, Phases> = {};
  for (const r of runs) {
    const ev = lines.filter((x) => x.t >= r.a && x.t <= r.b);
    const at = (re: RegExp) => ev.find((x) => re.test(x.l))?.t;
    const start = at(/Calling POST \/v[\d.]+\/containers\/\w+\/start/);
    const task = at(/topic=\/tasks\/start type/);
    const exit = at(/topic=\/tasks\/exit type/);
    const del = at(/topic=\/containers\/delete/);
    const sk = ev.map((x) => /set key processing took ([\d.]+)(ms|s)\b/.exec(x.l)).find(Boolean);
    const p = (out[r.net] ??= { toStart: [], startToTask: [], setKey: [], exitToDelete: [] });
    if (start) p.toStart.push(start - r.a);
    if (start && task) p.startToTask.push(task - start);
    if (sk) p.setKey.push(Number(sk[1]) * (sk[2] === 's' ? 1000 : 1));
    if (exit && del) p.exitToDelete.push(del - exit);
  }
  return out;
}

function log(s: string): void {
  process.stderr.write(`[bench-docker ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

type Series = Record<string, number[]>;

function add(s: Series, key: string, v: number) {
  (s[key] ??= []).push(v);
}

async function main(): Promise<void> {
  const w = new World('bd');
  let engine: DockerEngine | undefined;
  let nulls: NullDrivers | undefined;
  const s: Series = {};
  /** hostd's time per NetworkDriver call, for the nat runs of `run --rm` and of `-p` */
  const calls: Record<'rm' | 'p', Series> = { rm: {}, p: {} };
  const attachAfterMount: number[] = [];
  const eth0: Record<string, string[]> = {};
  const runs: { net: string; a: number; b: number }[] = [];
  try {
    const { host, outside } = await w.hostAndOutside();
    engine = new DockerEngine(w, host);
    await engine.prepare();
    nulls = new NullDrivers(engine.pluginDir, host);
    await nulls.start();
    process.env.SWITCHYARD_DOCKER_TRACE = '1';
    const hostd = await w.startHostd(host, { args: ['--docker', '--docker-plugin-dir', engine.pluginDir], mountNsPid: engine.mountNsPid, resyncSeconds: 30 });
    await engine.start({ debug: TIMELINE });
    await engine.importImage();
    const e = engine;
    await e.ok('network', 'create', '-d', 'nat', '--subnet', '172.18.0.0/24', 'natnet');
    await e.ok('network', 'create', '-d', 'bridge', '--subnet', '172.19.0.0/24', 'brnet');
    await e.ok('network', 'create', '-d', 'nulld', '--subnet', '172.22.0.0/24', 'nullnet');
    await e.ok('network', 'create', '-d', 'nullveth', '--subnet', '172.23.0.0/24', 'vethnet');
    const httpd = [IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www'];
    let port = 20000;

    /** hostd's log lines written while fn ran: the handler times go to `into` */
    const traced = async <T>(into: Series | undefined, fn: () => Promise<T>): Promise<T> => {
      const from = hostd.log().length;
      const out = await fn();
      const text = hostd.log().slice(from);
      for (const m of text.matchAll(/docker nat NetworkDriver\.(\w+) (\d+) ms/g)) if (into) add(into, m[1]!, Number(m[2]));
      for (const m of text.matchAll(/attached (\d+) ms after its sandbox appeared/g)) attachAfterMount.push(Number(m[1]));
      return out;
    };
    // The same command everywhere: does eth0 have its address when the container's process starts?
    const check = 'ip -o -4 addr show eth0 2>/dev/null | grep -q inet && echo ready || echo early';
    const runRm = async (net: string, into?: Series) => {
      let out = '';
      const a = Date.now();
      const ms = await timed(async () => (out = await traced(into, () => e.ok('run', '--rm', '--net', net, IMAGE, 'sh', '-c', check))));
      runs.push({ net, a, b: Date.now() });
      (eth0[net] ??= []).push(out);
      return ms;
    };
    const toFirstRequest = async (net: string, into?: Series) => {
      const p = port++;
      const ms = await traced(into, () => timed(async () => {
        await e.ok('run', '-d', '--name', `b${p}`, '--net', net, '-p', `${p}:80`, ...httpd);
        await waitFor(`port ${p}`, async () => (await w.curl(outside, `http://192.0.2.1:${p}/`, 1)) !== '', 20_000);
      }));
      await traced(into, () => e.ok('rm', '-f', `b${p}`));
      return ms;
    };
    // A running container per driver, connected to a second network of the same driver and back
    // (Docker's and Switchyard's interfaces are not mixed in one container: both would name theirs eth0).
    await e.ok('network', 'create', '-d', 'nat', '--subnet', '172.20.0.0/24', 'nathome');
    await e.ok('network', 'create', '-d', 'bridge', '--subnet', '172.21.0.0/24', 'brhome');
    await e.ok('run', '-d', '--name', 'conn-natnet', '--net', 'nathome', ...httpd);
    await e.ok('run', '-d', '--name', 'conn-brnet', '--net', 'brhome', ...httpd);
    const connect = async (net: string) => timed(async () => {
      await e.ok('network', 'connect', net, `conn-${net}`);
      await e.ok('network', 'disconnect', net, `conn-${net}`);
    });

    const round = async (suffix: string, record: boolean) => {
      for (const net of ['none', 'bridge', 'brnet', 'nullnet', 'vethnet', 'natnet']) add(s, `run --rm ${net}${suffix}`, await runRm(net, record && net === 'natnet' ? calls.rm : undefined));
      for (const net of ['bridge', 'brnet', 'natnet']) add(s, `run -p to first request ${net}${suffix}`, await toFirstRequest(net, record && net === 'natnet' ? calls.p : undefined));
      for (const net of ['brnet', 'natnet']) add(s, `connect+disconnect ${net}${suffix}`, await connect(net));
    };
    log(`warm-up, then ${N} interleaved rounds`);
    await round(' (warm-up)', false);
    for (const k of Object.keys(eth0)) eth0[k] = [];
    attachAfterMount.length = 0;
    runs.length = 0;
    for (let i = 0; i < N; i++) await round('', true);
    const roundRuns = runs.slice();

    log('publishing 1,000 ports on the host through the host API, then the nat rounds again');
    const policies = Array.from({ length: 1000 }, (_, i) => ({ Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 80, ExternalPort: 30000 + i } }));
    await hostd.client.request('POST', '/networks', { Name: 'admin', Type: 'NAT', Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: '172.30.0.0/24' }] }] });
    await hostd.client.request('POST', '/endpoints', { Name: 'thousand', HostComputeNetwork: 'admin', Policies: policies });
    for (let i = 0; i < N; i++) {
      add(s, 'run --rm none (1,000 ports)', await runRm('none'));
      add(s, 'run --rm natnet (1,000 ports)', await runRm('natnet'));
      add(s, 'run -p to first request natnet (1,000 ports)', await toFirstRequest('natnet'));
    }
    await e.ok('rm', '-f', 'conn-natnet', 'conn-brnet');
    const timeline = TIMELINE ? phasesOf(e.log(), roundRuns) : undefined;
    report(s, calls, attachAfterMount, eth0, timeline);
    if (process.env.BENCH_DOCKER_TRACE) process.stderr.write(hostd.log());
  } finally {
    await engine?.cleanup();
    await nulls?.stop();
    await w.cleanup();
  }
}

function report(s: Series, calls: Record<'rm' | 'p', Series>, attachAfterMount: number[], eth0: Record<string, string[]>, timeline?: Record<string, Phases>): void {
  const m = (k: string) => median(s[k] ?? []);
  const none = m('run --rm none');
  const rows = Object.keys(s)
    .filter((k) => !k.includes('warm-up'))
    .map((k) => `| ${k} | ${fmtMs(m(k))} | ${fmtMs(percentile(s[k]!, 90))} | ${k.startsWith('run --rm') && !k.includes('none') ? `+${fmtMs(m(k) - (k.includes('1,000') ? m('run --rm none (1,000 ports)') : none))}` : ''} |`);
  const over = (k: string, base = 'run --rm none') => m(k) - m(base);
  const natOver = over('run --rm natnet');
  const brOver = over('run --rm bridge');
  const udOver = over('run --rm brnet');
  const nullOver = over('run --rm nullnet');
  const vethOver = over('run --rm vethnet');
  const natP = over('run -p to first request natnet');
  const brP = over('run -p to first request bridge');
  const udP = over('run -p to first request brnet');
  const natP1k = over('run -p to first request natnet (1,000 ports)', 'run --rm none (1,000 ports)');
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  const callRow = (k: 'rm' | 'p') => {
    const order = ['CreateEndpoint', 'Join', 'EndpointOperInfo', 'Leave', 'DeleteEndpoint'];
    const names = [...order.filter((n) => calls[k][n]), ...Object.keys(calls[k]).filter((n) => !order.includes(n))];
    // EndpointOperInfo comes twice per start
    const sum = names.reduce((a, n) => a + median(calls[k][n]!) * (n === 'EndpointOperInfo' ? 2 : 1), 0);
    return `${names.map((n) => `${n} ${fmtMs(median(calls[k][n]!))}`).join(', ')}; sum ${fmtMs(sum)} ms`;
  };
  const ready = (net: string) => `${(eth0[net] ?? []).filter((r) => r === 'ready').length} of ${(eth0[net] ?? []).length}`;
  const text = `# Docker front door benchmark

\`node dist/bench/docker/run-docker.js\` (BENCH_DOCKER_N=${N}), ${new Date().toISOString()}, ${N} interleaved rounds after one warm-up;
private Debian dockerd 20.10 and hostd --docker in test namespaces, busybox image. Milliseconds, median and p90.
Load average (1 min) on this ${cpus().length}-CPU machine: ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end.
\`run --rm\` runs \`sh -c 'ip ... eth0 | grep -q inet && echo ready || echo early'\` everywhere.

| what | median ms | p90 ms | overhead over --net none |
|---|---|---|---|
${rows.join('\n')}

Networking overhead (median above \`--net none\`):
- \`docker run --rm\`: nat +${fmtMs(natOver)} ms vs the default bridge +${fmtMs(brOver)} ms (${x(natOver, brOver)} the bridge driver's; target ≤ 0.5×)
  and vs a user-defined bridge network (brnet, which like every user-defined network also starts Docker's embedded DNS) +${fmtMs(udOver)} ms (${x(natOver, udOver)})
- the floor of any remote driver, measured in the same rounds: \`nulld\` (answers at once, no interface) +${fmtMs(nullOver)} ms
  = ${x(nullOver, brOver)} the default bridge's overhead; \`nullveth\` (a bare veth that Docker moves in and out) +${fmtMs(vethOver)} ms.
  Above the floor, nat costs +${fmtMs(natOver - nullOver)} ms: that part is hostd's.
- hostd's handler times in the nat \`run --rm\` rounds (median ms): ${callRow('rm')};
  with \`-p\`: ${callRow('p')}. The interface was placed a median ${fmtMs(median(attachAfterMount))} ms (p90 ${fmtMs(percentile(attachAfterMount, 90))}) after Docker mounted the sandbox, in parallel with the container's start.
- eth0 had its address when the container's process started: nat ${ready('natnet')} runs, nullveth ${ready('vethnet')}, brnet ${ready('brnet')}.
- \`-p\` to first request (includes the container's start and the first request): nat +${fmtMs(natP)} ms vs the default bridge +${fmtMs(brP)} ms (${x(natP, brP)})
  and vs brnet +${fmtMs(udP)} ms (${x(natP, udP)})
- with 1,000 ports already published: nat \`-p\` +${fmtMs(natP1k)} ms (${x(natP1k, natP)} the empty-host figure; target ≤ 1.1×)

${timeline ? `Where the time of \`run --rm\` goes (dockerd's debug log, median ms per phase; BENCH_DOCKER_TIMELINE=1):

| network | client → start call | start call → task started | of which SetKey | task exited → container deleted |
|---|---|---|---|---|
${Object.entries(timeline).map(([net, p]) => `| ${net} | ${fmtMs(median(p.toStart))} | ${fmtMs(median(p.startToTask))} | ${fmtMs(median(p.setKey))} | ${fmtMs(median(p.exitToDelete))} |`).join('\n')}

SetKey is Docker's prestart hook: it mounts the sandbox's namespace, sets up the embedded DNS of a
user-defined or remote-driver network (its resolver and the iptables rules for it inside the container)
and moves in the interfaces a driver handed over; hostd places its own interface in parallel with it.
The teardown holds Leave and DeleteEndpoint.

` : ''}Notes:
- The default bridge network has no embedded DNS; every user-defined or remote-driver network has, and
  Docker sets it up in the container's start: brnet and the null drivers are the like-for-like comparisons.
- \`-p\` to first request: the mapping is in place when \`docker run -d\` returns (hostd makes it at Join and
  as a rule places the interface before the process starts: see the eth0 line), so the difference is mostly the
  container's start, as in \`run --rm\`; brnet is again the like-for-like comparison.
- The machine is shared: compare figures within one run only.
`;
  const out = join(process.cwd(), 'bench', 'DOCKER-RESULTS.md');
  writeFileSync(out, text);
  process.stdout.write(text);
  log(`wrote ${out}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
