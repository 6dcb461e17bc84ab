/**
 * The process boundary of Switchyard: every `ip`, `tc`, `sysctl`, `iptables` runs through `run`, and
 * `nft` too where libnftables cannot be loaded (nft-lib.ts). Arguments are argv arrays (never a shell
 * string), so no user string is ever interpreted by a shell. Namespace-scoped work is done in the
 * child (`ip -n NAME` or `nsenter --net=PATH`), never by switching the namespace of the Node process
 * (libuv's threads make that unsafe). Commands are started with posix_spawn (posix-spawn.ts), or by
 * Node's spawn where that cannot be loaded (or SWITCHYARD_SPAWN=node): the same contract either way.
 */
import { spawn } from 'node:child_process';
import { SyError } from '../errors.js';
import { commandFault, faultTimeoutMs } from '../faults.js';
import { posixSpawnAvailable, spawnPosix } from './posix-spawn.js';

/** What happened to one command: it ran (code null: killed by a signal), or it could not start. */
export type Outcome = { stdout: string; stderr: string; code: number | null; timedOut: boolean } | { spawnError: string };

export interface CommandSpec {
  argv: string[];
  stdin: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
}

export interface RunOptions {
  /** Text fed to the command's standard input (nft -f -, ip -batch -). */
  stdin?: string;
  /** Path of a network namespace to run in (e.g. /run/netns/x); absent = hostd's own namespace. */
  netns?: string;
  /** Milliseconds before the command is killed; a hanging kernel tool must not hang hostd. */
  timeoutMs?: number;
  /** Exit codes other than 0 that are not failures (e.g. `iptables -C` answering "no such rule"). */
  okExitCodes?: number[];
  /** Environment of the command (default: hostd's own). */
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const DEFAULT_TIMEOUT_MS = faultTimeoutMs ?? 15_000;
/** SWITCHYARD_TRACE_COMMANDS=1 logs every command with its duration on stderr. */
const TRACE = process.env.SWITCHYARD_TRACE_COMMANDS === '1';

let nodeOnly = false;

/** How commands are started here: 'posix_spawn', or 'node' (Node's spawn). */
export function spawnMethod(): 'posix_spawn' | 'node' {
  return !nodeOnly && posixSpawnAvailable() ? 'posix_spawn' : 'node';
}

/** Tests: start commands with Node's spawn (true) or the default way again (false). */
export function useNodeSpawn(on: boolean): void {
  nodeOnly = on;
}

/**
 * Runs argv (optionally inside a network namespace) and resolves with its output.
 * Rejects with SY_KERNEL carrying argv, stdin and stderr when it fails, SY_TIMEOUT when it hangs.
 */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const full = opts.netns ? inNamespace(argv, opts.netns) : [...argv];
  // An injected fault (SWITCHYARD_FAULT, tests only) runs a real process that fails or hangs in its
  // place, so what follows is the path a real failure takes.
  const fault = commandFault(argv);
  const exec = fault === 'fail' ? ['sh', '-c', `echo "switchyard: injected failure of ${argv[0]}" >&2; exit 70`] : fault === 'hang' ? ['sleep', '3600'] : full;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const started = TRACE ? performance.now() : 0;
  const spec: CommandSpec = { argv: exec, stdin: opts.stdin ?? '', timeoutMs, ...(opts.env ? { env: opts.env } : {}) };
  const o = spawnMethod() === 'posix_spawn' ? await spawnPosix(spec) : await spawnHere(spec);
  if (TRACE) process.stderr.write(`run ${(performance.now() - started).toFixed(1)} ms: ${full.join(' ')}\n`);
  if ('spawnError' in o) throw new SyError('SY_KERNEL', `Cannot run "${full[0]}": ${o.spawnError}`, failure(full, opts, o.spawnError, null));
  if (o.timedOut) throw new SyError('SY_TIMEOUT', `"${full.join(' ')}" did not finish within ${timeoutMs} ms`, failure(full, opts, o.stderr, o.code));
  const exitCode = o.code ?? -1;
  if (exitCode !== 0 && !(opts.okExitCodes ?? []).includes(exitCode)) {
    const detail = o.stderr.trim().split('\n').slice(0, 6).join('; ') || `exit code ${exitCode}`;
    throw new SyError('SY_KERNEL', `"${argv.slice(0, 4).join(' ')}" failed: ${detail}`, failure(full, opts, o.stderr, o.code));
  }
  return { stdout: o.stdout, stderr: o.stderr, exitCode };
}

/** Starts the command with Node's spawn (libuv forks this process). */
function spawnHere(c: CommandSpec): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(c.argv[0]!, c.argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: c.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, c.timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ spawnError: e.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code, timedOut });
    });
    child.stdin.on('error', () => undefined); // the child may exit before reading all of stdin
    child.stdin.end(c.stdin);
  });
}

/**
 * argv run inside a network namespace: `ip` and `tc` switch by themselves to a namespace named under /run/netns
 * (one exec less than nsenter, ~1 ms); anything else runs under nsenter.
 */
function inNamespace(argv: readonly string[], netns: string): string[] {
  const named = /^\/run\/netns\/([^/]+)$/.exec(netns);
  if ((argv[0] === 'ip' || argv[0] === 'tc') && named) return [argv[0], '-n', named[1]!, ...argv.slice(1)];
  return ['nsenter', `--net=${netns}`, '--', ...argv];
}

function failure(argv: string[], opts: RunOptions, stderr: string, exitCode: number | null) {
  return { argv, ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}), stderr, exitCode };
}
