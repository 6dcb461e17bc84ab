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

  /**
   * VmRSS and VmHWM in MiB, from /proc/<pid>/status, of hostd and its command helper (the long-lived
   * Bun child that starts its commands: part of what hostd costs the host), and the helper's share.
   */
  memory(): { rssMiB: number; hwmMiB: number; helperRssMiB: number } {
    const kib = (pid: number, field: string): number => {
      const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (!m) throw new Error(`No ${field} in /proc/${pid}/status`);
      return Number(m[1]);
    };
    const children = readFileSync(`/proc/${this.pid}/task/${this.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    const helpers = children.filter((c) => {
      try {
        return readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('spawner.js');
      } catch {
        return false; // a command that ended meanwhile
      }
    });
    const helperKiB = helpers.reduce((sum, c) => sum + kib(c, 'VmRSS'), 0);
    return { rssMiB: (kib(this.pid, 'VmRSS') + helperKiB) / 1024, hwmMiB: (kib(this.pid, 'VmHWM') + helperKiB) / 1024, helperRssMiB: helperKiB / 1024 };
  }

  /** The program the pid runs (should be node: nsenter execs in place). */
  comm(): string {
    return readFileSync(`/proc/${this.pid}/comm`, 'utf8').trim();
  }
}
