/**
 * The soak (test/kernel/soak-run.ts) for SOAK_SECONDS (default 60): concurrent creates, deletes,
 * policy changes, detach/attach, with two TCP streams running. Every request succeeded or was
 * refused by design, nothing leaked, the streams never broke, and hostd's resident memory at the end
 * is within 30 MB of what it was after the warm-up. Operations per second are printed, not judged.
 *
 * Memory, and why +30 MB: hostd starts near 75 MB and, under this churn, grows to its working size
 * (~108 MB here) in the first 30-60 s as V8 sizes its heap and compiles hot code; the warm-up level
 * is the highest sample in the first half of the run (at most 60 s). After that a healthy hostd stays
 * within a few MB (180 s: 108.0 → 110.1 MB), since V8 grows its old generation in steps of several MB
 * before a major collection. 30 MB is three times that step and clear of noise, while a leak of
 * ~10 kB per request (thousands of requests per run) or of a kept buffer per request crosses it.
 * Leaks of kernel objects and of hostd's own objects are checked exactly, one by one (the snapshot
 * comparison), so the memory bound only has to catch what those cannot see.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot } from './world.js';
import { runSoak } from './soak-run.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const RSS_BOUND_KB = 30 * 1024;

describe('soak', () => {
  it(`${SECONDS} s of concurrent churn with traffic running: no errors, no leaks, streams unbroken, memory flat`, { timeout: (SECONDS + 300) * 1000 }, async (t) => {
    requireRoot();
    assert.ok(Number.isFinite(SECONDS) && SECONDS >= 10, 'SOAK_SECONDS must be at least 10');
    const r = await runSoak({ seconds: SECONDS, log: (s) => t.diagnostic(s) });
    const mb = (kb: number) => (kb / 1024).toFixed(1);
    t.diagnostic(`operations: ${r.total.ok} done, ${r.total.refused} refused by design, ${r.total.failed} failed; ${r.opsPerSecond.toFixed(1)} per second`);
    for (const [op, c] of Object.entries(r.ops)) t.diagnostic(`  ${op}: ${c.ok} done, ${c.refused} refused, ${c.failed} failed`);
    t.diagnostic(`hostd RSS: start ${mb(r.rss.startKb)} MB, warm-up (highest in ${r.rss.warmupSeconds} s) ${mb(r.rss.warmKb)} MB, end ${mb(r.rss.endKb)} MB, max ${mb(r.rss.maxKb)} MB; fds ${r.fds.before} → ${r.fds.after}`);
    for (const s of r.streams) t.diagnostic(`stream ${s.name}: ${(s.bytes / 1e6).toFixed(0)} MB in ${s.seconds.toFixed(0)} s, ${s.stalledSeconds} s without data${s.error ? `, ${s.error}` : ''}`);
    if (r.warnings.length) t.diagnostic(`hostd warnings: ${r.warnings.slice(0, 10).join(' | ')}`);

    assert.deepEqual(r.errors, [], 'every request succeeded or was refused by design');
    assert.equal(r.total.failed, 0);
    assert.ok(r.total.ok > 0 && r.ops['endpoint create']?.ok && r.ops['endpoint delete']?.ok && r.ops['acl add']?.ok && r.ops['attach']?.ok, JSON.stringify(r.ops));
    for (const s of r.streams) assert.ok(s.ok, `stream ${s.name} broke: ${s.error ?? ''}`);
    assert.deepEqual(r.leaks, [], 'the kernel and hostd are as before the churn');
    assert.ok(r.finalCreate.ok, `the same names, host ports and address are free again: ${r.finalCreate.error ?? ''}`);
    assert.ok(r.fds.after <= r.fds.before + 20, `hostd's open files: ${r.fds.before} → ${r.fds.after}`);
    assert.ok(r.rss.endKb <= r.rss.warmKb + RSS_BOUND_KB, `hostd RSS ${mb(r.rss.warmKb)} MB after warm-up, ${mb(r.rss.endKb)} MB at the end`);
  });
});
