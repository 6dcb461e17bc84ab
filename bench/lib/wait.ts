/**
 * Bounded waits for a condition (a socket answers, a port listens, a link is gone). There are no
 * fixed sleeps in the benchmark: every wait polls a condition and gives up after a deadline.
 */

export interface WaitOptions {
  timeoutMs: number;
  /** pause between two checks */
  intervalMs?: number;
  /** what is awaited, for the error message */
  what: string;
}

export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Calls `check` until it returns a value other than undefined/false, and resolves with that value.
 * A check that throws counts as "not yet". Rejects once `timeoutMs` has passed, quoting the last error.
 */
export async function waitFor<T>(check: () => Promise<T | undefined | false>, opts: WaitOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() >= deadline) {
      throw new Error(`Gave up waiting for ${opts.what} after ${opts.timeoutMs} ms${lastError ? `: ${lastError}` : ''}`);
    }
    await pause(opts.intervalMs ?? 20);
  }
}

/** Milliseconds elapsed since `start` (a process.hrtime.bigint() reading). */
export function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Runs `fn` and resolves with its result and how long it took in milliseconds. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { value, ms: msSince(start) };
}
