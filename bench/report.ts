/**
 * Renders bench/RESULTS.md from one run's figures: the machine, the command, the targets next to
 * the measured ratios (reported, never asserted), then the tables of (a), (b) and (c) and how each
 * figure was taken.
 */
import type { LifecycleResult } from './lifecycle/run-lifecycle.js';
import type { ScaleResult } from './scale/run-scale.js';
import type { ThroughputResult } from './throughput/run-throughput.js';
import type { Machine } from './lib/machine.js';
import { fmtGbps, fmtMs, fmtRatio, median, percentile, ratio } from './lib/stats.js';

export type { Machine } from './lib/machine.js';

export interface BenchReport {
  machine: Machine;
  iterations: number;
  iperfRuns: number;
  iperfSeconds: number;
  iperfAffinity: string;
  prefix: string;
  /** why hostd's figures are missing, when they are */
  hostdNote?: string;
  lifecycle?: LifecycleResult[];
  throughput?: ThroughputResult[];
  scale?: ScaleResult;
  scaleNote?: string;
  leaks: string[];
  teardownFailures: string[];
  interrupted: boolean;
}

interface TargetRow {
  what: string;
  goal: string;
  measured: number;
  show: (v: number) => string;
  met: (v: number) => boolean;
}

const MIB = 1024 * 1024;
const mb = (mib: number) => ((mib * MIB) / 1e6).toFixed(1);
const p50 = (xs: readonly number[]) => percentile(xs, 50);
const p90 = (xs: readonly number[]) => percentile(xs, 90);

function lifecycleOf(r: BenchReport, key: string): LifecycleResult | undefined {
  const x = r.lifecycle?.find((l) => l.key === key);
  return x && x.create.length ? x : undefined;
}

function throughputOf(r: BenchReport, key: string): number {
  const t = r.throughput?.find((x) => x.key === key);
  return t && t.runs.length ? median(t.runs.map((x) => x.bps)) : Number.NaN;
}

function targets(r: BenchReport): TargetRow[] {
  const h = lifecycleOf(r, 'hostd');
  const c = lifecycleOf(r, 'cni');
  const f = lifecycleOf(r, 'floor');
  const nan = Number.NaN;
  const bridge = throughputOf(r, 'bridge');
  const x = (v: number) => fmtRatio(v);
  return [
    { what: 'create p50 / floor create p50', goal: '≤ 1.5×', measured: h && f ? ratio(p50(h.create), p50(f.create)) : nan, show: x, met: (v) => v <= 1.5 },
    { what: 'create p50 / CNI chain create p50', goal: '≤ 0.35×', measured: h && c ? ratio(p50(h.create), p50(c.create)) : nan, show: x, met: (v) => v <= 0.35 },
    { what: 'delete p50 / floor delete p50', goal: '≤ 1.5×', measured: h && f ? ratio(p50(h.remove), p50(f.remove)) : nan, show: x, met: (v) => v <= 1.5 },
    { what: 'throughput endpoint → endpoint / bare bridge', goal: '≥ 0.9×', measured: ratio(throughputOf(r, 'hostd-e2e'), bridge), show: x, met: (v) => v >= 0.9 },
    { what: 'throughput outside → published port / bare bridge', goal: '≥ 0.9×', measured: ratio(throughputOf(r, 'hostd-published'), bridge), show: x, met: (v) => v >= 0.9 },
    {
      what: `hostd VmRSS with ${r.scale ? r.scale.detached + r.scale.attached : '1,000'} endpoints`,
      goal: '≤ 120 MB (10⁶ bytes)',
      measured: r.scale?.rssMiB ?? nan,
      show: (v) => `${mb(v)} MB (${v.toFixed(1)} MiB)`,
      met: (v) => (v * MIB) / 1e6 <= 120,
    },
    { what: 'restart until /healthz and all endpoints listed', goal: '≤ 10 s', measured: r.scale ? r.scale.restartAllListedMs / 1000 : nan, show: (v) => `${v.toFixed(2)} s`, met: (v) => v <= 10 },
  ];
}

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

function renderTargets(r: BenchReport): string {
  const rows = targets(r).map((t) => [
    t.what,
    t.goal,
    Number.isFinite(t.measured) ? t.show(t.measured) : 'not measured',
    Number.isFinite(t.measured) ? (t.met(t.measured) ? 'met' : '**missed**') : '–',
  ]);
  return table(['Target', 'Goal', 'Measured', ''], rows);
}

function renderLifecycle(r: BenchReport): string {
  const ls = r.lifecycle ?? [];
  const f = lifecycleOf(r, 'floor');
  const c = lifecycleOf(r, 'cni');
  const rows = ls.map((l) => {
    const ok = l.create.length > 0;
    const cell = (xs: number[], p: (xs: readonly number[]) => number) => (ok ? fmtMs(p(xs)) : '–');
    return [
      l.title,
      String(l.create.length),
      cell(l.create, p50),
      cell(l.create, p90),
      cell(l.remove, p50),
      cell(l.remove, p90),
      ok && f ? fmtRatio(ratio(p50(l.create), p50(f.create))) : '–',
      ok && c ? fmtRatio(ratio(p50(l.create), p50(c.create))) : '–',
      ok && f ? fmtRatio(ratio(p50(l.remove), p50(f.remove))) : '–',
    ];
  });
  const out = [
    table(
      ['Path', 'n', 'create p50 (ms)', 'create p90 (ms)', 'delete p50 (ms)', 'delete p90 (ms)', 'create ÷ floor', 'create ÷ CNI', 'delete ÷ floor'],
      rows,
    ),
  ];
  for (const l of ls) {
    if (l.createNotReadyAtReturn || l.removeNotDoneAtReturn) {
      out.push(
        `\n${l.key}: the kernel was not yet in the final state when the call returned in ${l.createNotReadyAtReturn} creates and ` +
          `${l.removeNotDoneAtReturn} deletes; until it was: create p50 ${fmtMs(p50(l.createReady))} ms / p90 ${fmtMs(p90(l.createReady))} ms, ` +
          `delete p50 ${fmtMs(p50(l.removeDone))} ms / p90 ${fmtMs(p90(l.removeDone))} ms (polled every 2 ms, so these include polling cost).`,
      );
    }
    if (l.error) out.push(`\n${l.key}: **stopped early**: ${l.error}`);
  }
  if (ls.some((l) => l.create.length) && ls.every((l) => !l.createNotReadyAtReturn && !l.removeNotDoneAtReturn)) {
    out.push('\nEvery timed create and delete had the kernel in its final state (checked with `ip -j`) when the call returned.');
  }
  return out.join('\n');
}

function renderThroughput(r: BenchReport): string {
  const ts = r.throughput ?? [];
  const bridge = throughputOf(r, 'bridge');
  const rows = ts.map((t) => {
    const med = t.runs.length ? median(t.runs.map((x) => x.bps)) : Number.NaN;
    return [
      t.title,
      t.runs.map((x) => fmtGbps(x.bps)).join(', ') || '–',
      fmtGbps(med),
      fmtRatio(ratio(med, bridge)),
      t.runs.length ? median(t.runs.map((x) => x.senderCpu)).toFixed(0) : '–',
      t.runs.length ? median(t.runs.map((x) => x.receiverCpu)).toFixed(0) : '–',
    ];
  });
  const out = [table(['Scenario', 'runs (Gbit/s)', 'median (Gbit/s)', 'vs bare bridge', 'sender CPU % (median)', 'receiver CPU % (median)'], rows)];
  for (const t of ts) if (t.error) out.push(`\n${t.key}: **stopped early**: ${t.error}`);
  return out.join('\n');
}

function renderScale(s: ScaleResult): string {
  const mib = (v: number) => `${v.toFixed(1)} MiB (${mb(v)} MB)`;
  const ms = (v: number) => `${fmtMs(v)} ms`;
  const total = s.detached + s.attached;
  return [
    `What was done: ${s.detached} detached endpoints (address + one TCP port mapping each, no namespace, no veth) and ` +
      `${s.attached} attached endpoints (each in its own namespace made by the bench and adopted via POST /namespaces, ` +
      `with a veth and one TCP port mapping), all on one NAT network, created one request at a time by a fresh hostd.`,
    '',
    table(
      ['Figure', 'Value'],
      [
        ['VmRSS, idle (before the network)', mib(s.idleRssMiB)],
        [`create ${s.detached} detached endpoints (total)`, ms(s.createDetachedMs)],
        [`create ${s.attached} attached endpoints (total, incl. ip netns add + POST /namespaces)`, ms(s.createAttachedMs)],
        [`VmRSS with ${total} endpoints`, mib(s.rssMiB)],
        ['VmHWM (peak) at that point', mib(s.hwmMiB)],
        [`GET /endpoints (${total} documents)`, ms(s.listMs)],
        [`SIGTERM → exit (${s.stopOutcome})`, ms(s.stopMs)],
        ['restart: spawn → GET /healthz 200', ms(s.restartHealthyMs)],
        ['restart: spawn → all endpoints listed', ms(s.restartAllListedMs)],
        ['VmRSS after restart', mib(s.rssAfterRestartMiB)],
        ['attached endpoints with eth0 + address intact after restart', `${s.attachedIntactAfterRestart}/${s.attached}`],
        [`DELETE /networks (cascade over ${total} endpoints)`, ms(s.deleteNetworkMs)],
      ],
    ),
  ].join('\n');
}

export function renderReport(r: BenchReport): string {
  const m = r.machine;
  const parts: string[] = [
    '# Switchyard benchmark (issue 2)',
    '',
    r.interrupted ? '**This run was interrupted (SIGINT); figures are partial.**\n' : '',
    table(
      ['Machine', ''],
      [
        ['kernel (`uname -r`)', m.kernel],
        ['CPUs (`nproc`)', m.nproc],
        ['CPU', m.cpu],
        ['node', m.node],
        ['date', m.date],
        ['command', `\`${m.command}\``],
        ['commit', m.commit],
        ['settings', `N=${r.iterations} rounds (+1 warm-up), iperf3 ${r.iperfRuns}×${r.iperfSeconds} s per scenario${r.iperfAffinity ? `, pinned (-A ${r.iperfAffinity})` : ', unpinned'}`],
      ],
    ),
    '',
    '## Targets (reported, not asserted)',
    '',
    renderTargets(r),
    '',
  ];
  if (r.hostdNote) parts.push(`hostd: ${r.hostdNote}`, '');
  parts.push('## (a) Endpoint create + attach with one TCP port mapping (host 8080+i → 80), and delete', '');
  if (r.lifecycle) {
    parts.push(
      `${r.iterations} rounds after one warm-up round; in each round every path makes and removes one endpoint, ` +
        'paths interleaved with a rotating order (A B C, B C A, C A B …). p50/p90 interpolate linearly.',
      '',
      renderLifecycle(r),
      '',
      'What is timed (wall clock around the call, in the bench process):',
      '- **hostd**: `POST /endpoints` (network + namespace id + PortMapping policy) until its 201; delete: `DELETE /endpoints/{id}` until its 200. ' +
        'The container namespace is adopted with `POST /namespaces` before, and `DELETE /namespaces/{id}` after, both untimed. One keep-alive connection.',
      '- **CNI chain**: `nsenter --net=<cni host ns> /usr/lib/cni/bridge` ADD (which runs host-local), then portmap ADD with prevResult and ' +
        'runtimeConfig.portMappings; delete: portmap DEL then bridge DEL, each given the cached result as prevResult (as libcni does). ' +
        'The conflist is the brief\'s plus `"routes":[{"dst":"0.0.0.0/0"}]` in ipam, so that the container gets a default route as with hostd and the floor.',
      '- **floor**: `ip -n <host> -batch -` (veth add with peer eth0 in the container ns, master bridge, up), `ip -n <container> -batch -` ' +
        '(address, link up, default route), `nsenter … nft -f -` adding one element to a prepared DNAT map; delete: `ip -n <host> link del` + ' +
        'one `nft` element delete. The floor pays one nsenter exec per nft call that a hostd running inside its namespace does not.',
      '- Not timed, identical for every path: `ip netns add` of a fresh container namespace (+ `lo` up) before, `ip netns del` after, and a ' +
        'check with `ip -j` after each timed call that eth0 has the endpoint address and a default route (after create) or is gone (after delete).',
      '- Each path works in its own bench host namespace (' +
        (r.lifecycle.map((l) => `\`${l.hostNetns}\``).join(', ') || '–') +
        '), so bridges, iptables/nft rules and ports never collide.',
      '',
    );
  } else parts.push('Not run.', '');
  parts.push('## (b) TCP throughput (iperf3, single stream)', '');
  if (r.throughput) {
    parts.push(
      `${r.iperfRuns} runs of ${r.iperfSeconds} s per scenario, interleaved with a rotating order; the figure is the median. ${r.iperfAffinity ? `Every scenario's client and server are pinned alike (iperf3 -A ${r.iperfAffinity}: client on the first CPU, server on the second), so the scheduler's placement of the two ends does not move the figures.` : 'Unpinned: the scheduler places the two ends.'}`,
      '',
      renderThroughput(r),
      '',
      '- endpoint → endpoint: iperf3 client in one hostd endpoint namespace to the other endpoint\'s address (same NAT network, via hostd\'s bridge and nft table).',
      '- outside → published: an "outside" namespace (198.18.0.2/24) veth\'d to hostd\'s host namespace (198.18.0.1/24); the client dials ' +
        '198.18.0.1:15201, published by hostd to the server endpoint\'s port 5201.',
      '- bare veth: two namespaces, one veth pair, no bridge, no nft. bare bridge: two namespaces veth\'d to a Linux bridge in a third, no nft.',
      '- CPU columns are iperf3\'s host_total/remote_total (percent of one CPU, both ends on this same machine).',
      '',
    );
  } else parts.push('Not run.', '');
  parts.push('## (c) hostd memory and restart', '');
  if (r.scale) parts.push(renderScale(r.scale), '');
  else parts.push(r.scaleNote ?? 'Not run.', '');
  parts.push('## Leak check', '');
  parts.push(
    r.leaks.length
      ? `**Leaked (then removed by the final sweep):** ${r.leaks.map((l) => `\`${l}\``).join(', ')}`
      : `No namespace with the run's prefix \`${r.prefix}\` remained, and no link or nft table of the run appeared in the root namespace.`,
  );
  if (r.teardownFailures.length) parts.push('', 'Teardown problems:', ...r.teardownFailures.map((f) => `- ${f}`));
  return parts.filter((p, i, a) => !(p === '' && a[i - 1] === '')).join('\n') + '\n';
}
