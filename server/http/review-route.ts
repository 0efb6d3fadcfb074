import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import { DecodeError } from '../errors';
import { decodeReview, parseReviewJson } from '../imagereview/decode';
import { encodeReview, type StatusToEncode } from '../imagereview/encode';
import type { ReviewDecision } from '../decision/decide-review';
import { DecisionMemo } from '../decision/decision-memo';
import type { ReviewRequest } from '../imagereview/wire-types';
import { buildDecisionRecord, decisionRecordJson } from '../observe/audit-record';
import { decisionJsonWriter } from '../observe/logger';
import { newRequestId } from '../observe/request-id';
import { clientIdentity, type ClientIdentity } from './client-identity';
import type { EndOfTurn, TurnWork } from './end-of-turn';
import { MAX_BODY_BYTES, checkContentType, readBodyCappedTo, type BodyReceiver } from './request-limits';
import type { AppDeps } from './app-deps';

/** What to answer: status, JSON body, and whether to close the connection after it. */
export interface ReviewAnswer {
  readonly status: 200 | 400 | 403 | 413 | 415;
  /** The serialised body: ImageReview JSON for 200, the reason as text for a 4xx. */
  readonly body: string;
  readonly contentType: typeof JSON_TYPE | typeof TEXT_TYPE;
  /** `body`'s length in UTF-8 bytes when already known (a memoised answer), else computed when sent. */
  readonly length?: number;
  /** `Connection: close`: the body was not (fully) read, so its rest must never be parsed as a next request. */
  readonly close: boolean;
}

const JSON_TYPE = 'application/json';
/**
 * 4xx answers are plain text: for a text/* (or empty) content type the apiserver shows the body
 * as the error message ("…is forbidden: <body>"), for JSON it shows only "unknown" (contract.md
 * §5.4; request.go newUnstructuredResponseError, seen on the wire by the e2e suite).
 */
const TEXT_TYPE = 'text/plain; charset=utf-8';

function refusal(status: 400 | 403 | 413 | 415, code: string, message: string, close: boolean): ReviewAnswer {
  return { status, body: `imagegate refused the request (${code}): ${message}\n`, contentType: TEXT_TYPE, close };
}

/**
 * POST /image_policy and /imagereview.
 *
 * | situation                                         | answer                                  |
 * |---------------------------------------------------|-----------------------------------------|
 * | client CA configured, no verified client cert     | 403, body not read, connection closed   |
 * | Content-Type not application/json                 | 415                                     |
 * | body over 1 MiB                                   | 413                                     |
 * | not JSON / not an imagepolicy.k8s.io/v1alpha1     | 400 with the reason                     |
 * |   ImageReview / no spec / wrong field types       |                                         |
 * | well-formed review                                | 200, allowed true/false, reason         |
 * | anything failing after decode                     | 200, allowed false (never a 5xx)        |
 *
 * 4xx answers make the apiserver apply defaultAllow (contract.md §5.1); after a successful
 * decode every answer is 200 so that the decision, not the apiserver's default, stands
 * (style.md anti-pattern 3).
 *
 * Works on the raw Node request only, so that the same code serves the Hono route below and the
 * Node listener in review-listener.ts (which skips Hono's context and response objects on the hot
 * path). Rejects only for bugs (anything not a DecodeError before the decision); the callers turn
 * those into a 200 deny.
 */
export function answerReview(deps: AppDeps, incoming: IncomingMessage): Promise<ReviewAnswer> {
  return new Promise<ReviewAnswer>((resolve, reject) => runReview(deps, incoming, { answer: resolve, bug: reject }));
}

/** Where a review's outcome goes: `answer` or `bug`, exactly once between them. Neither may throw. */
export interface ReviewSink {
  answer(answer: ReviewAnswer): void;
  /** A bug (anything thrown that is not a DecodeError before the decision): the caller answers a 200 deny. */
  bug(err: unknown): void;
}

/**
 * `answerReview` for a sink object. A cached review, and one decided by policy-only rules, is
 * answered in the turn its body completes (Decider.decideNow), with no promise, microtask or
 * closure on the way (BENCHMARKS.md). May also throw synchronously on a bug, before anything
 * was read.
 */
export function runReview(deps: AppDeps, incoming: IncomingMessage, sink: ReviewSink, turn?: EndOfTurn): void {
  const started = process.hrtime.bigint();
  const identity = clientIdentity(incoming);
  if (deps.requireClientCert && !identity.verified) {
    deps.metrics.countReview('error');
    // Logged so a wrong apiserver certificate can be seen from imagegate's side too.
    deps.logger.warn(
      { event: 'client-refused', code: 'CLIENT_CERTIFICATE_REQUIRED', remote: incoming.socket?.remoteAddress ?? null, presented: identity.presented },
      'refused a review: no client certificate verified by the client CA',
    );
    sink.answer(refusal(403, 'CLIENT_CERTIFICATE_REQUIRED', 'a client certificate signed by the configured client CA is required', true));
    return;
  }
  try {
    checkContentType(contentTypeOf(incoming));
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    sink.answer(rejected(deps, err, identity));
    return;
  }
  readBodyCappedTo(incoming, MAX_BODY_BYTES, new ReviewRun(deps, sink, started, identity, turn));
}

/**
 * One review once its body is read: decode, decide, answer. Run in the request's 'end' event, or,
 * given an EndOfTurn (the Node listener's path), with the other reviews read in the same turn
 * after it (end-of-turn.ts).
 */
class ReviewRun implements BodyReceiver, TurnWork {
  private readError: DecodeError | undefined;
  private body: Buffer | undefined;

  constructor(
    private readonly deps: AppDeps,
    private readonly sink: ReviewSink,
    private readonly started: bigint,
    private readonly identity: ClientIdentity,
    private readonly turn: EndOfTurn | undefined,
  ) {}

  bodyRead(readError: DecodeError | undefined, body: Buffer | undefined): void {
    if (this.turn === undefined) {
      this.decide(readError, body);
      return;
    }
    this.readError = readError;
    this.body = body;
    this.turn.decide(this);
  }

  /** Decides and answers the review (EndOfTurn, with the other reviews read in its turn). */
  runNow(): void {
    const { readError, body } = this;
    this.body = undefined;
    this.decide(readError, body);
  }

  onRunError(err: unknown): void {
    this.sink.bug(err);
  }

  private decide(readError: DecodeError | undefined, body: Buffer | undefined): void {
    const { deps, sink, identity } = this;
    try {
      if (readError !== undefined) {
        sink.answer(rejected(deps, readError, identity));
        return;
      }
      const text = (body as Buffer).toString('utf8');
      // A body seen before whose decision was cached: its decoding and key, not made again (review-memo.ts).
      const memo = deps.reviewMemo.get(text);
      let request: ReviewRequest;
      if (memo !== undefined) {
        request = memo.request;
      } else {
        try {
          request = decodeReview(parseReviewJson(text));
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
          sink.answer(rejected(deps, err, identity));
          return;
        }
      }
      const policy = deps.currentPolicy();
      let decided: ReviewDecision | Promise<ReviewDecision>;
      try {
        let key: string;
        if (memo === undefined) {
          key = deps.decider.keyFor(request, policy);
        } else if (memo.keyGeneration === policy.generation) {
          key = memo.key;
        } else {
          key = memo.key = deps.decider.keyFor(request, policy);
          memo.keyGeneration = policy.generation;
        }
        decided = deps.decider.decideNow(request, policy, key);
        // Remembered once its decision is a cache hit: a one-off review stores nothing here.
        if (memo === undefined && !(decided instanceof Promise) && decided.cacheHit) {
          deps.reviewMemo.remember(text, request, policy.generation, key);
        }
      } catch (err) {
        decided = Promise.reject(err);
      }
      if (!(decided instanceof Promise)) {
        sink.answer(answerDecision(deps, this.started, identity, request, decided));
        return;
      }
      decided
        .catch((err: unknown) => {
          // The decider catches per image; this is the last line so a bug is still a 200 deny.
          deps.logger.error({ event: 'internal-error', err: errorSummary(err) }, 'review failed unexpectedly');
          return internalErrorDecision(request.images, policy.generation);
        })
        .then((decision) => sink.answer(answerDecision(deps, this.started, identity, request, decision)))
        .catch((err: unknown) => sink.bug(err));
    } catch (bug) {
      sink.bug(bug);
    }
  }
}

/** A request that is not a well-formed review: counted, logged, refused with a 4xx. */
function rejected(deps: AppDeps, err: DecodeError, identity: ClientIdentity): ReviewAnswer {
  deps.metrics.countReview('error');
  deps.logger.info({ event: 'rejected-request', code: err.code, reason: err.message, client: identity.subject ?? null }, 'rejected request');
  // The body was not (fully) read: close so its rest is never parsed as a next request.
  const close = err.code === 'BODY_TOO_LARGE' || err.code === 'UNSUPPORTED_MEDIA_TYPE';
  return refusal(err.httpStatus, err.code, err.message, close);
}

/** The decided review: counted, timed, its `decision` record written, its ImageReview answer. */
function answerDecision(deps: AppDeps, started: bigint, identity: ClientIdentity, request: ReviewRequest, decision: ReviewDecision): ReviewAnswer {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  deps.metrics.countReview(decision.allowed ? 'allowed' : 'denied');
  deps.metrics.reviewDuration.observe(seconds);
  const facts = { requestId: newRequestId(), clientSubject: identity.subject, namespace: request.namespace, durationMs: seconds * 1000 };
  if (decision.breakGlass !== undefined || decision.images.some((v) => v.audited || v.failedOpen)) {
    // Break-glass, audit-mode violations and failed-open lookups are logged at warn level
    // (config.md "Audit mode", "Break-glass"; failurePolicy "open is logged loudly").
    deps.logger.warn(buildDecisionRecord(facts, decision));
  } else {
    const write = decisionJsonWriter(deps.logger);
    if (write !== undefined) write(decisionRecordJson(facts, decision));
    else if (deps.logger.isLevelEnabled('info')) deps.logger.info(buildDecisionRecord(facts, decision));
  }
  const encoded = reviewJson.get(decision);
  return { status: 200, body: encoded.body, length: encoded.length, contentType: JSON_TYPE, close: false };
}

/** The ImageReview answer's JSON and its byte length, made once per cached decision (it is the same every time). */
const reviewJson = new DecisionMemo<{ readonly body: string; readonly length: number }>((d) => {
  // Most allowed reviews carry neither a reason nor audit annotations: one answer for all of them.
  if (d.allowed && !d.reason && isEmpty(d.auditAnnotations)) return PLAIN_ALLOWED;
  return encodedAnswer(d);
});

function encodedAnswer(status: StatusToEncode): { readonly body: string; readonly length: number } {
  const body = JSON.stringify(encodeReview(status));
  return { body, length: Buffer.byteLength(body) };
}

/** encodeReview's answer for `allowed: true` with no reason and no audit annotations. */
const PLAIN_ALLOWED = encodedAnswer({ allowed: true });

function isEmpty(o: Readonly<Record<string, string>>): boolean {
  for (const _ in o) return false;
  return true;
}

/** The Hono route for the review paths (used when a request does not take app.ts's fast path). */
export function createReviewHandler(deps: AppDeps) {
  return async function handleImageReview(c: Context<{ Bindings: HttpBindings }>): Promise<Response> {
    const answer = await answerReview(deps, c.env.incoming);
    if (answer.close) c.header('Connection', 'close');
    return c.body(answer.body, answer.status, { 'Content-Type': answer.contentType });
  };
}

/**
 * The Content-Type as a fetch Request would report it (what the Hono route read before): every
 * Content-Type header line, joined with ", " (Node's `incoming.headers` keeps only the first).
 */
function contentTypeOf(incoming: IncomingMessage): string | undefined {
  const raw = incoming.rawHeaders;
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 12 && name.toLowerCase() === 'content-type') {
      value = value === undefined ? (raw[i + 1] as string) : `${value}, ${raw[i + 1] as string}`;
    }
  }
  return value;
}

function internalErrorDecision(images: readonly string[], generation: number): ReviewDecision {
  return {
    allowed: false,
    reason: 'imagegate could not evaluate this review (internal error; see the imagegate log); denied',
    auditAnnotations: {},
    images: images.map((image) => ({
      image, normalized: undefined, digest: undefined, rule: undefined, allowed: false, step: 'internal',
      code: 'INTERNAL_ERROR', detail: 'internal error', audited: false, failedOpen: false, brokeGlass: false,
    })),
    breakGlass: undefined,
    generation,
    cacheHit: false,
  };
}

/** Only the name, code and message of an error: never its properties (they may hold headers). */
export function errorSummary(err: unknown): { name: string; code?: string; message: string; stack?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, ...(typeof code === 'string' ? { code } : {}), message: err.message, ...(err.stack ? { stack: err.stack } : {}) };
  }
  return { name: 'non-error', message: String(err) };
}
