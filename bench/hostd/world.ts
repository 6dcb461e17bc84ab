/**
 * A running hostd in its own bench host namespace with one NAT network, shared by (a) and (b).
 * Everything it creates is undone through the given teardown: hostd is stopped by its pid before
 * its namespace and state directory go.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchConfig } from '../lib/config.js';
import { addNetns } from '../lib/netns.js';
import type { Teardown } from '../lib/teardown.js';
import { HostdProcess } from './process.js';

export interface HostdWorld {
  hostd: HostdProcess;
  netns: string;
  networkId: string;
}

export const BENCH_NETWORK = { name: 'benchnat', subnet: '10.78.0.0/16' };

/** Starts hostd in namespace `<prefix><suffix>` with a fresh state dir under `tmpDir`. */
export async function startHostd(cfg: BenchConfig, suffix: string, tmpDir: string, td: Teardown): Promise<HostdProcess> {
  const netns = await addNetns(cfg.prefix + suffix, td);
  const stateDir = join(tmpDir, `state-${suffix}`);
  mkdirSync(stateDir, { recursive: true });
  td.defer(`remove ${stateDir}`, async () => rmSync(stateDir, { recursive: true, force: true }));
  mkdirSync(cfg.outDir, { recursive: true });
  const hostd = new HostdProcess({
    entry: cfg.hostdEntry,
    repoRoot: cfg.repoRoot,
    netns,
    stateDir,
    logFile: join(cfg.outDir, `hostd-${process.pid}-${suffix}.log`),
  });
  td.defer(`stop hostd in ${netns}`, async () => {
    await hostd.stop();
  });
  await hostd.start();
  return hostd;
}

/** hostd plus the bench NAT network (10.78.0.0/16). */
export async function startHostdWorld(cfg: BenchConfig, tmpDir: string, td: Teardown): Promise<HostdWorld> {
  const hostd = await startHostd(cfg, 'hostd', tmpDir, td);
  const net = await hostd.client.createNatNetwork(BENCH_NETWORK.name, BENCH_NETWORK.subnet);
  return { hostd, netns: hostd.opts.netns, networkId: net.ID };
}
