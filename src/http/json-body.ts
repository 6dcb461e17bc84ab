/**
 * The body parser both HTTP APIs (hostd's HCN API, the controller's northbound API) use: any body
 * is parsed as JSON whatever its content type (hcsshim and curl send it with or without one), an
 * empty body is no body, and a body that is not JSON or nests deeper than MAX_JSON_DEPTH is refused
 * with SY_BAD_REQUEST before any route sees it.
 */
import type { FastifyInstance } from 'fastify';
import { SyError } from '../errors.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../model/json-depth.js';

export function acceptJsonBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      return done(new SyError('SY_BAD_REQUEST', `Request body is not valid JSON: ${(e as Error).message}`), undefined);
    }
    if (nestsDeeperThan(doc, MAX_JSON_DEPTH)) return done(new SyError('SY_BAD_REQUEST', `Request body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
    done(null, doc);
  });
}
