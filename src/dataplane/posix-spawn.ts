/**
 * Starts hostd's commands with glibc's posix_spawn (called with koffi), not with Node's spawn.
 * Why: libuv forks the whole Node process for each command (the page tables of ~100 MB copied, then
 * torn down in the child): 4-7 ms of hostd's main thread a command here, growing with hostd's size.
 * posix_spawn starts the child with clone(CLONE_VM|CLONE_VFORK): ~0.1 ms, whatever the size.
 *
 * The child gets three pipes as stdin/stdout/stderr (every other descriptor of hostd is close-on-exec),
 * the default action for every signal (Node ignores SIGPIPE, and an ignored signal would stay ignored
 * across exec) and an empty signal mask. hostd reads the pipes through libuv (non-blocking, no
 * thread) and reaps the child with waitpid on libuv's thread pool; libuv's own SIGCHLD handling reaps
 * only the children libuv started, so it never takes ours.
 *
 * spawnPosix() is null where the library cannot be loaded (not glibc, no koffi) or with
 * SWITCHYARD_SPAWN=node: run() then uses Node's spawn, with the same contract.
 */
import { createRequire } from 'node:module';
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { CommandSpec, Outcome } from './run.js';

const O_CLOEXEC = 0o2000000;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
/** Larger than glibc's posix_spawnattr_t (336 bytes), posix_spawn_file_actions_t (80) and sigset_t (128). */
const OPAQUE_BYTES = 1024;
/** After the command exits, how long its pipes may stay open (a grandchild holding them) before they are closed. */
const PIPE_GRACE_MS = 1_000;

type Fn = (...args: unknown[]) => number;

interface Libc {
  pipe2: Fn;
  faInit: Fn;
  faDup2: Fn;
  faDestroy: Fn;
  spawnp: Fn;
  waitpid: { async(pid: number, status: Int32Array, options: number, cb: (err: unknown, rv: number) => void): void };
  /** the spawn attributes every command gets: built once, never changed */
  attr: Buffer;
  errno(): number;
}

function load(): Libc | null {
  if (process.env.SWITCHYARD_SPAWN === 'node' || process.platform !== 'linux') return null;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const lib = koffi.load('libc.so.6');
    const fn = (decl: string) => lib.func(decl) as Fn;
    const attr = Buffer.alloc(OPAQUE_BYTES);
    const all = Buffer.alloc(OPAQUE_BYTES);
    const none = Buffer.alloc(OPAQUE_BYTES);
    const ok =
      fn('int posix_spawnattr_init(void *attr)')(attr) === 0 &&
      fn('int sigfillset(void *set)')(all) === 0 &&
      fn('int sigemptyset(void *set)')(none) === 0 &&
      fn('int posix_spawnattr_setsigdefault(void *attr, const void *set)')(attr, all) === 0 &&
      fn('int posix_spawnattr_setsigmask(void *attr, const void *set)')(attr, none) === 0 &&
      fn('int posix_spawnattr_setflags(void *attr, short flags)')(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) === 0;
    if (!ok) return null;
    return {
      attr,
      pipe2: fn('int pipe2(_Out_ int *fds, int flags)'),
      faInit: fn('int posix_spawn_file_actions_init(void *fa)'),
      faDup2: fn('int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd)'),
      faDestroy: fn('int posix_spawn_file_actions_destroy(void *fa)'),
      spawnp: fn('int posix_spawnp(_Out_ int *pid, const char *file, const void *fa, const void *attr, const char **argv, const char **envp)'),
      waitpid: lib.func('int waitpid(int pid, _Out_ int *status, int options)') as unknown as Libc['waitpid'],
      errno: () => koffi.errno(),
    };
  } catch {
    return null;
  }
}

let libc: Libc | null | undefined;

/** Whether commands are started with posix_spawn (loads the library on first call). */
export function posixSpawnAvailable(): boolean {
  if (libc === undefined) libc = load();
  return libc !== null;
}

/** Runs one command with posix_spawn; only call when posixSpawnAvailable(). */
export function spawnPosix(c: CommandSpec): Promise<Outcome> {
  const l = libc!;
  const pipes: Int32Array[] = [];
  for (let i = 0; i < 3; i++) {
    const p = new Int32Array(2);
    if (l.pipe2(p, O_CLOEXEC) !== 0) {
      const errno = l.errno();
      pipes.forEach((q) => closeFds(q[0]!, q[1]!));
      return Promise.resolve({ spawnError: `cannot make a pipe (errno ${errno})` });
    }
    pipes.push(p);
  }
  const [stdin, stdout, stderr] = pipes as [Int32Array, Int32Array, Int32Array];
  const envp = [...Object.entries(c.env ?? process.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`])), null];
  const pid = new Int32Array(1);
  const fa = Buffer.alloc(OPAQUE_BYTES);
  let rc = l.faInit(fa);
  if (rc === 0) {
    rc = l.faDup2(fa, stdin[0], 0) || l.faDup2(fa, stdout[1], 1) || l.faDup2(fa, stderr[1], 2) || l.spawnp(pid, c.argv[0], fa, l.attr, [...c.argv, null], envp);
    l.faDestroy(fa);
  }
  // The child's ends are the child's now (or nobody's, if it did not start).
  closeFds(stdin[0]!, stdout[1]!, stderr[1]!);
  if (rc !== 0) {
    closeFds(stdin[1]!, stdout[0]!, stderr[0]!);
    return Promise.resolve({ spawnError: `${c.argv[0]}: ${errnoText(rc)}` });
  }
  return collect(l, pid[0]!, c, stdin[1]!, stdout[0]!, stderr[0]!);
}

function closeFds(...fds: number[]): void {
  for (const fd of fds) closeSync(fd);
}

function collect(l: Libc, pid: number, c: CommandSpec, inFd: number, outFd: number, errFd: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const input = new Socket({ fd: inFd, readable: false, writable: true });
    const output = new Socket({ fd: outFd, readable: true, writable: false });
    const errors = new Socket({ fd: errFd, readable: true, writable: false });
    let open = 2;
    let code: number | null | undefined;
    let timedOut = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const finish = () => {
      if (open > 0 || code === undefined) return;
      clearTimeout(graceTimer);
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code, timedOut });
    };
    const closed = () => {
      open--;
      finish();
    };
    output.on('data', (b: Buffer) => out.push(b)).on('close', closed).on('error', () => undefined);
    errors.on('data', (b: Buffer) => err.push(b)).on('close', closed).on('error', () => undefined);
    input.on('error', () => undefined); // the command may exit before reading all of its stdin
    input.end(c.stdin);
    // The pid cannot be reused before waitpid reaps it (the timer is cleared as soon as it has), so
    // the kill reaches the command, or a zombie, never another process.
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }, c.timeoutMs);
    const status = new Int32Array(1);
    let tries = 0;
    const reap = (): void =>
      l.waitpid.async(pid, status, 0, (e, rv) => {
        // -1 is EINTR (libuv's handlers restart calls, so hardly ever) or a lost child: try again, twice.
        if (!e && rv !== pid && ++tries < 3) return reap();
        clearTimeout(timer);
        const s = status[0]!;
        code = !e && rv === pid && (s & 0x7f) === 0 ? (s >> 8) & 0xff : null;
        if (open > 0) {
          graceTimer = setTimeout(() => {
            output.destroy();
            errors.destroy();
          }, PIPE_GRACE_MS);
        }
        finish();
      });
    reap();
  });
}

function errnoText(rc: number): string {
  const names: Record<number, string> = { 2: 'command not found (ENOENT)', 13: 'permission denied (EACCES)', 12: 'out of memory (ENOMEM)', 11: 'too many processes (EAGAIN)' };
  return names[rc] ?? `posix_spawn failed (errno ${rc})`;
}
