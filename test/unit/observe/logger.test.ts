/**
 * The decision record written straight to the destination (decisionJsonWriter) is the line pino
 * writes for the same record with the same logger: same level, base and key order; only the
 * timestamp differs between two writes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { createLogger, decisionJsonWriter } from '../../../server/observe/logger';

function capture() {
  const lines: string[] = [];
  return { lines, stream: { write: (s: string) => void lines.push(s) } };
}

const RECORD = {
  msg: 'decision', event: 'decision', requestId: 'r-1', client: 'CN=kube-apiserver', namespace: 'default', allowed: false,
  reason: 'nginx denied: "quoted"\nnext', policyGeneration: 2, cache: 'miss', durationMs: 0.25, breakGlass: null,
  auditAnnotations: { 'audit-required': 'true' },
  images: [{ image: 'nginx', normalized: 'docker.io/library/nginx:latest', digest: null, rule: 'r', verdict: 'denied', step: 'allowLatest', code: 'LATEST_NOT_ALLOWED', reason: 'x' }],
};

const withoutTime = (line: string) => line.replace(/"time":"[^"]*"/, '"time":"T"');

describe('decisionJsonWriter', () => {
  it('writes the line pino writes for the record', () => {
    const { lines, stream } = capture();
    const logger = createLogger('info', stream);
    logger.info(RECORD);
    const write = decisionJsonWriter(logger);
    assert.ok(write);
    write(JSON.stringify(RECORD));
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, /^\{"level":"info","time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","service":"imagegate","msg":"decision",/);
    assert.equal(withoutTime(lines[1]!), withoutTime(lines[0]!));
  });

  it('is undefined when info is off, so nothing is written', () => {
    const { lines, stream } = capture();
    const logger = createLogger('warn', stream);
    assert.equal(decisionJsonWriter(logger), undefined);
    assert.equal(lines.length, 0);
  });

  it('is undefined for a logger not made by createLogger, or a stream that needs pino metadata', () => {
    assert.equal(decisionJsonWriter(pino({ level: 'info' }, capture().stream)), undefined);
    const multi = pino.multistream([{ stream: capture().stream }]);
    assert.equal(decisionJsonWriter(createLogger('info', multi)), undefined);
  });

  it('follows a level change of the logger', () => {
    const { stream } = capture();
    const logger = createLogger('info', stream);
    assert.ok(decisionJsonWriter(logger));
    logger.level = 'error';
    assert.equal(decisionJsonWriter(logger), undefined);
  });
});
