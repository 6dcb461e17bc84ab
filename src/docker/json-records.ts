/**
 * What the Docker front door must remember itself (IPAM pools, options Docker sends only once): a
 * map of records in one small JSON file under hostd's state directory, replaced atomically (temp
 * file, rename) before each answer, so a restart of hostd loses nothing.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SyError } from '../errors.js';

export class JsonRecords<T> {
  /** a Map, not an object: ids come from Docker ("__proto__" is an id like any other) */
  private records: Map<string, T>;

  constructor(
    private readonly file: string,
    private readonly key: string,
  ) {
    try {
      this.records = new Map(Object.entries((JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, T>>)[key] ?? {}));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new SyError('SY_STORE', `Cannot read "${file}": ${(e as Error).message}`);
      this.records = new Map();
    }
  }

  get(id: string): T | undefined {
    return this.records.get(id);
  }

  all(): [string, T][] {
    return [...this.records];
  }

  /**
   * Stores (or with undefined, forgets) one record; the file is replaced before this returns (and
   * removed with the last record). Forgetting what is not there writes nothing.
   */
  set(id: string, rec: T | undefined): void {
    if (rec === undefined && !this.records.has(id)) return;
    const next = new Map(this.records);
    if (rec === undefined) next.delete(id);
    else next.set(id, rec);
    if (next.size) {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
      writeFileSync(`${this.file}.tmp`, JSON.stringify({ [this.key]: Object.fromEntries(next) }));
      renameSync(`${this.file}.tmp`, this.file);
    } else rmSync(this.file, { force: true });
    this.records = next;
  }
}
