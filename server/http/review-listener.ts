import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Hono } from 'hono';
import { getRequestListener, type HttpBindings } from '@hono/node-server';
import type { AppDeps } from './app-deps';
import { INTERNAL_ERROR_REVIEW_JSON, REVIEW_PATHS, reportInternalError } from './review-paths';
import { EndOfTurn, type TurnWork } from './end-of-turn';
import { runReview, type ReviewAnswer, type ReviewSink } from './review-route';

export type RequestListener = (incoming: IncomingMessage, outgoing: ServerResponse) => void;

const INTERNAL_ERROR_ANSWER: ReviewAnswer = { status: 200, body: INTERNAL_ERROR_REVIEW_JSON, contentType: 'application/json', close: false };

/**
 * The server's Node request listener: a POST to a review path is answered here, straight from
 * the Node request onto the Node response; everything else (probes, /metrics, 404s, a review
 * path spelled unusually) goes to the Hono app through @hono/node-server's listener.
 *
 * Why: on a cached review the adaptor's Request wrapper, the fetch Response and writing that
 * Response back cost about as much CPU as deciding the review (BENCHMARKS.md, profiles of
 * scenario 2). Answers are byte for byte what the Hono route gives (same `runReview`, same
 * status, body and Content-Type; `Connection: close` when the body was not read), and a bug is
 * still a 200 deny, never a 5xx on the review path (contract.md §5.1, style.md anti-pattern 3).
 */
export function createRequestListener(deps: AppDeps, app: Hono<{ Bindings: HttpBindings }>): RequestListener {
  const viaHono = getRequestListener(app.fetch);
  const turn = new EndOfTurn();
  return function handleRequest(incoming, outgoing) {
    if (incoming.method === 'POST') {
      const path = reviewPathOf(incoming.url);
      if (path !== undefined) {
        answerOnNode(deps, turn, incoming, outgoing, path);
        return;
      }
    }
    void viaHono(incoming, outgoing);
  };
}

/**
 * Runs the review (review-route.ts runReview) with this response as its sink: a cached review is
 * decided and answered at the end of the turn its body arrives, with that turn's other reviews
 * (end-of-turn.ts). Every path ends in exactly one answer; a bug — thrown here, in the request's
 * event handlers or in a decision's promise — is a 200 deny.
 */
function answerOnNode(deps: AppDeps, turn: EndOfTurn, incoming: IncomingMessage, outgoing: ServerResponse, path: string): void {
  const sink = new ResponseSink(deps, turn, outgoing, path);
  try {
    runReview(deps, incoming, sink, turn);
  } catch (err) {
    sink.bug(err);
  }
}

/** The Node response as a review's sink (an object, not closures: one allocation per review). */
class ResponseSink implements ReviewSink, TurnWork {
  private answered = false;
  /** The answer's body between `respond` (headers set) and the end of the turn (`runNow`). */
  private body = '';

  constructor(
    private readonly deps: AppDeps,
    private readonly turn: EndOfTurn,
    private readonly outgoing: ServerResponse,
    private readonly path: string,
  ) {}

  answer(answer: ReviewAnswer): void {
    try {
      this.respond(answer);
    } catch (err) {
      // Writing the answer failed (a bug in building it): the socket is in an unknown state.
      this.answered = true;
      reportInternalError(this.deps, err, this.path);
      this.outgoing.destroy();
    }
  }

  /** Ends the response (EndOfTurn, after the turn's reviews are decided). */
  runNow(): void {
    const body = this.body;
    this.body = '';
    // The client may have gone away since the headers were set: nothing to write then.
    if (!this.outgoing.destroyed) this.outgoing.end(body);
  }

  onRunError(err: unknown): void {
    reportInternalError(this.deps, err, this.path);
    this.outgoing.destroy();
  }

  bug(err: unknown): void {
    if (this.answered) return;
    try {
      reportInternalError(this.deps, err, this.path);
    } finally {
      try {
        this.respond(INTERNAL_ERROR_ANSWER);
      } catch {
        /* nothing more can be written on this response */
      }
    }
  }

  private respond(answer: ReviewAnswer): void {
    if (this.answered) return;
    this.answered = true;
    const outgoing = this.outgoing;
    // The client went away while the review was decided: nothing to answer (the decision is logged).
    if (outgoing.destroyed || outgoing.writableEnded || outgoing.headersSent) return;
    const headers: Record<string, string | number> = {
      'Content-Type': answer.contentType,
      'Content-Length': answer.length ?? Buffer.byteLength(answer.body),
    };
    // The body was not (fully) read: close, so its rest is never parsed as a next request.
    if (answer.close) headers['Connection'] = 'close';
    outgoing.writeHead(answer.status, headers);
    this.body = answer.body;
    this.turn.end(this);
  }
}

/**
 * The review path `url` names exactly (a query is ignored, as Hono's router does), else undefined.
 * A percent-encoded or absolute-form URL goes through Hono, whose router decides as before.
 */
export function reviewPathOf(url: string | undefined): string | undefined {
  if (url === undefined || url.charCodeAt(0) !== 47 /* / */ || url.includes('%')) return undefined;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return path === REVIEW_PATHS[0] || path === REVIEW_PATHS[1] ? path : undefined;
}
