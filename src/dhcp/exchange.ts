/**
 * The DHCP exchange program: hostd runs it as a child inside an endpoint's network namespace
 * (`nsenter --net=PATH -- node exchange.js`), so hostd itself never enters a namespace. It reads one
 * ExchangeRequest as JSON on stdin, runs the transaction (transaction.ts) and writes one
 * ExchangeResult as JSON on stdout; it exits 0 whenever it wrote a result, also a failed one.
 */
import { readFileSync } from 'node:fs';
import { runTransaction, type ExchangeRequest, type ExchangeResult } from './transaction.js';

let result: ExchangeResult;
try {
  result = runTransaction(JSON.parse(readFileSync(0, 'utf8')) as ExchangeRequest);
} catch (e) {
  result = { ok: false, code: 'SY_BAD_REQUEST', message: `The DHCP exchange cannot read its request: ${e instanceof Error ? e.message : String(e)}`, nak: false, elapsedMs: 0 };
}
process.stdout.write(`${JSON.stringify(result)}\n`);
