/**
 * hostd's persistent state: one JSON file per object under the state directory
 * (networks/, endpoints/, namespaces/), written atomically (temp file, fsync, rename, fsync of the
 * directory), so a crash leaves either the old or the new version of each object and a write costs
 * the same whatever the number of objects. State is written before it is applied to the kernel.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SyError } from '../errors.js';
import { faultStep } from '../faults.js';
import type { EndpointRecord, NamespaceRecord, NetworkRecord } from '../model/records.js';
import { emptyState, type HostState } from '../model/state.js';
import { emptyPolicies, type EndpointPolicies } from '../model/policies.js';

export type Kind = 'networks' | 'endpoints' | 'namespaces';
const KINDS: Kind[] = ['networks', 'endpoints', 'namespaces'];
const FORMAT = 1;

export class Store {
  constructor(readonly dir: string) {}

  /** Loads every stored object; creates the directories on first use. */
  load(): HostState {
    const state = emptyState();
    for (const kind of KINDS) {
      const d = join(this.dir, kind);
      try {
        mkdirSync(d, { recursive: true, mode: 0o700 });
      } catch (e) {
        throw new SyError('SY_STORE', `Cannot create state directory "${d}": ${(e as Error).message}`);
      }
      for (const f of readdirSync(d)) {
        if (!f.endsWith('.json')) {
          // A crash between a write and its rename leaves a *.tmp: the old version stands, this goes.
          if (f.endsWith('.json.tmp')) tryRemove(join(d, f));
          continue;
        }
        let doc: { format: number; record: unknown };
        try {
          doc = JSON.parse(readFileSync(join(d, f), 'utf8')) as typeof doc;
        } catch (e) {
          // Writes are atomic (a crash leaves a *.tmp, never a half file): this was damaged otherwise.
          throw new SyError('SY_STORE', `Cannot read ${join(d, f)}: ${(e as Error).message}`);
        }
        if (doc.format !== FORMAT) throw new SyError('SY_STORE', `Unknown state format ${doc.format} in ${join(d, f)}`);
        const rec = doc.record as { id: string };
        if (kind === 'networks') state.networks.set(rec.id, rec as NetworkRecord);
        if (kind === 'endpoints') state.endpoints.set(rec.id, endpointOf(rec as StoredEndpoint));
        if (kind === 'namespaces') state.namespaces.set(rec.id, rec as NamespaceRecord);
      }
    }
    return state;
  }

  async put(kind: Kind, record: { id: string }): Promise<void> {
    const path = join(this.dir, kind, `${record.id}.json`);
    const tmp = `${path}.tmp`;
    faultStep(`store: write ${kind}/${record.id}`);
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(JSON.stringify({ format: FORMAT, record }, null, 1));
        await fh.sync();
      } finally {
        await fh.close();
      }
      faultStep(`store: rename ${kind}/${record.id}`);
      await rename(tmp, path);
      await this.syncDir(kind);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new SyError('SY_STORE', `Cannot save ${kind.slice(0, -1)} "${record.id}" in "${this.dir}": ${problem(e)}`);
    }
  }

  async remove(kind: Kind, id: string): Promise<void> {
    faultStep(`store: remove ${kind}/${id}`);
    try {
      await rm(join(this.dir, kind, `${id}.json`), { force: true });
      await this.syncDir(kind);
    } catch (e) {
      throw new SyError('SY_STORE', `Cannot remove ${kind.slice(0, -1)} "${id}" from "${this.dir}": ${problem(e)}`);
    }
  }

  private async syncDir(kind: Kind): Promise<void> {
    const fh = await open(join(this.dir, kind), 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

/** What a write error means for the state directory, by errno. */
const STORE_PROBLEMS: Record<string, string> = {
  ENOSPC: 'the state directory is full',
  EDQUOT: 'the state directory is full',
  EROFS: 'the state directory is read-only',
  EACCES: 'hostd may not write to the state directory',
  EPERM: 'hostd may not write to the state directory',
};

/** What went wrong with the state directory, in words first (the request's error says it). */
function problem(e: unknown): string {
  const why = STORE_PROBLEMS[(e as NodeJS.ErrnoException).code ?? ''];
  return why ? `${why} (${(e as Error).message})` : (e as Error).message;
}

function tryRemove(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // a read-only state directory: the leftover is ignored, as it always is
  }
}

/** An endpoint as stored, possibly by an earlier hostd (before policies other than port mappings). */
type StoredEndpoint = Omit<EndpointRecord, 'policies'> & { policies?: EndpointPolicies; otherPolicies?: unknown };

function endpointOf(r: StoredEndpoint): EndpointRecord {
  const { otherPolicies: _old, ...rest } = r;
  return { ...rest, policies: r.policies ?? emptyPolicies() };
}
