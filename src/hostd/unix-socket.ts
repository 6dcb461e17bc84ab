/**
 * Unix sockets that only root (and one chosen group) can connect to: the host API's socket and the
 * Docker plugin sockets. Race-free: the socket is bound inside a fresh directory of its own (mode
 * 0700, only root may enter it), given its mode 0660 and its owner root:GROUP there, and only then
 * renamed onto its path (atomic, on one file system). Binding at the final path and chmod-ing after
 * would leave a window in which anyone allowed by the umask could connect: the kernel checks the
 * permission at connect(), and a connection queued in that window is accepted later all the same.
 * The directory holding the socket must not be world-writable (anyone could replace the socket).
 */
import { chmod, chown, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import type { Server } from 'node:net';
import { dirname, join } from 'node:path';
import { run } from '../dataplane/run.js';

/** The gid of a group given by name or number (`getent group`, so NSS groups work too). */
export async function groupId(group: string): Promise<number> {
  if (/^\d{1,10}$/.test(group)) return Number(group);
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,63}\$?$/.test(group)) throw new Error(`--socket-group ${JSON.stringify(group)} is not a group name`);
  const res = await run(['getent', 'group', group], { okExitCodes: [2] }).catch(() => undefined);
  const gid = res?.exitCode === 0 ? Number(res.stdout.split(':')[2]) : NaN;
  if (!Number.isInteger(gid)) throw new Error(`--socket-group: no group "${group}" on this host`);
  return gid;
}

/** Makes the directory of a socket (0755) if missing, and refuses one that is world-writable. */
export async function socketDirectory(path: string): Promise<string> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const st = await stat(dir);
  if (st.mode & 0o002) throw new Error(`Refusing to put the socket ${path} in the world-writable directory ${dir}: anyone could replace it`);
  return dir;
}

/**
 * Makes `server` listen on the unix socket `path` with mode 0660, owner root and group `gid` (root's
 * when absent); a stale socket at `path` is replaced.
 */
export async function listenOnUnixSocket(server: Server, path: string, gid?: number): Promise<void> {
  const dir = await socketDirectory(path);
  const staging = await mkdtemp(join(dir, '.sy-'));
  try {
    const staged = join(staging, 's');
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(staged, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(staged, 0o660);
    const uid = process.getuid?.();
    if (uid === 0) await chown(staged, 0, gid ?? 0);
    else if (gid !== undefined && uid !== undefined) await chown(staged, uid, gid);
    await rename(staged, path);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
