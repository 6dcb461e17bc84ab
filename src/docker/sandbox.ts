/**
 * Waiting for Docker's sandbox namespace. Docker names the sandbox (SandboxKey) in Join, but for a
 * container that is starting, the namespace is made by runc later and bind-mounted onto that path by
 * Docker's prestart hook; only then can hostd place the endpoint's interface in it. A sandbox that is
 * already there (`docker network connect` to a running container) is used at once.
 */
import { statfs } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

/** statfs type of a namespace file (nsfs), as mounted on a SandboxKey once the namespace exists */
const NSFS_MAGIC = 0x6e736673;

export async function isNamespaceMounted(path: string): Promise<boolean> {
  try {
    return (await statfs(path)).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Resolves true once `path` holds a mounted namespace, false when `signal` aborts or `timeoutMs`
 * passes. Watches the directory (inotify) and polls as well: the bind mount itself raises no event.
 */
export function waitForNamespace(path: string, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    let watcher: FSWatcher | undefined;
    let delay = 2;
    let timer: NodeJS.Timeout | undefined;
    const end = Date.now() + timeoutMs;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      watcher?.close();
      if (timer) clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onAbort = () => finish(false);
    const check = async () => {
      if (done) return;
      if (await isNamespaceMounted(path)) return finish(true);
      if (Date.now() > end) return finish(false);
    };
    const poll = () => {
      void check().then(() => {
        if (done) return;
        if (timer) clearTimeout(timer);
        timer = setTimeout(poll, delay);
        delay = Math.min(delay * 2, 25);
      });
    };
    signal.addEventListener('abort', onAbort);
    try {
      watcher = watch(dirname(path), (_ev, name) => {
        if (name && name !== basename(path)) return;
        // Docker creates the file, then mounts the namespace on it: look again soon and often.
        delay = 1;
        if (timer) clearTimeout(timer);
        poll();
      });
      watcher.on('error', () => undefined);
    } catch {
      // the directory is not there yet: polling alone will do
    }
    poll();
  });
}
