/**
 * The command helper hostd starts once (on Bun, see spawner-client.ts): it runs the commands run()
 * hands it and reports what they did. Why: Node forks the whole hostd process for every command
 * (libuv's fork + exec: the page tables of ~80 MB copied, then torn down again in the child), ~2-3
 * ms of hostd's main thread each, so the four commands an endpoint's "side by side" step starts
 * actually start one after the other. Bun starts a process with posix_spawn (vfork): a fraction of a
 * millisecond, whatever the size of the parent.
 *
 * Protocol, one JSON document per line each way:
 *   in:  {"id": 1, "argv": ["ip", "-batch", "-"], "stdin": "...", "env"?: {...}, "timeoutMs": 15000}
 *   out: {"id": 1, "stdout": "...", "stderr": "...", "code": 0 | null (killed), "timedOut": false}
 *     or {"id": 1, "spawnError": "..."} when the command cannot be started at all.
 * It exits when its stdin closes (hostd is gone) and every command it started has ended.
 */

interface Request {
  id: number;
  argv: string[];
  stdin: string;
  env?: Record<string, string>;
  timeoutMs: number;
}

interface Child {
  stdin: { write(s: string): void; end(): void };
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  exited: Promise<number>;
  exitCode: number | null;
  kill(signal: number): void;
}

interface BunLike {
  spawn(argv: string[], opts: { stdin: 'pipe'; stdout: 'pipe'; stderr: 'pipe'; env?: Record<string, string> }): Child;
  stdin: { stream(): AsyncIterable<Uint8Array> };
  stdout: { writer(): { write(s: string): void; flush(): void } };
}

const bun = (globalThis as { Bun?: BunLike }).Bun;
if (!bun) throw new Error('the command helper runs on Bun');
const out = bun.stdout.writer();

function reply(doc: Record<string, unknown>): void {
  out.write(JSON.stringify(doc) + '\n');
  out.flush();
}

async function runOne(r: Request): Promise<void> {
  let child: Child;
  try {
    child = bun!.spawn(r.argv, { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', ...(r.env ? { env: r.env } : {}) });
  } catch (e) {
    reply({ id: r.id, spawnError: e instanceof Error ? e.message : String(e) });
    return;
  }
  try {
    child.stdin.write(r.stdin);
    child.stdin.end();
  } catch {
    // the command may exit before reading all of its stdin
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill(9);
  }, r.timeoutMs);
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  reply({ id: r.id, stdout, stderr, code: child.exitCode, timedOut });
}

const decoder = new TextDecoder();
let buffered = '';
for await (const chunk of bun.stdin.stream()) {
  buffered += decoder.decode(chunk, { stream: true });
  for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    const r = JSON.parse(line) as Request;
    runOne(r).catch((e: Error) => reply({ id: r.id, spawnError: e.message }));
  }
}
