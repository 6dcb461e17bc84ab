/**
 * hostd as the benchmark runs it: started inside a bench "host" namespace with nsenter (which execs
 * node in place, so the pid we hold is hostd's own), ready once GET /healthz answers, stopped by its
 * pid. Also reads its resident memory from /proc.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasExited, startProcess, stopProcess } from '../lib/exec.js';
import { msSince, waitFor } from '../lib/wait.js';
import { HostdClient } from './client.js';

export interface HostdOptions {
  /** the CLI as users run it (bin/switchyard) */
  entry: string;
  repoRoot: string;
  netns: string;
  stateDir: string;
  logFile: string;
}

export class HostdProcess {
  readonly socketPath: string;
  readonly client: HostdClient;
  private child: ChildProcess | undefined;

  constructor(readonly opts: HostdOptions) {
    this.socketPath = join(opts.stateDir, 'hns.sock');
    this.client = new HostdClient(this.socketPath);
  }

  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined || !this.child || hasExited(this.child)) throw new Error('hostd is not running');
    return pid;
  }

  /** Spawns hostd; the caller waits for readiness separately so that a restart can be timed. */
  spawn(): void {
    if (this.child && !hasExited(this.child)) throw new Error('hostd is already running');
    // bin/switchyard itself, so hostd runs with the node flags a user's hostd gets.
    const argv = [this.opts.entry, 'hostd', '--state-dir', this.opts.stateDir, '--socket', this.socketPath];
    this.child = startProcess(argv, { netns: this.opts.netns, cwd: this.opts.repoRoot, logFile: this.opts.logFile });
  }

  /** Waits until GET /healthz answers ok; fails early if hostd exits. Resolves with the wait in ms. */
  async waitHealthy(timeoutMs = 30_000): Promise<number> {
    const start = process.hrtime.bigint();
    const outcome = await waitFor(
      async () => {
        if (!this.child || hasExited(this.child)) return 'exited' as const;
        return (await this.client.healthy()) ? ('healthy' as const) : undefined;
      },
      { timeoutMs, intervalMs: 5, what: `hostd to answer GET /healthz on ${this.socketPath} (log: ${this.opts.logFile})` },
    );
    if (outcome === 'exited') {
      throw new Error(`hostd exited (code ${this.child?.exitCode}, signal ${this.child?.signalCode}); see ${this.opts.logFile}`);
    }
    return msSince(start);
  }

  async start(): Promise<void> {
    this.spawn();
    await this.waitHealthy();
  }

  /** SIGTERM by pid (SIGKILL after the grace period); safe when not running. */
  async stop(graceMs = 15_000): Promise<'exited' | 'killed' | 'not running'> {
    this.client.close();
    if (!this.child) return 'not running';
    return stopProcess(this.child, graceMs);
  }

  /** VmRSS and VmHWM of hostd in MiB, from /proc/<pid>/status (hostd has no long-lived child). */
  memory(): { rssMiB: number; hwmMiB: number } {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const mib = (field: string): number => {
      const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
      if (!m) throw new Error(`No ${field} in /proc/${this.pid}/status`);
      return Number(m[1]) / 1024;
    };
    return { rssMiB: mib('VmRSS'), hwmMiB: mib('VmHWM') };
  }

  /** The program the pid runs (should be node: nsenter execs in place). */
  comm(): string {
    return readFileSync(`/proc/${this.pid}/comm`, 'utf8').trim();
  }
}
