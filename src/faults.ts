/**
 * Fault injection for the crash and failure tests (test/kernel/crash.test.ts), inert unless hostd's
 * environment sets SWITCHYARD_FAULT to one or more of (comma-separated):
 *   count          log every step and every kernel command, numbered, on stderr
 *   crash-at:N     SIGKILL hostd itself when it reaches the Nth step
 *   fail:PROG:N    the Nth run of PROG (ip, nft, tc, iptables) fails instead of running
 *   hang:PROG:N    the Nth run of PROG hangs until run()'s timeout kills it
 *   timeout:MS     run()'s default timeout (so a test of the hang path need not wait 15 s)
 *   on-signal      count from SIGUSR2 on (logged as "fault armed"), not from the end of the start
 * A step is a point where a crash matters: before each store write, between a store file's write
 * and its rename, before each change the data plane makes to the kernel, and at the end of each
 * reconcile pass. Counting starts once hostd has finished starting (armFaults), or at SIGUSR2, so
 * for a given request on a given state the steps are the same every time and N = 1..K walks them.
 */

interface Fault {
  count: boolean;
  crashAt?: number;
  commands: { action: 'fail' | 'hang'; prog: string; n: number }[];
  timeoutMs?: number;
  onSignal: boolean;
}

const fault = parse(process.env.SWITCHYARD_FAULT);
let armed = false;
let steps = 0;
const runs = new Map<string, number>();

function parse(spec: string | undefined): Fault | undefined {
  if (!spec) return undefined;
  const f: Fault = { count: false, commands: [], onSignal: false };
  for (const part of spec.split(',')) {
    const crash = /^crash-at:(\d+)$/.exec(part);
    const cmd = /^(fail|hang):([a-z]+):(\d+)$/.exec(part);
    const timeout = /^timeout:(\d+)$/.exec(part);
    if (part === 'count') f.count = true;
    else if (part === 'on-signal') f.onSignal = true;
    else if (timeout) f.timeoutMs = Number(timeout[1]);
    else if (crash) f.crashAt = Number(crash[1]);
    else if (cmd) f.commands.push({ action: cmd[1] as 'fail' | 'hang', prog: cmd[2]!, n: Number(cmd[3]) });
    else throw new Error(`SWITCHYARD_FAULT: cannot read "${part}" (count, crash-at:N, fail:PROG:N, hang:PROG:N, timeout:MS, on-signal)`);
  }
  return f;
}

/** run()'s default timeout when a test shortened it. */
export const faultTimeoutMs = fault?.timeoutMs;

/** Starts counting (hostd has started; what it did to start is not counted), or waits for SIGUSR2. */
export function armFaults(): void {
  if (!fault) return;
  if (!fault.onSignal) armed = true;
  else {
    process.once('SIGUSR2', () => {
      armed = true;
      process.stderr.write('fault armed\n');
    });
  }
}

/** A point where a crash matters: with crash-at:N, the Nth one kills the process on the spot. */
export function faultStep(what: string): void {
  if (!fault || !armed) return;
  steps++;
  if (fault.count || fault.crashAt === steps) process.stderr.write(`fault step ${steps}: ${what}\n`);
  if (fault.crashAt === steps) process.kill(process.pid, 'SIGKILL');
}

/** What run() must do instead of running argv: nothing (undefined), fail, or hang. */
export function commandFault(argv: readonly string[]): 'fail' | 'hang' | undefined {
  if (!fault || !armed) return undefined;
  const prog = argv[0]!;
  const n = (runs.get(prog) ?? 0) + 1;
  runs.set(prog, n);
  const hit = fault.commands.find((c) => c.prog === prog && c.n === n);
  if (fault.count || hit) process.stderr.write(`fault command ${prog} ${n}${hit ? ` (${hit.action})` : ''}: ${argv.join(' ')}\n`);
  return hit?.action;
}
