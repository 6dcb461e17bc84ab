/**
 * Named network namespaces of the run. Every name starts with the run's prefix
 * (`sybench-<pid>-`), so the leak check and the final sweep find exactly what this run made and
 * nothing else. Nothing here touches the root namespace's links, tables or sysctls.
 */
import { existsSync, readdirSync } from 'node:fs';
import { exec, isAborted, netnsPath } from './exec.js';
import type { Teardown } from './teardown.js';

/** Creates the namespace and, when a teardown is given, registers its removal there. */
export async function addNetns(name: string, td?: Teardown): Promise<string> {
  if (isAborted()) throw new Error(`Not creating namespace "${name}": the run was interrupted`);
  await exec(['ip', 'netns', 'add', name]);
  td?.defer(`delete namespace ${name}`, () => delNetns(name));
  // lo is down in a fresh namespace; iperf3 and ss do not need it, but a realistic container has it up
  await exec(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/** Removes the namespace (its links go with it); tolerates "not found", so it can run twice. */
export async function delNetns(name: string): Promise<void> {
  if (!existsSync(netnsPath(name))) return;
  await exec(['ip', 'netns', 'del', name]);
}

/** Names under /run/netns that start with `prefix`. */
export function listNetns(prefix: string): string[] {
  if (!existsSync('/run/netns')) return [];
  return readdirSync('/run/netns').filter((n) => n.startsWith(prefix)).sort();
}

/** Sets a sysctl inside a namespace (/proc/sys/net is per namespace, so the root one is untouched). */
export async function setNetnsSysctl(name: string, key: string, value: string): Promise<void> {
  await exec(['sysctl', '-q', '-w', `${key}=${value}`], { netns: name });
}
