/**
 * hostd's side of the command helper (spawner.ts, run by the Bun that npm installed with
 * Switchyard): one long-lived child that starts hostd's commands cheaply. run() hands it each command
 * while it is alive; without Bun, or once the helper has died, run() starts commands itself as
 * before. Every outcome comes back as an Outcome, for run() to judge the same way whoever started it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What happened to one command: it ran (code null: killed by a signal), or it could not start. */
export type Outcome = { stdout: string; stderr: string; code: number | null; timedOut: boolean } | { spawnError: string };

export interface CommandSpec {
  argv: string[];
  stdin: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
}

/** Beyond the command's own timeout (enforced by the helper), how long to wait for the helper's word. */
const HELPER_GRACE_MS = 5_000;

const HERE = dirname(fileURLToPath(import.meta.url));
/** dist/src/dataplane → the repository, where npm put Bun */
const BUN = join(resolve(HERE, '../../..'), 'node_modules/bun/bin/bun.exe');

export class Spawner {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, { resolve: (o: Outcome) => void; timer: NodeJS.Timeout }>();
  private nextId = 1;
  private buffered = '';

  /** Starts the helper; false (and nothing started) when Bun or the helper is not there. */
  start(bun = BUN, script = join(HERE, 'spawner.js'), onExit?: (why: string) => void): boolean {
    if (this.child || !existsSync(bun) || !existsSync(script)) return false;
    // A small heap; and nothing read from where hostd was started: no .env (it would reach every
    // command's environment), no bunfig.toml (it could preload code), hence also cwd /.
    const child = spawn(bun, ['--smol', '--no-env-file', script], { stdio: ['pipe', 'pipe', 'inherit'], cwd: '/' });
    this.child = child;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => this.receive(d));
    child.stdin!.on('error', () => undefined); // a dead helper shows as 'exit' below
    const gone = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.resolve({ spawnError: `the command helper ${why} before answering` });
        this.pending.delete(id);
      }
      onExit?.(why);
    };
    child.on('error', (e) => gone(`failed (${e.message})`));
    child.on('exit', (code, signal) => gone(signal ? `was killed by ${signal}` : `exited with code ${code}`));
    return true;
  }

  get alive(): boolean {
    return this.child !== undefined;
  }

  /** the helper's pid while it runs */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  run(c: CommandSpec): Promise<Outcome> {
    const child = this.child;
    if (!child) return Promise.resolve({ spawnError: 'the command helper is not running' });
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ stdout: '', stderr: 'the command helper did not answer', code: null, timedOut: true });
      }, c.timeoutMs + HELPER_GRACE_MS);
      this.pending.set(id, { resolve, timer });
      child.stdin!.write(JSON.stringify({ id, argv: c.argv, stdin: c.stdin, ...(c.env ? { env: c.env } : {}), timeoutMs: c.timeoutMs }) + '\n');
    });
  }

  /** Closes the helper's stdin: it exits once the commands it started have ended. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.stdin!.end();
    await exited;
  }

  private receive(data: string): void {
    this.buffered += data;
    for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
      const doc = JSON.parse(this.buffered.slice(0, nl)) as { id: number } & Outcome;
      this.buffered = this.buffered.slice(nl + 1);
      const p = this.pending.get(doc.id);
      if (!p) continue; // answered after its grace period ran out
      this.pending.delete(doc.id);
      clearTimeout(p.timer);
      const { id: _id, ...outcome } = doc;
      p.resolve(outcome as Outcome);
    }
  }
}
