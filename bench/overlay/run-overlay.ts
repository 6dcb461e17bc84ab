/**
 * The overlay benchmark (issue 14), written to bench/RESULTS-overlay.md:
 *  (1) cross-host TCP throughput, endpoint → endpoint over VXLAN through Switchyard (two hosts, one
 *      hostd each, an Overlay network and each other's remote endpoint) against a bare kernel VXLAN
 *      pair made by hand in the same run (two more hosts: a bridge, a VXLAN port with the same flags,
 *      a veth into a container namespace, the same static FDB and neighbour entries), rounds
 *      interleaved, medians and per-round ratios;
 *  (2) the cost of one more remote endpoint as a host gets more: POST /endpoints of a remote endpoint,
 *      the median of a window around the 10th, the 1,000th and the 10,000th, and the time to program
 *      10,000 of them, one request at a time; hostd's RSS with them.
 * All in namespaces of this run on a fabric bridge of its own; nothing in the root namespace.
 * Run: npx tsc -p tsconfig.json && node dist/bench/overlay/run-overlay.js
 * Settings: BENCH_OVERLAY_ROUNDS (iperf3 rounds, 7), BENCH_IPERF_SECONDS (5), BENCH_OVERLAY_REMOTES (10000).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { intFromEnv, loadConfig } from '../lib/config.js';
import { exec, isAborted, netnsPath } from '../lib/exec.js';
import { describeMachine } from '../lib/machine.js';
import { addNetns, delNetns, listNetns } from '../lib/netns.js';
import { rootLeaks, snapshotRoot } from '../lib/root-guard.js';
import { fmtGbps, fmtRatio, median, ratio } from '../lib/stats.js';
import { Teardown } from '../lib/teardown.js';
import { waitFor } from '../lib/wait.js';
import type { HostdClient } from '../hostd/client.js';
import { startHostd } from '../hostd/world.js';
import { ipBatch } from '../modes/fabric.js';
import { runThroughput, type ThroughputResult } from '../throughput/run-throughput.js';
import { IPERF_PORT } from '../throughput/iperf.js';
import type { Scenario } from '../throughput/topologies.js';

const VNI = 4096;
const DR_MAC = '02:53:44:52:4d:43';
const CA_PREFIX = 16;
const log = (s: string) => console.error(`${new Date().toISOString()} ${s}`);

/** A veth from the fabric bridge into `ns` as eth1 with the provider address `pa`. */
async function plug(fab: string, ns: string, port: string, pa: string): Promise<void> {
  await ipBatch(fab, [`link add ${port} type veth peer name eth1 netns ${ns}`, `link set ${port} master fab0 up`]);
  await ipBatch(ns, [`addr add ${pa}/24 dev eth1`, 'link set eth1 up']);
}

const macOf = (n: number) => `02:5b:${[24, 16, 8, 0].map((s) => ((n >>> s) & 255).toString(16).padStart(2, '0')).join(':')}`;
/** remote CAs from 10.1.1.1 on (10.1.0.1 is the gateway, 10.1.250.x the iperf endpoints) */
const caOf = (n: number) => `10.1.${((n + 256) >> 8) & 255}.${(n + 256) & 255}`;

/** Switchyard's side: an Overlay network on each host, an endpoint each, each other's remote endpoint. */
async function switchyardPair(prefix: string, fab: string, tmp: string, cfg: ReturnType<typeof loadConfig>, td: Teardown): Promise<{ scenario: Scenario; h1: HostdClient; h1Pid: () => number }> {
  const pa = { h1: '10.0.0.11', h2: '10.0.0.12' };
  const eps: Record<string, { ip: string; mac: string; ns: string }> = {};
  const hosts: Record<string, { client: HostdClient; pid: () => number }> = {};
  for (const [i, h] of (['h1', 'h2'] as const).entries()) {
    const hostd = await startHostd(cfg, `ov${h}`, tmp, td);
    await plug(fab, hostd.opts.netns, `p-ov${h}`, pa[h]);
    hosts[h] = { client: hostd.client, pid: () => hostd.pid };
    await hostd.client.call('POST', '/networks', {
      Name: 'tenant',
      Type: 'Overlay',
      Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: pa[h] } }],
      Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: `10.1.0.0/${CA_PREFIX}`, Policies: [{ Type: 'VSID', Settings: { IsolationId: VNI } }], Routes: [{ NextHop: '10.1.0.1', DestinationPrefix: '0.0.0.0/0' }] }] }],
    });
    const ns = await addNetns(`${prefix}ov${h}c`, td);
    await hostd.client.call('POST', '/namespaces', { Path: netnsPath(ns) });
    const ip = `10.1.250.${11 + i}`;
    const doc = await hostd.client.call<{ MacAddress: string }>('POST', '/endpoints', { Name: 'iperf', HostComputeNetwork: 'tenant', HostComputeNamespace: netnsPath(ns), IpConfigurations: [{ IpAddress: ip, PrefixLength: CA_PREFIX }] });
    eps[h] = { ip, mac: doc.MacAddress.toLowerCase().replace(/-/g, ':'), ns };
  }
  for (const [h, other] of [['h1', 'h2'], ['h2', 'h1']] as const) {
    await hosts[h]!.client.call('POST', '/endpoints', {
      Name: `r-${other}`,
      HostComputeNetwork: 'tenant',
      Flags: 1,
      IpConfigurations: [{ IpAddress: eps[other]!.ip, PrefixLength: CA_PREFIX }],
      MacAddress: eps[other]!.mac,
      Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: pa[other] } }],
    });
  }
  return {
    scenario: { key: 'switchyard', title: 'Switchyard Overlay (hostd, VXLAN VNI 4096)', serverNetns: eps.h2!.ns, clientNetns: eps.h1!.ns, host: eps.h2!.ip, port: IPERF_PORT },
    h1: hosts.h1!.client,
    h1Pid: hosts.h1!.pid,
  };
}

/** The same data path by hand: bridge + VXLAN port (nolearning, proxy, no flooding) + veth, static entries. */
async function barePair(prefix: string, fab: string, td: Teardown): Promise<Scenario> {
  const pa = { b1: '10.0.0.21', b2: '10.0.0.22' };
  const ca = { b1: '10.2.0.11', b2: '10.2.0.12' };
  const mac = { b1: '02:5c:00:00:00:11', b2: '02:5c:00:00:00:12' };
  const ns: Record<string, string> = {};
  for (const b of ['b1', 'b2'] as const) {
    const host = await addNetns(`${prefix}${b}`, td);
    await plug(fab, host, `p-${b}`, pa[b]);
    const c = await addNetns(`${prefix}${b}c`, td);
    ns[b] = c;
    await ipBatch(host, [
      'link add br0 type bridge',
      `link set br0 address ${DR_MAC} mtu 1450 up`,
      'addr add 10.2.0.1/16 dev br0',
      `link add vx0 type vxlan id ${VNI} local ${pa[b]} dstport 4789 nolearning proxy`,
      'link set vx0 master br0 up',
      `link add v0 type veth peer name eth0 netns ${c}`,
      'link set v0 master br0 mtu 1450 up',
    ]);
    await exec(['bridge', 'link', 'set', 'dev', 'vx0', 'learning', 'off', 'flood', 'off', 'mcast_flood', 'off', 'neigh_suppress', 'on'], { netns: host });
    await ipBatch(c, [`link set eth0 address ${mac[b]} mtu 1450 up`, `addr add ${ca[b]}/16 dev eth0`, 'route add default via 10.2.0.1']);
  }
  for (const [b, o] of [['b1', 'b2'], ['b2', 'b1']] as const) {
    const host = `${prefix}${b}`;
    await exec(['bridge', 'fdb', 'replace', mac[o], 'dev', 'vx0', 'dst', pa[o], 'self', 'permanent'], { netns: host });
    await exec(['bridge', 'fdb', 'replace', mac[o], 'dev', 'vx0', 'master', 'static'], { netns: host });
    await exec(['ip', 'neigh', 'replace', ca[o], 'lladdr', mac[o], 'dev', 'br0', 'nud', 'permanent'], { netns: host });
  }
  return { key: 'bare', title: 'bare kernel VXLAN pair (by hand)', serverNetns: ns.b2!, clientNetns: ns.b1!, host: ca.b2, port: IPERF_PORT };
}

interface ScaleResult {
  windows: { at: number; p50: number }[];
  totalS: number;
  count: number;
  rssMiB: number;
  error?: string;
}

/** Remote endpoints added one at a time on h1; medians of the 21 adds around each mark. */
async function remoteScale(client: HostdClient, pid: number, count: number): Promise<ScaleResult> {
  const marks = [10, 1000, 10_000].filter((m) => m <= count);
  const samples: number[] = [];
  const t0 = Date.now();
  const r: ScaleResult = { windows: [], totalS: 0, count: 0, rssMiB: 0 };
  try {
    for (let n = 1; n <= count && !isAborted(); n++) {
      const start = process.hrtime.bigint();
      await client.call('POST', '/endpoints', {
        Name: `r${n}`,
        HostComputeNetwork: 'tenant',
        Flags: 1,
        IpConfigurations: [{ IpAddress: caOf(n), PrefixLength: CA_PREFIX }],
        MacAddress: macOf(n),
        // spread over 100 other hosts' provider addresses
        Policies: [{ Type: 'ProviderAddress', Settings: { ProviderAddress: `10.0.1.${(n % 100) + 1}` } }],
      });
      samples.push(Number(process.hrtime.bigint() - start) / 1e6);
      r.count = n;
      if (n % 1000 === 0) log(`  (2) ${n} remote endpoints`);
    }
  } catch (e) {
    r.error = e instanceof Error ? e.message : String(e);
  }
  r.totalS = (Date.now() - t0) / 1000;
  for (const m of marks) if (samples.length >= m) r.windows.push({ at: m, p50: median(samples.slice(Math.max(0, m - 11), Math.min(samples.length, m + 10))) });
  r.rssMiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
  return r;
}

function render(machine: Awaited<ReturnType<typeof describeMachine>>, rounds: number, seconds: number, remotes: number, tput: ThroughputResult[], scale: ScaleResult): string {
  const sy = tput.find((t) => t.key === 'switchyard')!;
  const bare = tput.find((t) => t.key === 'bare')!;
  const perRound = sy.runs.map((r, i) => ratio(r.bps, bare.runs[i]?.bps ?? NaN));
  const w = (at: number) => scale.windows.find((x) => x.at === at);
  const row = (t: ThroughputResult) => `| ${t.title} | ${fmtGbps(median(t.runs.map((r) => r.bps)))} | ${t.runs.map((r) => fmtGbps(r.bps)).join(', ')} |`;
  return `# Overlay benchmark

Command: \`${machine.command}\` (BENCH_OVERLAY_ROUNDS=${rounds}, BENCH_IPERF_SECONDS=${seconds}, BENCH_OVERLAY_REMOTES=${remotes})
Made ${machine.date} at ${machine.commit} on ${machine.nproc} × ${machine.cpu}, kernel ${machine.kernel}, Node ${machine.node}.

## (1) Cross-host TCP throughput over VXLAN

Two hosts (namespaces) on one fabric bridge, iperf3 from an endpoint on one to an endpoint on the
other, ${rounds} rounds of ${seconds} s, Switchyard and the bare pair interleaved round by round. The bare
pair is the same data path made by hand: a bridge with the gateway, a VXLAN port (\`nolearning proxy\`,
learning/flooding off, neigh_suppress), a veth with MTU 1450, and the same static FDB and neighbour
entries; Switchyard adds its nftables tables and policy routing for tenant isolation.

| path | median | rounds |
|---|---|---|
${row(sy)}
${row(bare)}

Switchyard ÷ bare: **${fmtRatio(ratio(median(sy.runs.map((r) => r.bps)), median(bare.runs.map((r) => r.bps))))}** (ratio of medians); per round: ${perRound.map(fmtRatio).join(', ')}, median **${fmtRatio(median(perRound))}** (target ≥ 0.95×).

## (2) Programming remote endpoints

One request at a time (\`POST /endpoints\` of a remote endpoint: a CA, a MAC and the PA it lives
behind, spread over 100 PAs) on a host holding more and more of them; the median of the 21 adds
around each mark, in ms.

| remote endpoints held | one more (ms, median) |
|---|---|
${scale.windows.map((x) => `| ${x.at.toLocaleString('en')} | ${x.p50.toFixed(2)} |`).join('\n')}

The 1,000th ÷ the 10th: **${w(1000) && w(10) ? fmtRatio(ratio(w(1000)!.p50, w(10)!.p50)) : '–'}** (target ≤ 1.3×)${w(10_000) && w(10) ? `; the 10,000th ÷ the 10th: ${fmtRatio(ratio(w(10_000)!.p50, w(10)!.p50))}` : ''}.
${scale.count.toLocaleString('en')} remote endpoints programmed in ${scale.totalS.toFixed(1)} s (${(scale.count / scale.totalS).toFixed(0)} a second); hostd's RSS with them: ${scale.rssMiB.toFixed(1)} MiB.${scale.error ? `\n\nStopped early: ${scale.error}` : ''}
`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('The benchmark needs root (it creates network namespaces).');
  const cfg = loadConfig();
  const rounds = intFromEnv('BENCH_OVERLAY_ROUNDS', 7, 1);
  const remotes = intFromEnv('BENCH_OVERLAY_REMOTES', 10_000, 20);
  const machine = await describeMachine(cfg.repoRoot, 'bench:overlay', 'node dist/bench/overlay/run-overlay.js');
  const rootBefore = await snapshotRoot();
  const tmp = mkdtempSync(join(tmpdir(), 'sy-bench-overlay-'));
  const td = new Teardown();
  let md: string | undefined;
  try {
    const fab = await addNetns(`${cfg.prefix}fab`, td);
    await ipBatch(fab, ['link add fab0 type bridge', 'link set fab0 up']);
    const sy = await switchyardPair(cfg.prefix, fab, tmp, cfg, td);
    const bare = await barePair(cfg.prefix, fab, td);
    for (const s of [sy.scenario, bare]) {
      await waitFor(async () => (await exec(['busybox', 'ping', '-c', '1', '-W', '1', s.host], { netns: s.clientNetns, okCodes: [1] })).code === 0, { timeoutMs: 10_000, intervalMs: 100, what: `${s.key}: ${s.host} to answer` });
    }
    log(`(1) throughput: ${rounds} rounds of ${cfg.iperfSeconds} s`);
    const tput = await runThroughput([sy.scenario, bare], rounds, cfg.iperfSeconds, cfg.iperfAffinity, td, log);
    for (const t of tput) if (t.error) throw new Error(`${t.key}: ${t.error}`);
    log(`(2) ${remotes} remote endpoints on one host`);
    const scale = await remoteScale(sy.h1, sy.h1Pid(), remotes);
    md = render(machine, rounds, cfg.iperfSeconds, remotes, tput, scale);
  } finally {
    await td.run();
    for (const n of listNetns(cfg.prefix)) await delNetns(n);
    rmSync(tmp, { recursive: true, force: true });
  }
  const leaks = rootLeaks(rootBefore, await snapshotRoot(), ['fab0', 'sy-'], cfg.prefix);
  if (leaks.length) throw new Error(`left in the root namespace: ${leaks.join(', ')}`);
  const out = join(cfg.repoRoot, 'bench', 'RESULTS-overlay.md');
  writeFileSync(out, md!);
  console.log(md);
  log(`written to ${out}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
