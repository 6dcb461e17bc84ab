/**
 * The benchmark's settings, read once from the environment, and the paths it works with.
 * Every knob has a default so that `npm run bench` alone produces the full report.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export type Section = 'lifecycle' | 'throughput' | 'scale' | 'docker';

export interface BenchConfig {
  /** timed iterations per path in (a) */
  iterations: number;
  /** iperf3 runs per scenario in (b) */
  iperfRuns: number;
  iperfSeconds: number;
  /**
   * iperf3 -A: the client's CPU and the server's ("0,1" by default on 2+ CPUs, '' unpinned). Unpinned,
   * a single stream's figure depends on whether the scheduler puts both ends on one CPU or two.
   */
  iperfAffinity: string;
  /** detached endpoints in (c); 0 skips (c) */
  scale: number;
  /** attached endpoints (each in its own namespace) in (c) */
  scaleAttached: number;
  sections: Set<Section>;
  /** prefix of every namespace this run creates: a leak check looks for it at the end */
  prefix: string;
  repoRoot: string;
  /** compiled hostd entry point; absent while hostd is being written */
  hostdEntry: string;
  cniDir: string;
  resultsFile: string;
  /** hostd logs (git-ignored) */
  outDir: string;
}

/** A BENCH_* integer setting: `fallback` when unset, else an integer in min..max or a clear error. */
export function intFromEnv(name: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in ${min}..${max}`}, got "${raw}"`);
  return n;
}

function affinityFromEnv(): string {
  const raw = process.env['BENCH_IPERF_AFFINITY'];
  if (raw === undefined) return availableParallelism() >= 2 ? '0,1' : '';
  if (raw !== '' && !/^\d+(,\d+)?$/.test(raw)) throw new Error(`BENCH_IPERF_AFFINITY must be "CPU" or "CPU,CPU" (iperf3 -A), or empty, got "${raw}"`);
  return raw;
}

function sectionsFromEnv(): Set<Section> {
  const all: Section[] = ['lifecycle', 'throughput', 'scale', 'docker'];
  const raw = process.env['BENCH_ONLY'];
  if (!raw) return new Set(all);
  const picked = raw.split(',').map((s) => s.trim());
  for (const s of picked) {
    if (!all.includes(s as Section)) throw new Error(`BENCH_ONLY: unknown section "${s}" (known: ${all.join(', ')})`);
  }
  return new Set(picked as Section[]);
}

export function loadConfig(): BenchConfig {
  // dist/bench/lib/config.js → repository root
  const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
  return {
    iterations: intFromEnv('BENCH_N', 30, 1),
    iperfRuns: intFromEnv('BENCH_IPERF_RUNS', 11, 1),
    iperfSeconds: intFromEnv('BENCH_IPERF_SECONDS', 5, 1),
    iperfAffinity: affinityFromEnv(),
    scale: intFromEnv('BENCH_SCALE', 900, 0),
    scaleAttached: intFromEnv('BENCH_SCALE_ATTACHED', 100, 0),
    sections: sectionsFromEnv(),
    prefix: `sybench-${process.pid}-`,
    repoRoot,
    hostdEntry: join(repoRoot, 'bin/switchyard'),
    cniDir: '/usr/lib/cni',
    resultsFile: join(repoRoot, 'bench/RESULTS.md'),
    outDir: join(repoRoot, 'bench/out'),
  };
}

export function hostdAvailable(cfg: BenchConfig): boolean {
  return existsSync(cfg.hostdEntry);
}
