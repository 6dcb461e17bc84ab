/**
 * The benchmark's process boundary: runs argv arrays (never a shell string), optionally inside a
 * network namespace through `nsenter --net`, with a bounded run time. Once the run is aborted
 * (Ctrl-C) no long-running process and no namespace is created any more (see netns.ts), so a
 * teardown in progress is not raced by fresh objects; short commands still run, teardown needs them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import type { SyError } from '../../src/errors.js';
import { run } from '../../src/dataplane/run.js';

export interface ExecOptions {
  stdin?: string;
  /** namespace name under /run/netns; the command runs there via nsenter */
  netns?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** exit codes other than 0 that are not failures */
  okCodes?: number[];
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class ExecError extends Error {
  constructor(
    message: string,
    readonly argv: readonly string[],
    readonly stdout: string,
    readonly stderr: string,
    readonly code: number | null,
  ) {
    super(message);
    this.name = 'ExecError';
  }
}

let aborted = false;

/** Refuse to create anything further (called when the run is interrupted). */
export function abortExec(): void {
  aborted = true;
}

export function isAborted(): boolean {
  return aborted;
}

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

function withNetns(argv: readonly string[], netns: string | undefined): string[] {
  return netns ? ['nsenter', `--net=${netnsPath(netns)}`, '--', ...argv] : [...argv];
}

/**
 * Runs argv to completion through Switchyard's own process boundary (src/dataplane/run.ts);
 * rejects with ExecError on a failure exit code or a timeout.
 */
export async function exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  try {
    const r = await run(argv, {
      ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}),
      ...(opts.netns ? { netns: netnsPath(opts.netns) } : {}),
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.okCodes ? { okExitCodes: opts.okCodes } : {}),
      timeoutMs: opts.timeoutMs ?? 30_000,
    });
    return { stdout: r.stdout, stderr: r.stderr, code: r.exitCode };
  } catch (e) {
    const err = e as SyError;
    const cmd = err.command;
    throw new ExecError(err.message, cmd?.argv ?? [...argv], '', cmd?.stderr ?? '', cmd?.exitCode ?? null);
  }
}

export interface BackgroundOptions {
  netns?: string;
  cwd?: string;
  /** file receiving stdout and stderr; absent = discarded */
  logFile?: string;
}

/** Starts a long-running process (hostd, iperf3 -s); the caller stops it with stopProcess. */
export function startProcess(argv: readonly string[], opts: BackgroundOptions = {}): ChildProcess {
  if (aborted) throw new Error(`Not starting "${argv[0]}": the run was interrupted`);
  const full = withNetns(argv, opts.netns);
  const fd = opts.logFile ? openSync(opts.logFile, 'a') : 'ignore';
  try {
    const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', fd, fd], cwd: opts.cwd });
    child.on('error', () => undefined); // reported through exitCode / a failed readiness wait
    return child;
  } finally {
    if (typeof fd === 'number') closeSync(fd);
  }
}

/** True once the child has exited (or could not start). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null || child.pid === undefined;
}

/**
 * Stops a child by its own pid: SIGTERM, then SIGKILL if it has not exited within `graceMs`.
 * Resolves with how it ended. Safe to call twice.
 */
export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<'exited' | 'killed'> {
  if (hasExited(child)) return 'exited';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const inTime = await Promise.race([exited.then(() => true), delay(graceMs).then(() => false)]);
  if (inTime) return 'exited';
  child.kill('SIGKILL');
  await Promise.race([exited, delay(5_000)]);
  return 'killed';
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
