/**
 * The soak benchmark (`npm run bench:soak`): the soak of test/kernel/soak-run.ts for SOAK_SECONDS
 * (default 600) — concurrent creates, deletes, policy changes and detach/attach with two TCP streams
 * running — written to bench/RESULTS-soak.md: operations done (per second too), refusals by design,
 * errors, leaks, the streams, and hostd's resident memory sampled through the run. The same checks
 * as the test decide the verdict line; the figures are the point.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSoak, type SoakReport } from '../../test/kernel/soak-run.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const RSS_BOUND_KB = 30 * 1024;

function log(s: string): void {
  process.stderr.write(`[bench:soak ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:soak needs root (it builds network namespaces)');
  if (!Number.isFinite(SECONDS) || SECONDS < 10) throw new Error('SOAK_SECONDS must be at least 10');
  const r = await runSoak({ seconds: SECONDS, log });
  const text = report(r);
  const out = join(process.cwd(), 'bench', 'RESULTS-soak.md');
  writeFileSync(out, text);
  process.stdout.write(text);
  log(`wrote ${out}`);
  if (!verdict(r).ok) process.exitCode = 1;
}

function verdict(r: SoakReport): { ok: boolean; why: string[] } {
  const why: string[] = [];
  if (r.total.failed) why.push(`${r.total.failed} request(s) failed`);
  for (const s of r.streams) if (!s.ok) why.push(`stream ${s.name} broke (${s.error ?? ''})`);
  if (r.leaks.length) why.push(`${r.leaks.length} leak(s)`);
  if (!r.finalCreate.ok) why.push(`final create refused: ${r.finalCreate.error}`);
  if (r.fds.after > r.fds.before + 20) why.push(`open files ${r.fds.before} → ${r.fds.after}`);
  if (r.rss.endKb > r.rss.warmKb + RSS_BOUND_KB) why.push('RSS grew more than 30 MB after the warm-up');
  return { ok: why.length === 0, why };
}

function report(r: SoakReport): string {
  const mb = (kb: number) => (kb / 1024).toFixed(1);
  const v = verdict(r);
  const rows = Object.entries(r.ops)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([op, c]) => `| ${op} | ${c.ok} | ${c.refused} | ${c.failed} |`);
  const rss = r.rss.samples.filter((_, i) => i % Math.max(1, Math.floor(r.rss.samples.length / 12)) === 0 || i === r.rss.samples.length - 1);
  return `# Soak benchmark

\`npm run bench:soak\` (SOAK_SECONDS=${r.seconds}), ${new Date().toISOString()}: ${r.workers} workers create and delete
endpoints (two port mappings, two ACLs and a QOS cap each, in a namespace of their own), add and remove
ACL rules and port mappings, update QOS, detach and attach, for ${r.seconds} s; one more worker changes
the ACLs and port mappings of the endpoint two paced TCP streams (iperf3) run to, one bridged from
another endpoint, one from outside through a published port. hostd resyncs every 5 s meanwhile.

**Verdict: ${v.ok ? 'pass' : `FAIL (${v.why.join('; ')})`}.**

- Operations: **${r.total.ok} done**, ${r.total.refused} refused by design (a fixed host port another worker
  held: \`SY_PORT_IN_USE\`), **${r.total.failed} failed**; ${r.opsPerSecond.toFixed(1)} operations per second over ${r.elapsedSeconds.toFixed(0)} s.
- Leaks: **${r.leaks.length}** (links, namespaces, nft chains and set elements of both tables, qdiscs,
  hostd's objects and store files compared before and after); the same names, every fixed host port and the
  last freed address were ${r.finalCreate.ok ? 'free for a final create' : `NOT free: ${r.finalCreate.error}`}.
- hostd RSS: ${mb(r.rss.startKb)} MB at the start, ${mb(r.rss.warmKb)} MB in the warm-up (highest in the first ${r.rss.warmupSeconds} s),
  **${mb(r.rss.endKb)} MB at the end** (max ${mb(r.rss.maxKb)} MB; bound: warm-up + 30 MB). Open files ${r.fds.before} → ${r.fds.after}.
${r.streams.map((s) => `- Stream ${s.name}: ${s.ok ? 'unbroken' : `BROKE (${s.error})`}, ${(s.bytes / 1e6).toFixed(0)} MB in ${s.seconds.toFixed(0)} s, ${s.stalledSeconds} one-second intervals without data.`).join('\n')}
${r.errors.length ? `\nFirst errors:\n${r.errors.map((e) => `- ${e}`).join('\n')}\n` : ''}${r.leaks.length ? `\nLeaks:\n${r.leaks.map((e) => `- ${e}`).join('\n')}\n` : ''}
| operation | done | refused by design | failed |
|---|---|---|---|
${rows.join('\n')}

hostd RSS through the run (s → MB): ${rss.map((s) => `${s.t.toFixed(0)} → ${mb(s.kb)}`).join(', ')}
${r.warnings.length ? `\nhostd warned ${r.warnings.length} time(s), first: ${r.warnings.slice(0, 3).map((x) => `\`${x.slice(0, 160)}\``).join('; ')}\n` : ''}`;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
