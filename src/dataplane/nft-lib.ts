/**
 * nft scripts run through libnftables inside hostd's process (the library the `nft` tool is made of,
 * called with koffi), with one context kept open, instead of one `nft` process per transaction.
 * Measured here: an element added or a chain refilled costs 0.2-2 ms this way against 5-16 ms for an
 * `nft -f -` process (its exec, its netlink socket, its whole cache dumped anew each time).
 *
 * A context is not thread-safe: calls run one at a time, on libuv's thread pool (the event loop
 * stays free while a large table loads). A call still running after its timeout is abandoned with its
 * context (a call into the kernel cannot be cancelled); the next call opens a new one. Where the
 * library cannot be loaded, each script runs as an `nft` process, with the same results and errors.
 */
import { createRequire } from 'node:module';
import { SyError } from '../errors.js';
import { commandFault, faultTimeoutMs } from '../faults.js';
import { run } from './run.js';

/** What a script printed and whether it succeeded (`nft` exited 0). */
export interface NftResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

const NFT_CTX_OUTPUT_JSON = 1 << 4;
/** protocols as numbers (nft -p): element keys are read back the way the planner writes them */
const NFT_CTX_OUTPUT_NUMERIC_PROTO = 1 << 7;
const DEFAULT_TIMEOUT_MS = faultTimeoutMs ?? 15_000;
/** SWITCHYARD_TRACE_COMMANDS=1 logs every call with its duration on stderr, as run() does. */
const TRACE = process.env['SWITCHYARD_TRACE_COMMANDS'] === '1';

interface Lib {
  newCtx(): unknown;
  setFlags(ctx: unknown, flags: number): void;
  runAsync(ctx: unknown, script: string, cb: (err: unknown, rc: number) => void): void;
  output(ctx: unknown): string;
  error(ctx: unknown): string;
}

function loadLib(): Lib | null {
  if (process.env['SWITCHYARD_NFT'] === 'exec') return null;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const lib = koffi.load('libnftables.so.1');
    const newCtx = lib.func('void *nft_ctx_new(uint32_t flags)');
    const bufferOutput = lib.func('int nft_ctx_buffer_output(void *ctx)');
    const bufferError = lib.func('int nft_ctx_buffer_error(void *ctx)');
    const getOutput = lib.func('const char *nft_ctx_get_output_buffer(void *ctx)');
    const getError = lib.func('const char *nft_ctx_get_error_buffer(void *ctx)');
    const setFlags = lib.func('void nft_ctx_output_set_flags(void *ctx, uint32_t flags)');
    const runCmd = lib.func('int nft_run_cmd_from_buffer(void *ctx, const char *buf)');
    return {
      newCtx: () => {
        const ctx: unknown = newCtx(0);
        if (!ctx) throw new Error('nft_ctx_new failed');
        // Output and errors are kept in buffers, read (and emptied) after each call.
        if (bufferOutput(ctx) !== 0 || bufferError(ctx) !== 0) throw new Error('nft_ctx_buffer_output failed');
        return ctx;
      },
      setFlags: (ctx, flags) => setFlags(ctx, flags),
      runAsync: (ctx, script, cb) => runCmd.async(ctx, script, cb),
      output: (ctx) => (getOutput(ctx) as string | null) ?? '',
      error: (ctx) => (getError(ctx) as string | null) ?? '',
    };
  } catch {
    return null;
  }
}

export class Nft {
  private readonly lib: Lib | null;
  private ctx: unknown = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly timeoutMs = DEFAULT_TIMEOUT_MS) {
    this.lib = loadLib();
  }

  /** How scripts reach the kernel: 'libnftables' or 'nft processes'. */
  get via(): string {
    return this.lib ? 'libnftables' : 'nft processes';
  }

  /** Runs `script` as one transaction; rejects with SY_KERNEL (what nft said) when it fails. */
  async apply(script: string): Promise<void> {
    const r = await this.call(script, false);
    if (!r.ok) {
      const detail = r.stderr.trim().split('\n').slice(0, 6).join('; ') || 'failed';
      throw new SyError('SY_KERNEL', `"nft -f -" failed: ${detail}`, { argv: ['nft', '-f', '-'], stdin: script, stderr: r.stderr, exitCode: 1 });
    }
  }

  /**
   * Runs one command (a `list` or `get`) whose failure is an answer: a missing table is `ok: false`.
   * Its output is JSON unless `text` (nft 1.0.6 prints `get element` only as text).
   */
  command(command: string, text = false): Promise<NftResult> {
    return this.call(command, !text);
  }

  private call(script: string, json: boolean): Promise<NftResult> {
    const next = this.queue.then(() => {
      // An injected fault (SWITCHYARD_FAULT, tests only) counts each call as a run of `nft`, as when
      // scripts went to nft processes: it fails as nft would, or hangs until the timeout.
      const fault = this.lib ? commandFault(['nft', '-f', '-']) : undefined; // run() counts nft processes
      if (fault === 'fail') return { ok: false, stdout: '', stderr: 'Error: switchyard: injected failure of nft\n' };
      if (fault === 'hang') {
        return new Promise<NftResult>((_, reject) =>
          setTimeout(() => reject(new SyError('SY_TIMEOUT', `nft did not finish within ${this.timeoutMs} ms`, { argv: ['nft', '-f', '-'], stdin: script, stderr: '', exitCode: null })), this.timeoutMs),
        );
      }
      return this.lib ? this.viaLib(this.lib, script, json) : viaProcess(script, json, this.timeoutMs);
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private viaLib(lib: Lib, script: string, json: boolean): Promise<NftResult> {
    const ctx = (this.ctx ??= lib.newCtx());
    lib.setFlags(ctx, json ? NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_NUMERIC_PROTO : 0);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.ctx = null; // abandoned: its call may still return some day, into a context no one uses
        reject(new SyError('SY_TIMEOUT', `nft did not finish within ${this.timeoutMs} ms`, { argv: ['nft', '-f', '-'], stdin: script, stderr: '', exitCode: null }));
      }, this.timeoutMs);
      const started = TRACE ? performance.now() : 0;
      lib.runAsync(ctx, script, (err, rc) => {
        clearTimeout(timer);
        if (TRACE) process.stderr.write(`libnftables ${(performance.now() - started).toFixed(1)} ms: ${script.split('\n', 1)[0]!.slice(0, 100)}\n`);
        if (this.ctx !== ctx) return; // timed out already
        const stdout = lib.output(ctx);
        const stderr = lib.error(ctx);
        if (err) reject(new SyError('SY_KERNEL', `Cannot call libnftables: ${String(err)}`));
        else resolve({ ok: rc === 0, stdout, stderr });
      });
    });
  }
}

async function viaProcess(script: string, json: boolean, timeoutMs: number): Promise<NftResult> {
  // `-j -f` would read JSON: a listing is given as words (commands hostd made from checked names).
  const argv = json ? ['nft', '-j', '-p', ...script.trim().split(/\s+/)] : ['nft', '-f', '-'];
  const res = await run(argv, { ...(json ? {} : { stdin: script }), timeoutMs, okExitCodes: [1] });
  return { ok: res.exitCode === 0, stdout: res.stdout, stderr: res.stderr };
}
