/**
 * The one process boundary of Switchyard: every `ip`, `nft`, `tc`, `sysctl`, `iptables` runs through
 * `run`. Arguments are argv arrays (never a shell string), so no user string is ever interpreted by a
 * shell. Namespace-scoped work is done in the child (`ip -n NAME` or `nsenter --net=PATH`), never by switching the
 * namespace of the Node process (libuv's threads make that unsafe).
 */
import { spawn } from 'node:child_process';
import { SyError } from '../errors.js';
import { commandFault, faultTimeoutMs } from '../faults.js';

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

/**
 * Runs argv (optionally inside a network namespace) and resolves with its output.
 * Rejects with SY_KERNEL carrying argv, stdin and stderr when it fails, SY_TIMEOUT when it hangs.
 */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const full = opts.netns ? inNamespace(argv, opts.netns) : [...argv];
  // An injected fault (SWITCHYARD_FAULT, tests only) runs a real process that fails or hangs in its
  // place, so what follows is the path a real failure takes.
  const fault = commandFault(argv);
  const exec = fault === 'fail' ? ['sh', '-c', `echo "switchyard: injected failure of ${argv[0]}" >&2; exit 70`] : fault === 'hang' ? ['sleep', '3600'] : full;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const started = TRACE ? performance.now() : 0;
  return new Promise((resolve, reject) => {
    const child = spawn(exec[0]!, exec.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new SyError('SY_KERNEL', `Cannot run "${full[0]}": ${e.message}`, failure(full, opts, e.message, null)));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (TRACE) process.stderr.write(`run ${(performance.now() - started).toFixed(1)} ms: ${full.join(' ')}\n`);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) {
        reject(new SyError('SY_TIMEOUT', `"${full.join(' ')}" did not finish within ${timeoutMs} ms`, failure(full, opts, stderr, code)));
        return;
      }
      const exitCode = code ?? -1;
      if (exitCode !== 0 && !(opts.okExitCodes ?? []).includes(exitCode)) {
        const detail = stderr.trim().split('\n').slice(0, 6).join('; ') || `exit code ${exitCode}`;
        reject(new SyError('SY_KERNEL', `"${argv.slice(0, 4).join(' ')}" failed: ${detail}`, failure(full, opts, stderr, code)));
        return;
      }
      resolve({ stdout, stderr, exitCode });
    });
    child.stdin.on('error', () => undefined); // the child may exit before reading all of stdin
    child.stdin.end(opts.stdin ?? '');
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
