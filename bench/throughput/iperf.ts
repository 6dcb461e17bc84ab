/**
 * iperf3 as the throughput probe: a server started in one namespace (stopped by its pid), a client
 * run to completion in another, its JSON report reduced to received bits per second and CPU use.
 */
import type { ChildProcess } from 'node:child_process';
import { exec, startProcess, stopProcess } from '../lib/exec.js';
import type { Teardown } from '../lib/teardown.js';
import { waitFor } from '../lib/wait.js';

export const IPERF_PORT = 5201;

/** Starts `iperf3 -s` in `netns` and waits until it listens; the teardown stops it. */
export async function startIperfServer(netns: string, td: Teardown): Promise<ChildProcess> {
  const server = startProcess(['iperf3', '-s', '-p', String(IPERF_PORT)], { netns });
  td.defer(`stop iperf3 server in ${netns}`, async () => {
    await stopProcess(server, 5_000);
  });
  await waitFor(
    async () => {
      if (server.exitCode !== null) throw new Error(`iperf3 -s exited with code ${server.exitCode}`);
      const { stdout } = await exec(['ss', '-Hltn', 'sport', '=', `:${IPERF_PORT}`], { netns });
      return stdout.trim() !== '';
    },
    { timeoutMs: 10_000, intervalMs: 20, what: `iperf3 to listen on port ${IPERF_PORT} in ${netns}` },
  );
  return server;
}

export interface IperfRun {
  /** bits per second received by the server */
  bps: number;
  /** CPU use of the sending host, percent of one CPU summed over all (iperf3's host_total) */
  senderCpu: number;
  receiverCpu: number;
}

interface IperfJson {
  error?: string;
  end?: {
    sum_received?: { bits_per_second?: number };
    cpu_utilization_percent?: { host_total?: number; remote_total?: number };
  };
}

/** Runs one TCP test from `netns` to host:port for `seconds`. */
export async function runIperfClient(netns: string, host: string, port: number, seconds: number, affinity = ''): Promise<IperfRun> {
  const argv = ['iperf3', '-c', host, '-p', String(port), '-t', String(seconds), '-J', ...(affinity ? ['-A', affinity] : [])];
  const { stdout } = await exec(argv, { netns, timeoutMs: (seconds + 30) * 1000, okCodes: [1] });
  const report = JSON.parse(stdout) as IperfJson;
  if (report.error) throw new Error(`iperf3 from ${netns} to ${host}:${port}: ${report.error}`);
  const bps = report.end?.sum_received?.bits_per_second;
  if (bps === undefined) throw new Error(`iperf3 from ${netns} to ${host}:${port}: no end.sum_received in its report`);
  return {
    bps,
    senderCpu: report.end?.cpu_utilization_percent?.host_total ?? Number.NaN,
    receiverCpu: report.end?.cpu_utilization_percent?.remote_total ?? Number.NaN,
  };
}
