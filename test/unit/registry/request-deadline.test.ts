/**
 * requestDeadline: one request's signal = the review's signal + its own lookup timeout, with a
 * timer that is gone once the request settles (the memory benchmark's heap snapshot held ~10 000
 * uncleared `AbortSignal.timeout` timers after a burst; issue 5).
 */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { requestDeadline } from '../../../server/registry/request-deadline';

describe('requestDeadline', () => {
  it('aborts with timedOut when its own timeout fires', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const review = new AbortController();
      const d = requestDeadline(review.signal, 1000);
      mock.timers.tick(999);
      assert.equal(d.signal.aborted, false);
      mock.timers.tick(1);
      assert.equal(d.signal.aborted, true);
      assert.equal(d.timedOut, true);
      assert.equal(review.signal.aborted, false, 'the review itself is not cancelled by one request');
      d.dispose();
    } finally {
      mock.timers.reset();
    }
  });

  it('follows the review signal with its reason, and is not a timeout then', () => {
    const review = new AbortController();
    const d = requestDeadline(review.signal, 60_000);
    const reason = new Error('review deadline');
    review.abort(reason);
    assert.equal(d.signal.aborted, true);
    assert.equal(d.signal.reason, reason);
    assert.equal(d.timedOut, false);
    d.dispose();
  });

  it('starts aborted when the review already is', () => {
    const review = new AbortController();
    review.abort(new Error('gone'));
    const d = requestDeadline(review.signal, 60_000);
    assert.equal(d.signal.aborted, true);
    assert.equal(d.timedOut, false);
    d.dispose();
  });

  it('after dispose neither the timer nor the review signal reach it', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const review = new AbortController();
      const d = requestDeadline(review.signal, 1000);
      d.dispose();
      mock.timers.tick(5000);
      review.abort(new Error('later'));
      assert.equal(d.signal.aborted, false);
      assert.equal(d.timedOut, false);
    } finally {
      mock.timers.reset();
    }
  });
});
