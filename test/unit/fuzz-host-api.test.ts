/**
 * Fuzz test of the host API (property-based, fast-check): every route gets random and malformed
 * documents — arbitrary JSON with prototype keys, HCN documents with one to three fields spoiled
 * (wrong types, huge or negative numbers, bad CIDRs, unknown Types, deep nesting, huge arrays),
 * truncated and binary bodies, odd ids and query strings. Property: the answer is a 4xx with
 * `{Error, Code}` whose status is the code's (never a 5xx, never a hang), and the store's files, the
 * records and the fake data plane are byte for byte what they were. A request that happens to be
 * valid may succeed: its object is then removed by starting over from a fresh host, and counted.
 * SWITCHYARD_FUZZ_RUNS scales the number of inputs; a failure prints fast-check's seed to replay it.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../src/hostd/api.js';
import { httpStatusOf, type ErrorCode } from '../../src/errors.js';
import { newTestHost, snapshot, type TestHost } from './host-fixture.js';
import { hostRequest, seedRequests } from './fuzz-host-requests.js';

const RUNS = Number(process.env.SWITCHYARD_FUZZ_RUNS ?? 3000);
/** A request not answered within this is a hang (a liveness bound, not a timing figure). */
const HANG_MS = 30_000;

const PATHS = { nsA: '/run/netns/a', nsB: '/run/netns/b', fresh: '/run/netns/fuzz' };
const request = hostRequest(PATHS);

async function seededHost(): Promise<{ h: TestHost; app: FastifyInstance }> {
  const h = await newTestHost();
  h.fake.listening = [{ protocol: 6, address: '0.0.0.0', port: 8081 }];
  const app = buildApi(h.svc);
  await app.ready();
  for (const [method, url, payload] of seedRequests(PATHS)) {
    const res = await app.inject({ method: method as 'POST', url, payload: payload as object });
    assert.equal(res.statusCode, 201, `seed ${url}: ${res.body}`);
  }
  return { h, app };
}

function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${HANG_MS} ms: ${what}`)), HANG_MS);
  });
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}

let host: { h: TestHost; app: FastifyInstance } | undefined;
after(async () => {
  await host?.app.close();
  host?.h.cleanup();
});

test(`host API: ${RUNS} random and malformed requests are refused cleanly and change nothing`, async (t) => {
  host = await seededHost();
  const seen = { refused: 0, succeeded: 0, byStatus: new Map<number, number>() };
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const { h, app } = host!;
      const before = snapshot(h);
      const headers: Record<string, string> = {};
      if (r.body?.contentType !== undefined) headers['content-type'] = r.body.contentType;
      else if (r.body) headers['content-type'] = 'application/json';
      const what = `${r.method} ${r.url.slice(0, 200)} (${r.body?.what ?? 'no body'})`;
      const res = await bounded(app.inject({ method: r.method as 'GET', url: r.url, headers, ...(r.body ? { payload: r.body.body } : {}) }), what);
      seen.byStatus.set(res.statusCode, (seen.byStatus.get(res.statusCode) ?? 0) + 1);
      assert.ok(res.statusCode < 500, `${what} → ${res.statusCode} ${res.body.slice(0, 500)}`);
      if (res.statusCode >= 400) {
        seen.refused++;
        const body = JSON.parse(res.body) as { Error?: unknown; Code?: unknown };
        assert.equal(typeof body.Error, 'string', `${what}: Error is a message: ${res.body.slice(0, 300)}`);
        assert.ok((body.Error as string).length > 0, `${what}: the message says something`);
        assert.match(String(body.Code), /^SY_[A-Z_]+$/, `${what}: Code is an SY_ code`);
        assert.equal(res.statusCode, httpStatusOf(body.Code as ErrorCode), `${what}: the status is the code's`);
        assert.deepEqual(snapshot(h), before, `${what} was refused (${String(body.Code)}) but changed state`);
      } else if (r.mutating) {
        // a valid request made something: start over from a fresh host so the next input meets the seed
        seen.succeeded++;
        await app.close();
        h.cleanup();
        host = await seededHost();
      } else {
        assert.deepEqual(snapshot(h), before, `${what} (${res.statusCode}) changed state`);
      }
    }),
    { numRuns: RUNS, includeErrorInReport: true },
  );
  const statuses = [...seen.byStatus].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ');
  t.diagnostic(`fuzz host API (in-process, fake data plane): ${RUNS} inputs, ${seen.refused} refused (4xx), ${seen.succeeded} valid by chance (state rebuilt), statuses ${statuses}`);
});
