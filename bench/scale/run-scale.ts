/**
 * Runs (c): hostd's memory with many endpoints, and its restart time. A fresh hostd in its own host
 * namespace gets `scale` detached endpoints (address and TCP port mapping, no namespace, no veth)
 * and `attached` endpoints each in its own namespace; its VmRSS is read from /proc. Then it is
 * stopped with SIGTERM by its pid and started again on the same state directory, timed until
 * GET /healthz answers and until GET /endpoints lists every endpoint.
 */
import type { BenchConfig } from '../lib/config.js';
import { isAttached } from '../lifecycle/kernel-check.js';
import { endpointIp } from '../hostd/client.js';
import { startHostd } from '../hostd/world.js';
import { isAborted, netnsPath } from '../lib/exec.js';
import { addNetns } from '../lib/netns.js';
import type { Teardown } from '../lib/teardown.js';
import { msSince, timed, waitFor } from '../lib/wait.js';

export interface ScaleResult {
  detached: number;
  attached: number;
  idleRssMiB: number;
  createDetachedMs: number;
  createAttachedMs: number;
  rssMiB: number;
  hwmMiB: number;
  listMs: number;
  stopMs: number;
  stopOutcome: string;
  restartHealthyMs: number;
  restartAllListedMs: number;
  rssAfterRestartMiB: number;
  /** attached endpoints whose eth0 still had its address after the restart */
  attachedIntactAfterRestart: number;
  deleteNetworkMs: number;
}

const FIRST_PORT = 10_000;

export async function runScale(cfg: BenchConfig, tmpDir: string, td: Teardown, log: (s: string) => void): Promise<ScaleResult> {
  const detached = cfg.scale;
  const attached = cfg.scaleAttached;
  if (FIRST_PORT + detached + attached > 65_535) throw new Error(`BENCH_SCALE too large: ${detached + attached} host ports do not fit above ${FIRST_PORT}`);
  const hostd = await startHostd(cfg, 'scale', tmpDir, td);
  const api = hostd.client;
  const idle = hostd.memory();
  const net = await api.createNatNetwork('scalenat', '10.78.0.0/16');

  const made = await timed(async () => {
    for (let i = 0; i < detached; i++) {
      if (isAborted()) throw new Error('interrupted');
      await api.createEndpoint(`d${i}`, net.ID, undefined, [{ externalPort: FIRST_PORT + i, internalPort: 80 }]);
      if ((i + 1) % 250 === 0) log(`  (c) ${i + 1}/${detached} detached endpoints`);
    }
  });
  const attachedEps: { netns: string; ip: string }[] = [];
  const madeAttached = await timed(async () => {
    for (let j = 0; j < attached; j++) {
      const netns = await addNetns(`${cfg.prefix}s${j}`, td);
      const ns = await api.createNamespace(netnsPath(netns));
      const ep = await api.createEndpoint(`a${j}`, net.ID, ns.ID, [{ externalPort: FIRST_PORT + detached + j, internalPort: 80 }]);
      attachedEps.push({ netns, ip: endpointIp(ep) });
    }
  });
  log(`  (c) ${attached} attached endpoints`);
  const total = detached + attached;
  const listed = await timed(() => api.listEndpoints(60_000));
  if (listed.value.length < total) throw new Error(`GET /endpoints lists ${listed.value.length} endpoints, expected ${total}`);
  const mem = hostd.memory();

  const stopStart = process.hrtime.bigint();
  const stopOutcome = await hostd.stop(15_000);
  const stopMs = msSince(stopStart);
  const restartStart = process.hrtime.bigint();
  hostd.spawn();
  await hostd.waitHealthy(120_000);
  const restartHealthyMs = msSince(restartStart);
  await waitFor(async () => (await api.listEndpoints(60_000)).length >= total, {
    timeoutMs: 120_000,
    intervalMs: 5,
    what: `hostd to list all ${total} endpoints after restart`,
  });
  const restartAllListedMs = msSince(restartStart);
  const rssAfterRestartMiB = hostd.memory().rssMiB;
  let intact = 0;
  for (const ep of attachedEps) if (await isAttached(ep.netns, ep.ip)) intact++;
  log(`  (c) restart: healthy after ${restartHealthyMs.toFixed(0)} ms, all listed after ${restartAllListedMs.toFixed(0)} ms`);

  const deleted = await timed(() => api.deleteNetwork(net.ID, 300_000));
  return {
    detached,
    attached,
    idleRssMiB: idle.rssMiB,
    createDetachedMs: made.ms,
    createAttachedMs: madeAttached.ms,
    rssMiB: mem.rssMiB,
    hwmMiB: mem.hwmMiB,
    listMs: listed.ms,
    stopMs,
    stopOutcome,
    restartHealthyMs,
    restartAllListedMs,
    rssAfterRestartMiB,
    attachedIntactAfterRestart: intact,
    deleteNetworkMs: deleted.ms,
  };
}
