/**
 * The soak: for a bounded time, workers create and delete endpoints (with port mappings, ACLs and
 * QOS, each in a namespace of its own), change their policies (ACL rules and port mappings added and
 * removed, QOS updated), detach and attach them, while one more changes the policies of an endpoint
 * that two long-lived TCP streams (iperf3, paced) run to: one bridged from a second endpoint, one
 * from outside through a published port. At the end: every request succeeded or was refused by
 * design (a fixed host port another worker holds), nothing leaked (links, namespaces, nft chains and
 * set elements, qdiscs, hostd's objects and files; the same names, host ports and an address are
 * free for a final create), the streams never broke, and hostd's resident memory, sampled from
 * /proc, is reported with its warm-up and end values. Shared by test/kernel/soak.test.ts (CI, 60 s)
 * and `npm run bench:soak` (600 s, bench/RESULTS-soak.md).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError } from '../../src/cli/client.js';
import { run } from '../../src/dataplane/run.js';
import { World, waitFor, type Hostd } from './world.js';

export interface SoakOptions {
  seconds: number;
  /** concurrent workers churning endpoints (each owns `slots` endpoint names) */
  workers?: number;
  slots?: number;
  seed?: number;
  /** the streams' pace (iperf3 -b) */
  streamRate?: string;
  log?: (s: string) => void;
}

export interface OpCount {
  ok: number;
  /** refused by design (a host port another worker holds) */
  refused: number;
  /** anything else: a 5xx, an unexpected 4xx, no answer */
  failed: number;
}

export interface StreamResult {
  name: string;
  ok: boolean;
  bytes: number;
  seconds: number;
  /** one-second intervals in which nothing arrived (a stall, reported, not judged) */
  stalledSeconds: number;
  error?: string;
}

export interface SoakReport {
  seconds: number;
  elapsedSeconds: number;
  workers: number;
  ops: Record<string, OpCount>;
  total: OpCount;
  opsPerSecond: number;
  /** the first unexpected answers, with the operation */
  errors: string[];
  streams: StreamResult[];
  /** what differs between the kernel/hostd snapshot before the churn and after its cleanup */
  leaks: string[];
  finalCreate: { ok: boolean; error?: string };
  /** kB: at the start, the highest during the warm-up, at the end of the churn, the highest of all */
  rss: { samples: { t: number; kb: number }[]; warmupSeconds: number; warmKb: number; endKb: number; maxKb: number; startKb: number };
  fds: { before: number; after: number };
  /** hostd's warnings during the run */
  warnings: string[];
}

/** Host ports the workers take from a shared range: two workers may want the same one (refused by design). */
const FIXED_PORTS = { first: 20000, count: 20 };
const BY_DESIGN = new Set(['SY_PORT_IN_USE']);
const SUBNET = '172.40.0.0/24';

type Doc = { ID: string; Name: string; IpConfigurations: { IpAddress: string }[] };
type Policy = { Type: string; Settings: Record<string, unknown> };

interface Slot {
  name: string;
  id?: string;
  nsId?: string;
  attached: boolean;
  acls: Policy[];
  ports: Policy[];
}

/** A small deterministic PRNG (mulberry32): a run is replayed by its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const log = opts.log ?? (() => undefined);
  const workers = opts.workers ?? 4;
  const slots = opts.slots ?? 3;
  const w = new World('soak');
  try {
    return await soak(w, opts.seconds, workers, slots, opts.seed ?? 1, opts.streamRate ?? '5M', log);
  } finally {
    await w.cleanup();
    const left = w.leftovers();
    if (left.length) throw new Error(`soak: namespaces left behind: ${left.join(', ')}`);
  }
}

async function soak(w: World, seconds: number, workers: number, slotsPerWorker: number, seed: number, rate: string, log: (s: string) => void): Promise<SoakReport> {
  const { host, outside } = await w.hostAndOutside();
  // A resync every 5 s: full passes run between the changes, as on a busy host.
  const hostd = await w.startHostd(host, { resyncSeconds: 5 });
  const api = hostd.client;
  const ops: Record<string, OpCount> = {};
  const errors: string[] = [];
  const count = (op: string, outcome: keyof OpCount) => ((ops[op] ??= { ok: 0, refused: 0, failed: 0 })[outcome] += 1);
  /** One request, counted: ok, refused by design, or failed. Returns whether it was done, and the answer. */
  const call = async <T>(op: string, method: string, path: string, body?: unknown): Promise<{ done: boolean; doc?: T }> => {
    try {
      const doc = await api.request<T>(method, path, body);
      count(op, 'ok');
      return { done: true, doc };
    } catch (e) {
      if (e instanceof ApiError && e.status < 500 && BY_DESIGN.has(e.code)) count(op, 'refused');
      else {
        count(op, 'failed');
        if (errors.length < 50) errors.push(`${op} ${method} ${path}: ${e instanceof ApiError ? `${e.status} ${e.code} ${e.message}` : (e as Error).message}`);
      }
      return { done: false };
    }
  };

  // The long-lived endpoints and their streams.
  const net = await api.request<Doc>('POST', '/networks', { Name: 'soak', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: SUBNET }] }] });
  const longLived = async (name: string, policies: Policy[]) => {
    const ns = await api.request<Doc>('POST', '/namespaces', { Path: w.nsName(name) });
    return api.request<Doc>('POST', '/endpoints', { Name: w.nsName(name), HostComputeNetwork: net.ID, HostComputeNamespace: ns.ID, Policies: policies });
  };
  const srv = await longLived('srv', [{ Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 5202, ExternalPort: 15202 } }]);
  await longLived('cli', []);
  const srvIp = srv.IpConfigurations[0]!.IpAddress;
  for (const port of [5201, 5202]) w.spawnIn(w.nsName('srv'), ['iperf3', '-s', '-1', '-p', String(port)]);
  await waitFor('the iperf3 servers', async () => (await w.exec(w.nsName('srv'), ['ss', '-Htln'])).stdout.includes(':5202'));

  const baseline = await snapshot(w, host, hostd);
  const fdsBefore = fdCount(hostd.pid);
  const streamSeconds = seconds + 5;
  const stream = (name: string, ns: string, target: string, port: number) => {
    const p = w.spawnIn(ns, ['iperf3', '-c', target, '-p', String(port), '-t', String(streamSeconds), '-b', rate, '-J', '--connect-timeout', '5000']);
    let out = '';
    p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    return new Promise<StreamResult>((resolve) => p.once('exit', (code) => resolve(streamResult(name, code, out))));
  };
  const streams = [stream('endpoint → endpoint (bridged)', w.nsName('cli'), srvIp, 5201), stream('outside → published port', outside, '192.0.2.1', 15202)];

  // Resident memory of hostd, sampled through the run.
  const start = Date.now();
  const samples: { t: number; kb: number }[] = [];
  const sample = () => samples.push({ t: (Date.now() - start) / 1000, kb: rssKb(hostd.pid) });
  sample();
  const sampler = setInterval(sample, Math.max(1000, (seconds * 1000) / 60));
  const deadline = start + seconds * 1000;
  log(`churning for ${seconds} s with ${workers} workers (+1 on the streams' endpoint)`);

  const lastDeleted: { ip?: string } = {};
  const churn = async (wi: number) => {
    const rnd = prng(seed * 1000 + wi);
    const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)]!;
    const fixedPort = () => FIXED_PORTS.first + Math.floor(rnd() * FIXED_PORTS.count);
    const slots: Slot[] = Array.from({ length: slotsPerWorker }, (_, k) => ({ name: w.nsName(`w${wi}s${k}`), attached: false, acls: [], ports: [] }));
    let serial = 0;
    const patch = (s: Slot, op: string, RequestType: string, policies: Policy[]) =>
      call<Doc>(op, 'PATCH', `/endpoints/${s.id}`, { ResourceType: 'Policy', RequestType, Settings: { Policies: policies } });
    while (Date.now() < deadline) {
      const s = pick(slots);
      if (!s.id) {
        const ns = (await call<Doc>('namespace create', 'POST', '/namespaces', { Path: s.name })).doc;
        if (!ns) continue;
        const ep = (await call<Doc>('endpoint create', 'POST', '/endpoints', {
          Name: s.name,
          HostComputeNetwork: net.ID,
          HostComputeNamespace: ns.ID,
          Policies: [
            { Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 80, ExternalPort: 0 } },
            { Type: 'PortMapping', Settings: { Protocol: pick([6, 17]), InternalPort: 81, ExternalPort: fixedPort() } },
            { Type: 'ACL', Settings: { Id: 'web', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: '80,81', Priority: 100 } },
            { Type: 'ACL', Settings: { Id: 'out', Action: 'Allow', Direction: 'Out', Protocols: '256', Priority: 65535 } },
            { Type: 'QOS', Settings: { MaximumOutgoingBandwidthInBytes: 1_250_000 * (1 + Math.floor(rnd() * 8)) } },
          ],
        })).doc;
        if (!ep) {
          await call('namespace delete', 'DELETE', `/namespaces/${ns.ID}`);
          continue;
        }
        Object.assign(s, { id: ep.ID, nsId: ns.ID, attached: true, acls: [], ports: [] });
        continue;
      }
      const choice = pick(['delete', 'acl-add', 'acl-add', 'acl-remove', 'port-add', 'port-remove', 'detach-attach', 'qos']);
      if (choice === 'delete') {
        const doc = await api.request<Doc>('GET', `/endpoints/${s.id}`).catch(() => undefined);
        if ((await call('endpoint delete', 'DELETE', `/endpoints/${s.id}`)).done) lastDeleted.ip = doc?.IpConfigurations[0]?.IpAddress;
        await call('namespace delete', 'DELETE', `/namespaces/${s.nsId}`);
        Object.assign(s, { id: undefined, nsId: undefined, attached: false, acls: [], ports: [] });
      } else if (choice === 'acl-add') {
        const acl: Policy = { Type: 'ACL', Settings: { Id: `w${wi}-${serial++}`, Action: pick(['Allow', 'Block']), Direction: pick(['In', 'Out']), Protocols: pick(['6', '17']), RemotePorts: String(1000 + Math.floor(rnd() * 5000)), Priority: 1000 + Math.floor(rnd() * 1000) } };
        if ((await patch(s, 'acl add', 'Add', [acl])).done) s.acls.push(acl);
      } else if (choice === 'acl-remove' && s.acls.length) {
        const acl = s.acls.splice(Math.floor(rnd() * s.acls.length), 1)[0]!;
        await patch(s, 'acl remove', 'Remove', [acl]);
      } else if (choice === 'port-add') {
        const pm: Policy = { Type: 'PortMapping', Settings: { Protocol: pick([6, 17]), InternalPort: 1000 + serial++, ExternalPort: fixedPort() } };
        if ((await patch(s, 'port mapping add', 'Add', [pm])).done) s.ports.push(pm);
      } else if (choice === 'port-remove' && s.ports.length) {
        const pm = s.ports.splice(Math.floor(rnd() * s.ports.length), 1)[0]!;
        await patch(s, 'port mapping remove', 'Remove', [pm]);
      } else if (choice === 'detach-attach') {
        if (s.attached) s.attached = !(await call('detach', 'POST', `/endpoints/${s.id}/detach`)).done;
        else s.attached = (await call('attach', 'POST', `/endpoints/${s.id}/attach`, { NamespaceId: s.nsId })).done;
      } else if (choice === 'qos') {
        await patch(s, 'qos update', 'Update', [{ Type: 'QOS', Settings: { MaximumOutgoingBandwidthInBytes: 1_250_000 * (1 + Math.floor(rnd() * 8)) } }]);
      }
    }
    // The worker's cleanup: what it still holds goes (counted like any other request).
    for (const s of slots) {
      if (s.id) await call('endpoint delete', 'DELETE', `/endpoints/${s.id}`);
      if (s.nsId) await call('namespace delete', 'DELETE', `/namespaces/${s.nsId}`);
    }
  };
  /** Policy changes on the endpoint the streams run to: ACLs and port mappings in and out, live. */
  const streamsEndpoint = async () => {
    const rnd = prng(seed * 1000 + 999);
    const path = `/endpoints/${srv.ID}`;
    const modify = (op: string, RequestType: string, p: Policy) => call(`streams' endpoint: ${op}`, 'PATCH', path, { ResourceType: 'Policy', RequestType, Settings: { Policies: [p] } });
    // Its first ACL makes it default-deny: the streams go on as established flows.
    await modify('acl add', 'Add', { Type: 'ACL', Settings: { Id: 'streams', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: '5201,5202', Priority: 100 } });
    let n = 0;
    while (Date.now() < deadline) {
      const acl: Policy = { Type: 'ACL', Settings: { Id: `srv-${n}`, Action: 'Block', Direction: 'In', Protocols: '17', LocalPorts: String(3000 + (n % 1000)), Priority: 200 + (n % 100) } };
      const pm: Policy = { Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 7000, ExternalPort: 21000 + (n % 100) } };
      n++;
      if ((await modify('acl add', 'Add', acl)).done) await modify('acl remove', 'Remove', acl);
      if ((await modify('port mapping add', 'Add', pm)).done) await modify('port mapping remove', 'Remove', pm);
      if (rnd() < 0.2) await modify('acl update', 'Update', { Type: 'ACL', Settings: { Id: 'streams', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: '5201,5202', Priority: 100 } });
    }
    await modify('acl remove', 'Remove', { Type: 'ACL', Settings: { Id: 'streams', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: '5201,5202', Priority: 100 } });
  };
  await Promise.all([...Array.from({ length: workers }, (_, i) => churn(i)), streamsEndpoint()]);
  const churnSeconds = (Date.now() - start) / 1000;
  sample();
  clearInterval(sampler);
  const endKb = samples[samples.length - 1]!.kb;
  log(`churn done after ${churnSeconds.toFixed(0)} s; waiting for the streams`);
  const streamResults = await Promise.all(streams);

  // Leaks: the kernel and hostd as before the churn, once the periodic resync has nothing left to do.
  const after = await snapshot(w, host, hostd);
  const leaks = [...new Set([...baseline.keys(), ...after.keys()])].filter((k) => baseline.get(k) !== after.get(k)).map((k) => `${k}: ${baseline.get(k) ?? 'none'} → ${after.get(k) ?? 'none'}`);
  const fdsAfter = fdCount(hostd.pid);

  // The same names, every fixed host port and the last freed address are free again.
  let finalCreate: SoakReport['finalCreate'] = { ok: true };
  try {
    const name = w.nsName('w0s0');
    const ns = await api.request<Doc>('POST', '/namespaces', { Path: name });
    const ep = await api.request<Doc>('POST', '/endpoints', {
      Name: name,
      HostComputeNetwork: net.ID,
      HostComputeNamespace: ns.ID,
      ...(lastDeleted.ip ? { IpConfigurations: [{ IpAddress: lastDeleted.ip }] } : {}),
      Policies: [6, 17].map((Protocol) => ({ Type: 'PortMapping', Settings: { Protocol, InternalPort: 1000, ExternalPort: FIXED_PORTS.first, PortCount: FIXED_PORTS.count } })),
    });
    await api.request('DELETE', `/endpoints/${ep.ID}`);
    await api.request('DELETE', `/namespaces/${ns.ID}`);
  } catch (e) {
    finalCreate = { ok: false, error: (e as Error).message };
  }

  const total: OpCount = { ok: 0, refused: 0, failed: 0 };
  for (const c of Object.values(ops)) for (const k of ['ok', 'refused', 'failed'] as const) total[k] += c[k];
  // The warm-up: hostd's heap and compiled code grow to their working size in the first 30-60 s of
  // churn (here 75 → ~108 MB, then flat); its level is the highest sample in that time.
  const warmupSeconds = Math.min(60, seconds / 2);
  const warmKb = Math.max(...samples.filter((s) => s.t <= warmupSeconds).map((s) => s.kb));
  return {
    seconds,
    elapsedSeconds: churnSeconds,
    workers,
    ops,
    total,
    opsPerSecond: (total.ok + total.refused + total.failed) / churnSeconds,
    errors,
    streams: streamResults,
    leaks,
    finalCreate,
    rss: { samples, warmupSeconds, warmKb, endKb, maxKb: Math.max(...samples.map((s) => s.kb)), startKb: samples[0]!.kb },
    fds: { before: fdsBefore, after: fdsAfter },
    warnings: hostd.log().split('\n').filter((l) => / warn /.test(l)),
  };
}

/**
 * What must be the same before and after the churn, as name → value: hostd's links, the namespaces
 * of the run, the chains of Switchyard's tables and the number of elements of each set, qdiscs,
 * hostd's objects and the files of its store.
 */
async function snapshot(w: World, host: string, hostd: Hostd): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  // The resync may be half way through a pass: wait for one to run whole, then read.
  const passes = async () => (await hostd.client.request<{ ReconcilePasses: number }>('GET', '/status')).ReconcilePasses;
  const n = await passes();
  await waitFor('a full resync before the snapshot', async () => (await passes()) >= n + 2, 60_000);
  const links = JSON.parse((await run(['ip', '-n', host, '-j', 'link', 'show'])).stdout) as { ifname: string }[];
  out.set('links', links.map((l) => l.ifname).sort().join(' '));
  out.set('namespaces', w.leftovers().sort().join(' '));
  for (const family of ['inet', 'bridge']) {
    const doc = JSON.parse((await w.exec(host, ['nft', '-j', 'list', 'table', family, 'switchyard'])).stdout) as { nftables: Record<string, { name: string; elem?: unknown[] }>[] };
    const chains: string[] = [];
    for (const item of doc.nftables) {
      if (item.chain) chains.push(item.chain.name);
      const set = item.set ?? item.map;
      if (set) out.set(`${family} set ${set.name}`, `${set.elem?.length ?? 0} elements`);
    }
    out.set(`${family} chains`, chains.sort().join(' '));
  }
  const qdiscs = JSON.parse((await run(['tc', '-n', host, '-j', 'qdisc', 'show'])).stdout) as { kind: string; dev: string }[];
  out.set('qdiscs', qdiscs.map((q) => `${q.dev}:${q.kind}`).sort().join(' '));
  for (const kind of ['networks', 'endpoints', 'namespaces']) {
    const docs = await hostd.client.request<{ Name?: string; Path?: string }[]>('GET', `/${kind}`);
    out.set(`hostd ${kind}`, docs.map((d) => d.Name ?? d.Path ?? '').sort().join(' '));
  }
  out.set('store files', String(countFiles(hostd.stateDir)));
  return out;
}

function countFiles(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    n += statSync(p).isDirectory() ? countFiles(p) : 1;
  }
  return n;
}

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function streamResult(name: string, code: number | null, out: string): StreamResult {
  try {
    const j = JSON.parse(out) as { error?: string; end?: { sum_received?: { bytes: number; seconds: number } }; intervals?: { sum: { bytes: number } }[] };
    const bytes = j.end?.sum_received?.bytes ?? 0;
    return {
      name,
      ok: code === 0 && !j.error && bytes > 0,
      bytes,
      seconds: j.end?.sum_received?.seconds ?? 0,
      stalledSeconds: (j.intervals ?? []).filter((i) => i.sum.bytes === 0).length,
      ...(j.error ? { error: j.error } : code !== 0 ? { error: `iperf3 exited with ${code}` } : {}),
    };
  } catch {
    return { name, ok: false, bytes: 0, seconds: 0, stalledSeconds: 0, error: `iperf3 (exit ${code}) wrote no JSON: ${out.slice(0, 200)}` };
  }
}
