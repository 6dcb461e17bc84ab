/**
 * Picks the controller's store backend from its spec (the controller's `--store` setting):
 * nothing, `sqlite` or `sqlite:` → the embedded SQLite file `<stateDir>/controller.db`;
 * `sqlite:/abs/path` or `sqlite:///abs/path` → that file; `etcd://host:port,host:port` → an etcd
 * cluster. Anything else is refused before anything is opened or created.
 */
import { isAbsolute, join } from 'node:path';
import { SyError } from '../../errors.js';
import { EtcdStore } from './etcd.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export async function openStore(spec: string | undefined, stateDir: string): Promise<Store> {
  if (spec === undefined || spec === '' || spec === 'sqlite' || spec === 'sqlite:' || spec === 'sqlite://') {
    return SqliteStore.open(join(stateDir, 'controller.db'));
  }
  if (spec.startsWith('sqlite:')) {
    let path: string;
    try {
      path = decodeURIComponent(spec.slice(spec.startsWith('sqlite://') ? 'sqlite://'.length : 'sqlite:'.length));
    } catch {
      throw new SyError('SY_BAD_REQUEST', `The SQLite store "${spec}" has a malformed %-escape in its path`);
    }
    if (!isAbsolute(path) || path.endsWith('/')) {
      throw new SyError('SY_BAD_REQUEST', `The SQLite store "${spec}" must name a file by its absolute path: sqlite:/var/lib/switchyard/controller.db`);
    }
    return SqliteStore.open(path);
  }
  if (spec.startsWith('etcd://')) return EtcdStore.open(spec);
  throw new SyError(
    'SY_BAD_REQUEST',
    `Unknown store "${spec}": use sqlite (the default file in the state directory), sqlite:/path/to/file.db or etcd://host:port[,host:port...]`,
  );
}
