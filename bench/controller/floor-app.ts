/**
 * The floor of the controller's HTTP + store path, for bench/controller/run-api.ts: the smallest
 * fastify app that serves the same kind of request on the same store backend — PUT parses the JSON
 * body and writes it as one key, GET reads one key and sends it — with none of the controller's
 * work (tokens, schemas, references, claims, compare-and-swap, audit). What the controller costs
 * beyond this is what its checks cost.
 * Run: node dist/bench/controller/floor-app.js --store SPEC --listen 127.0.0.1:PORT
 */
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { openStore } from '../../src/controller/store/open.js';

const { values } = parseArgs({ options: { store: { type: 'string' }, listen: { type: 'string' } } });
const [host, port] = (values.listen ?? '127.0.0.1:0').split(':');
const store = await openStore(values.store, '/nonexistent');
const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
/** GET reads what the controller stores (the same rows); PUT writes its own keys beside them */
app.get<{ Params: { collection: string; id: string } }>('/floor/:collection/:id', async (req, reply) => {
  const kv = await store.get(`/nc/res/${req.params.collection}/${req.params.id}`);
  if (!kv) return reply.code(404).send({ code: 'ResourceNotFound' });
  return reply.header('content-type', 'application/json').send(kv.value);
});
app.put<{ Params: { collection: string; id: string }; Body: unknown }>('/floor/:collection/:id', async (req) => {
  await store.put(`/floor/${req.params.collection}/${req.params.id}`, JSON.stringify(req.body));
  return req.body;
});
await app.listen({ host: host!, port: Number(port) });
console.log('floor serving');
process.on('SIGTERM', () => {
  void app.close().then(() => store.close()).then(() => process.exit(0));
});
