/**
 * Runs (a): endpoint create + delete through each path, interleaved round by round so that the
 * machine's noise falls on all paths alike. The order rotates every round (A B C, B C A, C A B …)
 * so that no path always runs right after the same neighbour. One untimed warm-up round first.
 *
 * Per iteration and identically for every path: `ip netns add` of a fresh container namespace
 * (untimed), prepare (untimed), create (timed), kernel check, remove (timed), kernel check,
 * release (untimed), `ip netns del` (untimed). If the kernel is not yet in the created/removed state
 * when the call returns (an asynchronous API), the runner polls and also records the time until it is.
 */
import { addNetns, delNetns } from '../lib/netns.js';
import { isAborted } from '../lib/exec.js';
import { msSince, waitFor } from '../lib/wait.js';
import { isAttached, isDetached } from './kernel-check.js';
import type { Teardown } from '../lib/teardown.js';
import type { EndpointPath, Iteration } from './path.js';

export interface LifecycleResult {
  key: string;
  title: string;
  hostNetns: string;
  /** ms until create returned */
  create: number[];
  /** ms until the kernel showed the endpoint (equals create when ready at return) */
  createReady: number[];
  remove: number[];
  removeDone: number[];
  createNotReadyAtReturn: number;
  removeNotDoneAtReturn: number;
  /** why the path stopped early or never ran */
  error?: string;
}

const BASE_PORT = 8080;
const SETTLE_TIMEOUT_MS = 10_000;

export async function runLifecycle(
  paths: EndpointPath[],
  rounds: number,
  prefix: string,
  td: Teardown,
  log: (s: string) => void,
): Promise<LifecycleResult[]> {
  const results = new Map<string, LifecycleResult>();
  for (const p of paths) {
    results.set(p.key, {
      key: p.key,
      title: p.title,
      hostNetns: p.hostNetns,
      create: [],
      createReady: [],
      remove: [],
      removeDone: [],
      createNotReadyAtReturn: 0,
      removeNotDoneAtReturn: 0,
    });
  }
  for (let round = -1; round < rounds && !isAborted(); round++) {
    const order = rotate(paths, round + 1);
    for (const path of order) {
      const r = results.get(path.key)!;
      if (r.error) continue;
      const label = round < 0 ? 'w' : String(round);
      const it: Iteration = {
        label,
        containerNetns: `${prefix}c-${path.key}-${label}`,
        hostPort: BASE_PORT + Math.max(round, 0),
        seq: round + 1,
      };
      try {
        await runIteration(path, it, td, round >= 0 ? r : undefined);
      } catch (e) {
        r.error = `round ${label}: ${e instanceof Error ? e.message : String(e)}`;
        log(`  ${path.key}: stopped: ${r.error}`);
      }
    }
    if (round >= 0 && (round + 1) % 10 === 0) log(`  (a) ${round + 1}/${rounds} rounds`);
  }
  return [...results.values()];
}

async function runIteration(path: EndpointPath, it: Iteration, td: Teardown, into: LifecycleResult | undefined): Promise<void> {
  // registered with the section's teardown too, so an interrupted iteration leaves nothing behind
  await addNetns(it.containerNetns, td);
  try {
    await path.prepare(it);
    try {
      const t0 = process.hrtime.bigint();
      const ep = await path.create(it);
      const createMs = msSince(t0);
      let readyMs = createMs;
      if (!(await isAttached(it.containerNetns, ep.ip))) {
        await waitFor(() => isAttached(it.containerNetns, ep.ip), { timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 2, what: `eth0 with ${ep.ip} in ${it.containerNetns}` });
        readyMs = msSince(t0);
        if (into) into.createNotReadyAtReturn++;
      }
      const t1 = process.hrtime.bigint();
      await path.remove(it, ep);
      const removeMs = msSince(t1);
      let doneMs = removeMs;
      if (!(await isDetached(it.containerNetns))) {
        await waitFor(() => isDetached(it.containerNetns), { timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 2, what: `eth0 gone from ${it.containerNetns}` });
        doneMs = msSince(t1);
        if (into) into.removeNotDoneAtReturn++;
      }
      if (into) {
        into.create.push(createMs);
        into.createReady.push(readyMs);
        into.remove.push(removeMs);
        into.removeDone.push(doneMs);
      }
    } finally {
      await path.release(it);
    }
  } finally {
    await delNetns(it.containerNetns);
  }
}

function rotate<T>(xs: readonly T[], by: number): T[] {
  const k = xs.length ? by % xs.length : 0;
  return [...xs.slice(k), ...xs.slice(0, k)];
}
