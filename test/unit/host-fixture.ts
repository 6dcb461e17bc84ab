/**
 * A host service over the fake data plane with its store in a fresh temporary directory, for the
 * service tests that need no root. `snapshot` captures everything a request could change: the
 * store's files, the records in memory and what the data plane holds.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { FakeDataPlane } from '../../src/dataplane/fake.js';
import { HostService, type HostServiceOptions } from '../../src/hostd/service.js';
import { Store } from '../../src/hostd/store.js';

export interface TestHost {
  svc: HostService;
  fake: FakeDataPlane;
  /** the store's directory */
  dir: string;
  /** warnings the service logged */
  warnings: string[];
  /** removes the store's directory */
  cleanup(): void;
}

/** A started host service; `dir` reuses a store (a restart of hostd), else a fresh one is made. */
export async function newTestHost(fake = new FakeDataPlane(), dir = mkdtempSync(join(tmpdir(), 'switchyard-unit-')), extra: Pick<HostServiceOptions, 'dhcp' | 'dhcpTimeoutMs'> = {}): Promise<TestHost> {
  const warnings: string[] = [];
  const svc = new HostService({
    store: new Store(dir),
    dataplane: fake,
    log: { info: () => undefined, warn: (m) => warnings.push(m) },
    ...extra,
  });
  await svc.start();
  return { svc, fake, dir, warnings, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every file under `dir` (relative path → content), sorted by path. */
export function storeFiles(dir: string): [string, string][] {
  const out: [string, string][] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else out.push([relative(dir, p), readFileSync(p, 'utf8')]);
    }
  };
  walk(dir);
  return out;
}

/** The records as JSON (Maps as entry lists), to compare states byte for byte. */
export function stateJson(svc: HostService): string {
  return JSON.stringify(svc.state, (_k, v: unknown) => (v instanceof Map ? [...v.entries()] : v));
}

export interface Snapshot {
  store: string;
  state: string;
  dataplane: string;
}

export function snapshot(h: TestHost): Snapshot {
  return { store: JSON.stringify(storeFiles(h.dir)), state: stateJson(h.svc), dataplane: h.fake.dump() };
}
