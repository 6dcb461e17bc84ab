/**
 * What the Docker front door must remember itself (IPAM pools, options Docker sends only once): a
 * map of records in one small JSON file under hostd's state directory, replaced atomically (temp
 * file, rename) before each answer, so a restart of hostd loses nothing.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SyError } from '../errors.js';

export class JsonRecords<T> {
  private records: Record<string, T>;

  constructor(
    private readonly file: string,
    private readonly key: string,
  ) {
    try {
      this.records = (JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, T>>)[key] ?? {};
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new SyError('SY_STORE', `Cannot read "${file}": ${(e as Error).message}`);
      this.records = {};
    }
  }

  get(id: string): T | undefined {
    return this.records[id];
  }

  all(): [string, T][] {
    return Object.entries(this.records);
  }

  /** Stores (or with undefined, forgets) one record; the file is replaced before this returns. */
  set(id: string, rec: T | undefined): void {
    const next = { ...this.records };
    if (rec === undefined) delete next[id];
    else next[id] = rec;
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    writeFileSync(`${this.file}.tmp`, JSON.stringify({ [this.key]: next }));
    renameSync(`${this.file}.tmp`, this.file);
    this.records = next;
  }
}
