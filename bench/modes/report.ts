/**
 * Renders bench/RESULTS-modes.md: the machine and the command, the targets next to the measured
 * ratios (reported, never asserted), then throughput, endpoint create latency and network create
 * time, each with how it was taken.
 */
import type { LifecycleResult } from '../lifecycle/run-lifecycle.js';
import type { ThroughputResult } from '../throughput/run-throughput.js';
import { fmtGbps, fmtMs, fmtRatio, median, percentile, ratio } from '../lib/stats.js';
import type { Machine as BaseMachine } from '../lib/machine.js';
import { MODES, scenarioKey, type Mode } from './fabric.js';

/** The bench's machine facts, with the machine's load around the run (it is shared and noisy). */
export interface Machine extends BaseMachine {
  loadBefore: string;
  loadAfter?: string;
  durationS?: number;
}

export interface NetCreateResult {
  key: string;
  title: string;
  create: number[];
  remove: number[];
  error?: string;
}

export interface ModesReport {
  machine: Machine;
  prefix: string;
  rounds: number;
  iperfSeconds: number;
  iperfAffinity: string;
  lifecycleRounds: number;
  netRounds: number;
  throughput?: ThroughputResult[];
  lifecycle?: LifecycleResult[];
  netCreate?: NetCreateResult[];
  notes: string[];
  leaks: string[];
  teardownFailures: string[];
  interrupted: boolean;
}

const p50 = (xs: readonly number[]) => percentile(xs, 50);
const p95 = (xs: readonly number[]) => percentile(xs, 95);

/** The baseline each Switchyard mode is held against. */
export const BASELINE_OF: Record<Mode, string> = { Transparent: 'bare-macvlan', L2Bridge: 'bare-bridge', L2Tunnel: 'bare-bridge' };

function tput(r: ModesReport, key: string): ThroughputResult | undefined {
  const t = r.throughput?.find((x) => x.key === key);
  return t && t.runs.length ? t : undefined;
}

const medianBps = (t: ThroughputResult | undefined) => (t ? median(t.runs.map((x) => x.bps)) : Number.NaN);

/** Median over rounds of A's run ÷ B's run in the same round (both ran in every round, one after the other). */
function pairedRatio(a: ThroughputResult | undefined, b: ThroughputResult | undefined): number {
  if (!a || !b) return Number.NaN;
  const n = Math.min(a.runs.length, b.runs.length);
  const rs: number[] = [];
  for (let i = 0; i < n; i++) rs.push(ratio(a.runs[i]!.bps, b.runs[i]!.bps));
  return rs.length ? median(rs) : Number.NaN;
}

function life(r: ModesReport, key: string): LifecycleResult | undefined {
  const x = r.lifecycle?.find((l) => l.key === key);
  return x && x.create.length ? x : undefined;
}

const verdict = (ok: boolean, v: number) => (!Number.isFinite(v) ? 'not measured' : ok ? 'met' : '**missed**');

export function renderReport(r: ModesReport): string {
  const m = r.machine;
  const out: string[] = [];
  out.push('# Switchyard benchmark: the uplink modes (issue 13)', '');
  out.push('| Machine |  |', '| --- | --- |');
  out.push(`| kernel (\`uname -r\`) | ${m.kernel} |`, `| CPUs (\`nproc\`) | ${m.nproc} |`, `| CPU | ${m.cpu} |`, `| node | ${m.node} |`);
  out.push(`| date | ${m.date} |`, `| command | \`${m.command}\` |`, `| commit | ${m.commit} |`);
  out.push(`| load average before / after (/proc/loadavg, 1 5 15 min) | ${m.loadBefore} / ${m.loadAfter ?? '?'} |`);
  out.push(`| run time | ${m.durationS !== undefined ? `${m.durationS.toFixed(0)} s` : '?'} |`);
  out.push(
    `| settings | iperf3 ${r.rounds} rounds × ${r.iperfSeconds} s per scenario${r.iperfAffinity ? `, pinned (-A ${r.iperfAffinity})` : ', unpinned'}; ${r.lifecycleRounds} endpoint creates per path (+1 warm-up); ${r.netRounds} network creates per mode |`,
  );
  out.push('');
  out.push(
    'The machine has 2 CPUs and other engineers ran their tests on it during this run: every figure is noisy. The compared paths are interleaved (A B A B, the order rotating every round) so that the noise falls on all alike, and the figures are medians (throughput) or p50/p95 (latency).',
    '',
  );

  out.push('## Targets (reported, not asserted)', '');
  out.push(
    'Throughput is judged by the per-round ratio (the median over rounds of the mode\'s run ÷ its baseline\'s run in the same round): the load of the shared machine drifts within a run (whole rounds at half speed), and a ratio of the two medians can then land anywhere; the ratio of medians is shown next to it. Latency is judged by p50 ÷ floor p50.',
    '',
  );
  out.push('| Target | Goal | Measured: per-round ratio | ratio of medians |  |', '| --- | --- | --- | --- | --- |');
  for (const mode of MODES) {
    const a = tput(r, scenarioKey(mode));
    const b = tput(r, BASELINE_OF[mode]);
    const v = pairedRatio(a, b);
    const base = BASELINE_OF[mode] === 'bare-macvlan' ? 'bare macvlan' : 'bare bridged veth';
    out.push(`| throughput ${mode} endpoint → peer / ${base} | ≥ 0.9× | ${fmtRatio(v)} | ${fmtRatio(ratio(medianBps(a), medianBps(b)))} | ${verdict(v >= 0.9, v)} |`);
  }
  for (const mode of MODES) {
    const a = life(r, scenarioKey(mode));
    const f = life(r, `floor-${mode.toLowerCase()}`);
    const v = a && f ? ratio(p50(a.create), p50(f.create)) : Number.NaN;
    const v95 = a && f ? ratio(p95(a.create), p95(f.create)) : Number.NaN;
    out.push(`| endpoint create ${mode}: p50 / floor p50 (p95 / floor p95) | ≤ 1.5× | ${fmtRatio(v)} (${fmtRatio(v95)}) | – | ${verdict(v <= 1.5, v)} |`);
  }
  out.push('');

  out.push('## 1. TCP throughput, endpoint → peer on the fabric (iperf3, single stream)', '');
  out.push(
    `${r.rounds} rounds; in each round every scenario runs one ${r.iperfSeconds} s test, one after the other, the order rotating every round. The figure is the median of the runs; "per-round ratio" is the median over rounds of the mode's run ÷ its baseline's run in the same round.${r.iperfAffinity ? ` Client and server are pinned alike (iperf3 -A ${r.iperfAffinity}).` : ''}`,
    '',
  );
  out.push('| Scenario | runs (Gbit/s) | median (Gbit/s) | vs baseline | per-round ratio | sender CPU % | receiver CPU % |', '| --- | --- | --- | --- | --- | --- | --- |');
  const baselineFor = (key: string): string | undefined => MODES.map((mm) => (scenarioKey(mm) === key ? BASELINE_OF[mm] : undefined)).find((x) => x);
  for (const t of r.throughput ?? []) {
    const base = baselineFor(t.key);
    const vs = base ? fmtRatio(ratio(medianBps(tput(r, t.key)), medianBps(tput(r, base)))) + ` (${base})` : 'baseline';
    const paired = base ? fmtRatio(pairedRatio(tput(r, t.key), tput(r, base))) : '';
    const runs = t.runs.map((x) => fmtGbps(x.bps)).join(', ') + (t.error ? ` (stopped: ${t.error})` : '');
    out.push(
      `| ${t.title} | ${runs || '–'} | ${fmtGbps(medianBps(tput(r, t.key)))} | ${vs} | ${paired} | ${t.runs.length ? median(t.runs.map((x) => x.senderCpu)).toFixed(0) : '–'} | ${t.runs.length ? median(t.runs.map((x) => x.receiverCpu)).toFixed(0) : '–'} |`,
    );
  }
  out.push('');
  out.push(
    '- Every path ends in the same hops: the host\'s adapter is a veth into the fabric bridge `fab0` (another namespace, the "switch"), and the peer is a veth on `fab0` with 10.0.N.1/24 for each subnet, running one `iperf3 -s`.',
    '- **Switchyard Transparent / L2Bridge / L2Tunnel**: hostd in the host namespace, one network per mode, each bound to an adapter of its own (eth1, eth2, eth3: an adapter serves one network) holding the host\'s address 10.0.N.11/24, which hostd moves onto the switch bridge `sy-sw-*`. One endpoint per network (10.0.N.50/24, gateway the peer) made with POST /endpoints; iperf3 client there → 10.0.N.1. L2Bridge and L2Tunnel pass hostd\'s bridge-table rewrite (prerouting) and the netdev egress chain on the adapter; L2Tunnel\'s port is isolated (endpoint → peer needs no hairpin on the fabric).',
    '- **bare macvlan**: `ip link add mv0 link eth4 type macvlan mode bridge`, moved into a namespace with 10.0.4.50/24. **bare bridged veth**: a Linux bridge with eth5 as port and a veth to a namespace with 10.0.5.50/24. Both made by hand in a second host namespace (`bare`) whose adapters eth4/eth5 are the same kind of veth into `fab0`: nftables\' bridge-family hooks see every bridge of a namespace, so a bridge next to hostd\'s would meet hostd\'s anti-spoofing chain and not be bare. No nft table in `bare`.',
    '- Transparent against macvlan is the issue\'s comparison; a macvlan has one hop fewer (no veth pair, no bridge) than any bridge-based path, so it is the ceiling, not a like-for-like path.',
    '- CPU columns are iperf3\'s host_total/remote_total (percent of one CPU; both ends on this machine).',
    '',
  );

  out.push('## 2. Endpoint create (and delete) latency per mode vs the floor', '');
  out.push(
    `${r.lifecycleRounds} rounds after one warm-up round; in each round every path makes and removes one endpoint in a fresh container namespace, paths interleaved with a rotating order (bench/lifecycle/run-lifecycle.ts). p50/p95 interpolate linearly.`,
    '',
  );
  out.push('| Path | n | create p50 (ms) | create p95 (ms) | delete p50 (ms) | delete p95 (ms) | create p50 ÷ floor | create p95 ÷ floor | delete p50 ÷ floor | create p50 ÷ ip-only floor |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const l of r.lifecycle ?? []) {
    const mode = l.key.replace(/^(sy|floor-ip|floor)-/, '');
    const f = life(r, `floor-${mode}`);
    const fip = life(r, `floor-ip-${mode}`);
    const rr = (a: number[], b: number[] | undefined, p: (x: readonly number[]) => number) => (b && a.length ? fmtRatio(ratio(p(a), p(b))) : '–');
    out.push(
      `| ${l.title} | ${l.create.length} | ${fmtMs(p50(l.create))} | ${fmtMs(p95(l.create))} | ${fmtMs(p50(l.remove))} | ${fmtMs(p95(l.remove))} | ${rr(l.create, f?.create, p50)} | ${rr(l.create, f?.create, p95)} | ${rr(l.remove, f?.remove, p50)} | ${rr(l.create, fip?.create, p50)} |${l.error ? ` stopped: ${l.error}` : ''}`,
    );
  }
  const late = (r.lifecycle ?? []).filter((l) => l.createNotReadyAtReturn || l.removeNotDoneAtReturn);
  out.push('');
  out.push(
    late.length
      ? `Not in their final kernel state when the call returned: ${late.map((l) => `${l.key} ${l.createNotReadyAtReturn} creates, ${l.removeNotDoneAtReturn} deletes`).join('; ')}.`
      : 'Every timed create and delete had the kernel in its final state (checked with `ip -j`: eth0 with the address and a default route, or gone) when the call returned.',
    '',
  );
  out.push(
    '- **hostd**: `POST /endpoints` {Name, HostComputeNetwork, HostComputeNamespace, IpConfigurations:[{IpAddress 10.0.N.(100+i), PrefixLength 24}]} on the mode\'s network (the one the throughput endpoint is on) until its 201; delete: `DELETE /endpoints/{id}`. The container namespace is adopted with `POST /namespaces` before and removed with `DELETE /namespaces/{id}` after, untimed. One keep-alive connection.',
    '- **floor**: the kernel calls hostd makes for such an endpoint (read from its `SWITCHYARD_TRACE_COMMANDS=1` trace), by hand, in a floor host namespace per mode with its own switch bridge (the adapter\'s MAC, the adapter as port) and a bridge table shaped like hostd\'s (ep_ok/ep_src/ep_routed/ep_mac sets, ep_by_ip map, the anti-spoofing chain, the mode\'s rewrite chains, the netdev egress chain): `ip -n <host> -batch -` (veth with peer eth0 and the endpoint\'s MAC in the container, master the switch bridge, up; L2Tunnel: `bridge_slave isolated on`), `ip -n <container> -force -batch -` (lo up, address, eth0 up, default route via the peer), `nsenter … nft -f -` adding ep_ok, ep_src, ep_mac (and ep_by_ip for L2Bridge/L2Tunnel) in one transaction; delete: `ip -n <host> link del` + one `nft -f -` deleting the elements. hostd runs nft through libnftables in its process; the floor pays an `nft` exec per transaction (and hostd additionally reads the host\'s addresses with `ip -j -4 addr show` to refuse the host\'s own address).',
    '- **ip-only floor**: the floor without its `nft` transaction (the links, addresses and route alone): a lower bound of the kernel work, since the floor\'s `nft` exec costs more than hostd\'s in-process libnftables call. Not a target; shown so that "hostd ≤ floor" is not read as hostd doing less than the kernel needs.',
    '- Not timed, identical for every path: `ip netns add` of a fresh container namespace before, `ip netns del` after, and the `ip -j` check after each timed call.',
    '',
  );

  out.push('## 3. Network create and delete on an adapter holding the host\'s address (the adapter move)', '');
  out.push(
    `${r.netRounds} rounds; in each round each mode's network is created on eth1 (which holds 10.0.1.11/24 and the host's default route) and deleted again, modes interleaved with a rotating order; before the throughput networks exist. After each create the bench checks (untimed) that eth1 is a port of \`sy-sw-*\` and the bridge has 10.0.1.11 and the default route; after each delete that eth1 has them back and no master.`,
    '',
  );
  out.push('| Network | n | create p50 (ms) | create p95 (ms) | delete p50 (ms) | delete p95 (ms) |', '| --- | --- | --- | --- | --- | --- |');
  for (const n of r.netCreate ?? []) {
    out.push(`| ${n.title} | ${n.create.length} | ${fmtMs(p50(n.create))} | ${fmtMs(p95(n.create))} | ${fmtMs(p50(n.remove))} | ${fmtMs(p95(n.remove))} |${n.error ? ` stopped: ${n.error}` : ''}`);
  }
  out.push('');
  out.push(
    '- **hostd**: `POST /networks` {Type, NetAdapterName eth1, Static 10.0.1.0/24 with the peer as gateway} until its 201; `DELETE /networks/{id}` until its 200 (the adapter given back).',
    '- **floor (the move alone)**: in a floor host namespace whose eth1 holds 10.0.9.11/24 and the default route, one `ip -batch` making the bridge with eth1\'s MAC, adding the address to it, bridge up, eth1 its port, the default route replaced onto the bridge, the address off eth1; delete: one `ip -batch` putting the address back on eth1, nomaster, the route back, the bridge deleted. hostd also reads the adapter\'s state (addresses, routes) before it moves anything, checks the request, loads its nft tables (bridge and, for L2Bridge/L2Tunnel, netdev chains) and persists the record.',
    '',
  );

  out.push(
    '## Seen while writing this benchmark (by hand, not figures of this run)',
    '',
    '- Where a network create\'s time goes, from hostd\'s own trace (`SWITCHYARD_TRACE_COMMANDS=1`, one L2Bridge network created and deleted three times on a quiet two-namespace fabric, ≈ 65 ms create and ≈ 80-105 ms delete by curl there): the adapter move itself is one `ip -batch` of 10-17 ms; around it hostd reads the adapter and the host\'s routes (`ip -j -d addr show dev eth1` twice, `ip -j addr show`, `ip -j -4 route show table all` twice, `ip -j -6 route show`: 5-28 ms each), loads its nft tables (libnftables, 10-45 ms for the first `add table`), and runs five `iptables` processes (`-S FORWARD`, `-D DOCKER-USER …`, `-D FORWARD …`, `-F`, `-X SWITCHYARD-FORWARD`, 4-20 ms each) that remove a Docker-coexistence chain which was never made, since there is no Docker and no FORWARD DROP policy in its namespace. A delete runs the same five `iptables` commands, the same reads, and the give-back `ip -force -batch` (45-65 ms: a link delete is the expensive kernel step here). Checking the chain\'s existence in the `-S` output (or `iptables -S SWITCHYARD-FORWARD` once) would save ~25-60 ms per network create and delete on a host without Docker.',
    '',
  );
  if (r.notes.length) out.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '');
  out.push('## Leak check', '');
  out.push(
    r.leaks.length ? `**Left behind:** ${r.leaks.join(', ')}` : `Clean: no namespace with the run's prefix (\`${r.prefix}\`) and no new root link or table of the run's was left.`,
    '',
  );
  if (r.teardownFailures.length) out.push('Teardown failures:', '', ...r.teardownFailures.map((f) => `- ${f}`), '');
  if (r.interrupted) out.push('**The run was interrupted (SIGINT): figures are partial.**', '');
  return out.join('\n');
}
