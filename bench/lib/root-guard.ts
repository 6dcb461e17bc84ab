/**
 * A read-only watch on the machine's root namespace: the names of its links and nft tables before
 * and after the run. Anything of the run's that shows up there (a CNI bridge created outside its
 * bench namespace, the floor's table) is reported as a leak. Nothing is ever changed here.
 */
import { exec } from './exec.js';

export interface RootSnapshot {
  links: Set<string>;
  tables: Set<string>;
}

export async function snapshotRoot(): Promise<RootSnapshot> {
  const links = JSON.parse((await exec(['ip', '-j', 'link', 'show'])).stdout) as { ifname?: string }[];
  const tables = (await exec(['nft', 'list', 'tables'])).stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('table '));
  return { links: new Set(links.map((l) => l.ifname ?? '')), tables: new Set(tables) };
}

/** Links and tables that appeared in the root namespace and carry a name this run uses. */
export function rootLeaks(before: RootSnapshot, after: RootSnapshot, ourNames: readonly string[], prefix: string): string[] {
  const ours = (name: string) => name.startsWith(prefix) || ourNames.some((n) => name.includes(n));
  const leaks: string[] = [];
  for (const l of after.links) if (!before.links.has(l) && ours(l)) leaks.push(`root link ${l}`);
  for (const t of after.tables) if (!before.tables.has(t) && ours(t)) leaks.push(`root ${t}`);
  return leaks;
}
