/**
 * The endpoint-policy benchmark (issue "Endpoint policy", `npm run bench:policy`), written to
 * bench/RESULTS-policy.md:
 *  (1) growth: the cost of one more ACL rule (PATCH Add) and of one more port mapping on a host that
 *      already holds 10, 100, 1,000 and 10,000 ACL rules (10 per endpoint), side by side with what
 *      Docker and CNI portmap do for each rule (`iptables -C … || iptables -A …`) in a chain of the
 *      same length. Target: the 10,000th change ≤ 1.3× the 10th.
 *  (2) throughput (iperf3, outside → published port) to an endpoint with 100 ACL rules and NAT, and
 *      to one without policy, in the same run, interleaved. Target ≥ 0.9×.
 *  (3) the host of (1) at its largest: endpoint creation with 10 rules, hostd's memory, and a restart
 *      and a "reboot" (table deleted) of hostd, timed until it answers, with the elements counted.
 * Everything runs in namespaces with the run's prefix and is undone in `finally`; a leak check ends
 * the run. Settings: BENCH_POLICY_N (timed changes per level, default 15), BENCH_IPERF_RUNS (default
 * 7), BENCH_IPERF_SECONDS (default 5), BENCH_POLICY_MAX (largest level, default 10000).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { intFromEnv, loadConfig } from '../lib/config.js';
import { exec } from '../lib/exec.js';
import { addNetns, listNetns } from '../lib/netns.js';
import { fmtMs, fmtRatio, median, percentile, ratio } from '../lib/stats.js';
import { Teardown } from '../lib/teardown.js';
import { startHostd } from '../hostd/world.js';
import type { HostdProcess } from '../hostd/process.js';
import { IPERF_PORT, runIperfClient, startIperfServer } from '../throughput/iperf.js';

const N = intFromEnv('BENCH_POLICY_N', 15);
const MAX = intFromEnv('BENCH_POLICY_MAX', 10_000);
const IPERF_RUNS = intFromEnv('BENCH_IPERF_RUNS', 7);
const IPERF_SECONDS = intFromEnv('BENCH_IPERF_SECONDS', 5);
const LEVELS = [10, 100, 1_000, 10_000].filter((l) => l <= MAX);
const RULES_PER_ENDPOINT = 10;

function log(s: string): void {
  process.stderr.write(`[bench:policy ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
}

const timed = async (fn: () => Promise<unknown>): Promise<number> => {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
};

/** The i-th endpoint's ten rules: In and Out, allow and block, ports and addresses. */
function rulesFor(i: number): unknown[] {
  return Array.from({ length: RULES_PER_ENDPOINT }, (_, r) => ({
    Type: 'ACL',
    Settings: {
      Id: `e${i}r${r}`,
      Action: r % 3 === 0 ? 'Block' : 'Allow',
      Direction: r % 2 ? 'Out' : 'In',
      Protocols: '6',
      LocalPorts: String(1000 + r),
      RemoteAddresses: `198.18.${(i >> 8) & 255}.${i & 255}`,
      Priority: 100 + r,
    },
  }));
}

/** What a host with the most rules costs to build, to hold and to bring back. */
interface Load {
  rules: number;
  endpoints: number;
  /** creating the endpoints with their rules, per endpoint (ms) */
  createMs: number;
  rssMiB: number;
  /** SIGTERM, start on the same state, until /healthz answers: the kernel still holds the table */
  restartMs: number;
  /** the same with the table deleted first (as after a reboot): every element loaded anew */
  rebootMs: number;
  /** acl_in elements after the reboot, and how many the rules make */
  elementsAfter: number;
  elementsWanted: number;
}

interface Level {
  rules: number;
  hostdAcl: number[];
  hostdPort: number[];
  iptables: number[];
}

async function growth(hostd: HostdProcess, iptNs: string): Promise<{ levels: Level[]; load: Load }> {
  const api = hostd.client;
  const net = await api.call<{ ID: string }>('POST', '/networks', { Name: 'growth', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '10.90.0.0/16' }] }] });
  await exec(['iptables', '-w', '-N', 'BENCH'], { netns: iptNs });
  const levels: Level[] = [];
  let endpoints = 0;
  let iptRules = 0;
  let createMs = 0;
  for (const target of LEVELS) {
    log(`(1) filling to ${target} rules`);
    while (endpoints * RULES_PER_ENDPOINT < target) {
      createMs += await timed(() => api.call('POST', '/endpoints', { Name: `g${endpoints}`, HostComputeNetwork: net.ID, Policies: rulesFor(endpoints) }));
      endpoints++;
    }
    const lines = ['*filter'];
    for (; iptRules < target; iptRules++) lines.push(`-A BENCH -s 198.18.${(iptRules >> 8) & 255}.${iptRules & 255}/32 -p tcp --dport ${1000 + (iptRules % 10)} -j ACCEPT`);
    lines.push('COMMIT', '');
    await exec(['iptables-restore', '-w', '--noflush'], { netns: iptNs, stdin: lines.join('\n') });
    const level: Level = { rules: target, hostdAcl: [], hostdPort: [], iptables: [] };
    for (let k = -2; k < N; k++) {
      const acl = { Type: 'ACL', Settings: { Id: `extra${k + 2}`, Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: '8443', RemoteAddresses: '203.0.113.7', Priority: 50 } };
      const pm = { Type: 'PortMapping', Settings: { InternalPort: 8443, ExternalPort: 40000 + k + 2 } };
      const patch = (RequestType: string, p: unknown) => api.call('PATCH', '/endpoints/g0', { ResourceType: 'Policy', RequestType, Settings: { Policies: [p] } });
      const rule = ['-s', '203.0.113.7/32', '-p', 'tcp', '--dport', String(40000 + k + 2), '-j', 'ACCEPT'];
      // One change each, in turn, so the machine's noise falls on all three alike.
      const a = await timed(() => patch('Add', acl));
      const p = await timed(() => patch('Add', pm));
      const cmd = `iptables -w -C BENCH ${rule.join(' ')} 2>/dev/null || iptables -w -A BENCH ${rule.join(' ')}`;
      const i = await timed(() => exec(['sh', '-c', cmd], { netns: iptNs }));
      await patch('Remove', acl);
      await patch('Remove', pm);
      await exec(['iptables', '-w', '-D', 'BENCH', ...rule], { netns: iptNs });
      if (k >= 0) {
        level.hostdAcl.push(a);
        level.hostdPort.push(p);
        level.iptables.push(i);
      }
    }
    log(`(1) ${target} rules: ACL add p50 ${fmtMs(median(level.hostdAcl))} ms, port mapping ${fmtMs(median(level.hostdPort))} ms, iptables ${fmtMs(median(level.iptables))} ms`);
    levels.push(level);
  }
  const load = await restarts(hostd, endpoints, createMs);
  const loadStart = process.hrtime.bigint();
  await api.call('DELETE', `/networks/${net.ID}`);
  log(`(1) removed ${endpoints} endpoints in ${(Number(process.hrtime.bigint() - loadStart) / 1e6).toFixed(0)} ms`);
  return { levels, load };
}

/** (3) hostd stopped and started again on the host with the most rules: with the table kept, and deleted. */
async function restarts(hostd: HostdProcess, endpoints: number, createMs: number): Promise<Load> {
  const netns = hostd.opts.netns;
  const rssMiB = hostd.memory().rssMiB;
  const again = async (reboot: boolean) => {
    await hostd.stop();
    if (reboot) await exec(['nft', 'delete', 'table', 'inet', 'switchyard'], { netns });
    hostd.spawn();
    return hostd.waitHealthy(120_000);
  };
  const restartMs = await again(false);
  const rebootMs = await again(true);
  const listed = JSON.parse((await exec(['nft', '-j', 'list', 'map', 'inet', 'switchyard', 'acl_in'], { netns })).stdout) as { nftables: { map?: { elem?: unknown[] } }[] };
  const elementsAfter = listed.nftables.find((o) => o.map)?.map?.elem?.length ?? 0;
  const elementsWanted = endpoints * rulesFor(0).filter((p) => (p as { Settings: { Direction: string } }).Settings.Direction === 'In').length;
  log(`(3) restart healthy after ${restartMs.toFixed(0)} ms, after a reboot ${rebootMs.toFixed(0)} ms (${elementsAfter}/${elementsWanted} acl_in elements)`);
  return { rules: endpoints * RULES_PER_ENDPOINT, endpoints, createMs: createMs / endpoints, rssMiB, restartMs, rebootMs, elementsAfter, elementsWanted };
}

interface Throughput {
  plain: number[];
  acl: number[];
}

async function throughput(cfg: ReturnType<typeof loadConfig>, hostd: HostdProcess, td: Teardown): Promise<Throughput> {
  const api = hostd.client;
  const hostNs = hostd.opts.netns;
  const net = await api.call<{ ID: string }>('POST', '/networks', { Name: 'tput', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '10.91.0.0/24' }] }] });
  const outside = await addNetns(`${cfg.prefix}out`, td);
  await exec(['ip', '-n', hostNs, '-batch', '-'], { stdin: `link add bench-out0 type veth peer name out0 netns ${outside}\naddr add 198.19.0.1/24 dev bench-out0\nlink set bench-out0 up\n` });
  await exec(['ip', '-n', outside, '-batch', '-'], { stdin: 'addr add 198.19.0.2/24 dev out0\nlink set out0 up\n' });
  const endpoint = async (name: string, port: number, extra: unknown[]) => {
    const ns = await addNetns(`${cfg.prefix}${name}`, td);
    const nsDoc = await api.call<{ ID: string }>('POST', '/namespaces', { Path: `/run/netns/${ns}` });
    td.defer(`hostd: remove ${name}`, async () => {
      await api.call('DELETE', `/endpoints/${name}`).catch(() => undefined);
      await api.call('DELETE', `/namespaces/${nsDoc.ID}`).catch(() => undefined);
    });
    await api.call('POST', '/endpoints', {
      Name: name,
      HostComputeNetwork: net.ID,
      HostComputeNamespace: nsDoc.ID,
      Policies: [{ Type: 'PortMapping', Settings: { InternalPort: IPERF_PORT, ExternalPort: port } }, ...extra],
    });
    await startIperfServer(ns, td);
  };
  // 99 rules that do not match the benchmark's flow, then the one that allows it: every new flow
  // walks all 100, and established packets pass on the first rule (conntrack).
  const hundred = [
    ...Array.from({ length: 99 }, (_, r) => ({ Type: 'ACL', Settings: { Id: `other${r}`, Action: r % 2 ? 'Allow' : 'Block', Direction: r % 3 ? 'In' : 'Out', Protocols: '6', RemoteAddresses: `203.0.${r}.0/24`, Priority: r } })),
    { Type: 'ACL', Settings: { Id: 'iperf', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: String(IPERF_PORT), Priority: 1000 } },
  ];
  await endpoint('plain', 15301, []);
  await endpoint('acl', 15302, hundred);
  const out: Throughput = { plain: [], acl: [] };
  for (let r = 0; r < IPERF_RUNS; r++) {
    const order: ('plain' | 'acl')[] = r % 2 ? ['acl', 'plain'] : ['plain', 'acl'];
    for (const which of order) {
      const run = await runIperfClient(outside, '198.19.0.1', which === 'plain' ? 15301 : 15302, IPERF_SECONDS, cfg.iperfAffinity);
      out[which].push(run.bps);
      log(`(2) run ${r + 1}/${IPERF_RUNS} ${which}: ${(run.bps / 1e9).toFixed(2)} Gbit/s`);
    }
  }
  return out;
}

function render(levels: Level[], load: Load | undefined, tput: Throughput | undefined, head: Record<string, string>): string {
  const first = levels[0];
  const last = levels[levels.length - 1];
  const growthOf = (pick: (l: Level) => number[]) => (first && last ? ratio(median(pick(last)), median(pick(first))) : Number.NaN);
  const lines = [
    '# Switchyard benchmark: endpoint policies',
    '',
    '| Machine |  |',
    '| --- | --- |',
    ...Object.entries(head).map(([k, v]) => `| ${k} | ${v} |`),
    '',
    '## Targets (reported, not asserted)',
    '',
    '| Target | Goal | Measured |  |',
    '| --- | --- | --- | --- |',
    `| one more ACL rule at ${last?.rules ?? '?'} rules ÷ at ${first?.rules ?? '?'} (p50) | ≤ 1.3× | ${fmtRatio(growthOf((l) => l.hostdAcl))} | ${growthOf((l) => l.hostdAcl) <= 1.3 ? 'met' : '**missed**'} |`,
    `| one more port mapping at ${last?.rules ?? '?'} rules ÷ at ${first?.rules ?? '?'} (p50) | ≤ 1.3× | ${fmtRatio(growthOf((l) => l.hostdPort))} | ${growthOf((l) => l.hostdPort) <= 1.3 ? 'met' : '**missed**'} |`,
    ...(tput ? [`| throughput with 100 ACL rules + NAT ÷ without policy (median) | ≥ 0.9× | ${fmtRatio(ratio(median(tput.acl), median(tput.plain)))} | ${ratio(median(tput.acl), median(tput.plain)) >= 0.9 ? 'met' : '**missed**'} |`] : []),
    '',
    `## (1) One more change on a host that already holds N rules (${N} timed changes per level, after 2 untimed)`,
    '',
    'hostd: `PATCH /endpoints/g0` with one ACL (Add), then with one PortMapping (Add), each undone untimed; the host holds N ACL rules (10 per endpoint, endpoints without namespaces: their ACL map elements are made all the same). iptables: `iptables -w -C BENCH RULE || iptables -w -A BENCH RULE` in a chain of N rules (what Docker and CNI portmap do per rule), in its own namespace. The three alternate, change by change.',
    '',
    '| N rules | hostd ACL add p50 (ms) | p90 | hostd port mapping add p50 (ms) | p90 | iptables -C \\|\\| -A p50 (ms) | p90 |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...levels.map((l) => `| ${l.rules} | ${fmtMs(median(l.hostdAcl))} | ${fmtMs(percentile(l.hostdAcl, 90))} | ${fmtMs(median(l.hostdPort))} | ${fmtMs(percentile(l.hostdPort, 90))} | ${fmtMs(median(l.iptables))} | ${fmtMs(percentile(l.iptables, 90))} |`),
    '',
    `Growth from ${first?.rules} to ${last?.rules} rules (p50): hostd ACL ${fmtRatio(growthOf((l) => l.hostdAcl))}, hostd port mapping ${fmtRatio(growthOf((l) => l.hostdPort))}, iptables ${fmtRatio(growthOf((l) => l.iptables))}.`,
    '',
    '## (2) TCP throughput through an endpoint with 100 ACL rules and NAT',
    '',
  ];
  if (tput) {
    lines.push(
      `iperf3 single stream, ${IPERF_RUNS} runs of ${IPERF_SECONDS} s each, alternating, client and server pinned alike (iperf3 -A: ${head['iperf3 -A']}); outside namespace → host 198.19.0.1:published port → endpoint. "acl": 99 rules that do not match (In and Out, both actions, priorities 0-98), then the allow for port ${IPERF_PORT} at priority 1000; "plain": no policy.`,
      '',
      '| Endpoint | runs (Gbit/s) | median (Gbit/s) | ratio |',
      '| --- | --- | --- | --- |',
      `| plain | ${tput.plain.map((b) => (b / 1e9).toFixed(2)).join(', ')} | ${(median(tput.plain) / 1e9).toFixed(2)} | 1.00× |`,
      `| 100 ACL rules | ${tput.acl.map((b) => (b / 1e9).toFixed(2)).join(', ')} | ${(median(tput.acl) / 1e9).toFixed(2)} | ${fmtRatio(ratio(median(tput.acl), median(tput.plain)))} |`,
      '',
    );
  } else lines.push('Not run.', '');
  lines.push(
    `## (3) A host with ${load?.rules ?? '?'} ACL rules: made, held, started again`,
    '',
    ...(load
      ? [
          `hostd with ${load.endpoints} endpoints of ${RULES_PER_ENDPOINT} ACL rules each (the host of (1) at its largest). Restart: SIGTERM by pid, started on the same state directory, timed until GET /healthz answers (hostd answers once it has compared the kernel with its records and repaired the difference); the kernel keeps the table. Reboot: the same with \`nft delete table inet switchyard\` between the two, so every element is loaded anew.`,
          '',
          '| endpoint create with 10 ACL rules (mean, ms) | hostd VmRSS (MiB) | restart until healthy (ms) | reboot until healthy (ms) | acl_in elements after the reboot |',
          '| --- | --- | --- | --- | --- |',
          `| ${fmtMs(load.createMs)} | ${load.rssMiB.toFixed(1)} | ${load.restartMs.toFixed(0)} | ${load.rebootMs.toFixed(0)} | ${load.elementsAfter} of ${load.elementsWanted} |`,
          '',
        ]
      : ['Not run.', ''])
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const cfg = loadConfig();
  const root = new Teardown();
  const tmp = mkdtempSync(join(tmpdir(), 'sybench-policy-'));
  root.defer(`remove ${tmp}`, async () => rmSync(tmp, { recursive: true, force: true }));
  const out = (argv: string[]) => exec(argv).then((r) => r.stdout.trim(), () => '?');
  const head: Record<string, string> = {
    'kernel (`uname -r`)': await out(['uname', '-r']),
    'CPUs (`nproc`)': await out(['nproc']),
    CPU: /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?',
    node: process.version,
    date: new Date().toISOString(),
    command: `${Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_')).map(([k, v]) => `${k}=${v} `).join('')}node dist/bench/policy/run-policy.js`,
    commit: `${await out(['git', '-C', cfg.repoRoot, 'rev-parse', '--short', 'HEAD'])}${(await out(['git', '-C', cfg.repoRoot, 'status', '--porcelain'])) ? ' + uncommitted changes' : ''}`,
    'iperf3 -A': cfg.iperfAffinity || 'unpinned',
  };
  let levels: Level[] = [];
  let load: Load | undefined;
  let tput: Throughput | undefined;
  try {
    const hostd = await startHostd(cfg, 'hostd', tmp, root);
    const iptNs = await addNetns(`${cfg.prefix}ipt`, root);
    ({ levels, load } = await growth(hostd, iptNs));
    tput = await throughput(cfg, hostd, root.child());
  } finally {
    const failures = await root.run();
    if (failures.length) log(`teardown: ${failures.join('; ')}`);
  }
  const left = listNetns(cfg.prefix);
  if (left.length) throw new Error(`leak: namespaces ${left.join(', ')} remain`);
  writeFileSync(join(cfg.repoRoot, 'bench/RESULTS-policy.md'), render(levels, load, tput, head));
  log('wrote bench/RESULTS-policy.md; leak check clean');
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
