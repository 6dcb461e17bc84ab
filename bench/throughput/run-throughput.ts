/**
 * Runs (b): single-stream TCP throughput with iperf3 over each scenario, interleaved run by run
 * (with a rotating order), reporting the median of the runs. Single-stream iperf3 varies ±25%
 * between runs here, hence interleaving and medians rather than single figures.
 */
import { isAborted } from '../lib/exec.js';
import type { Teardown } from '../lib/teardown.js';
import { runIperfClient, startIperfServer, type IperfRun } from './iperf.js';
import type { Scenario } from './topologies.js';

export interface ThroughputResult {
  key: string;
  title: string;
  runs: IperfRun[];
  error?: string;
}

export async function runThroughput(scenarios: Scenario[], runs: number, seconds: number, affinity: string, td: Teardown, log: (s: string) => void): Promise<ThroughputResult[]> {
  const results = new Map<string, ThroughputResult>(scenarios.map((s) => [s.key, { key: s.key, title: s.title, runs: [] }]));
  const servers = new Set<string>();
  for (const s of scenarios) {
    if (servers.has(s.serverNetns)) continue;
    servers.add(s.serverNetns);
    await startIperfServer(s.serverNetns, td);
  }
  for (let run = 0; run < runs && !isAborted(); run++) {
    const order = [...scenarios.slice(run % scenarios.length), ...scenarios.slice(0, run % scenarios.length)];
    for (const s of order) {
      const r = results.get(s.key)!;
      if (r.error || isAborted()) continue;
      try {
        const one = await runIperfClient(s.clientNetns, s.host, s.port, seconds, affinity);
        r.runs.push(one);
        log(`  (b) run ${run + 1}/${runs} ${s.key}: ${(one.bps / 1e9).toFixed(2)} Gbit/s`);
      } catch (e) {
        r.error = e instanceof Error ? e.message : String(e);
        log(`  (b) ${s.key}: stopped: ${r.error}`);
      }
    }
  }
  return [...results.values()];
}
