/**
 * server/observe/plain-histogram.ts: the review-duration histogram must be exported exactly as
 * prom-client's own Histogram exports the same observations (interfaces.md "Metrics": dashboards
 * and alerts read `imagegate_review_duration_seconds` by name, bucket and `le`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { PlainHistogram } from '../../../server/observe/plain-histogram';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const NAME = 'imagegate_review_duration_seconds';
const HELP = 'Time to answer one ImageReview.';

/** The same observations into a PlainHistogram and into prom-client's Histogram, each in its own registry. */
function both(values: readonly number[]): { plain: Registry; reference: Registry; histogram: PlainHistogram } {
  const plain = new Registry();
  const reference = new Registry();
  const histogram = new PlainHistogram(NAME, HELP, BUCKETS, plain);
  const promHistogram = new Histogram({ name: NAME, help: HELP, buckets: BUCKETS, registers: [reference] });
  for (const v of values) {
    histogram.observe(v);
    promHistogram.observe(v);
  }
  return { plain, reference, histogram };
}

describe('PlainHistogram', () => {
  it('exports the text prom-client exports before any observation (zeros, not an absent series)', async () => {
    const { plain, reference } = both([]);
    assert.equal(await plain.metrics(), await reference.metrics());
    assert.match(await plain.metrics(), /^imagegate_review_duration_seconds_bucket\{le="\+Inf"\} 0$/m);
  });

  it('exports the same text and JSON as prom-client for values on, between, below and above the bounds', async () => {
    const values = [0, 0.0001, 0.0005, 0.00050001, 0.001, 0.0042, 0.01, 0.07, 0.1, 0.3, 1, 2.5, 7, 10, 10.5, 600];
    for (let i = 0; i < 1000; i++) values.push((i * 7919) % 12000 / 1000); // 0 … 12 s, a spread over every bucket
    const { plain, reference } = both(values);
    const text = await plain.metrics();
    assert.equal(text, await reference.metrics());
    // As JSON (what a consumer of getMetricsAsJSON serialises): prom-client's sum/count samples carry
    // `exemplar: undefined`, which JSON drops and this class does not write.
    const json = async (r: Registry) => JSON.parse(JSON.stringify(await r.getMetricsAsJSON())) as unknown;
    assert.deepEqual(await json(plain), await json(reference));
    assert.match(text, new RegExp(`^${NAME}_count ${values.length}$`, 'm'));
    assert.match(text, /^imagegate_review_duration_seconds_bucket\{le="0.0005"\} 4$/m); // 0, 0.0001, 0.0005 itself, and the spread's 0
  });

  it('drops a value that is not a finite number instead of throwing on the review path', async () => {
    const { plain, histogram } = both([0.002]);
    histogram.observe(Number.NaN);
    histogram.observe(Number.POSITIVE_INFINITY);
    assert.match(await plain.metrics(), new RegExp(`^${NAME}_count 1$`, 'm'));
  });

  it('starts again from zero on reset (keeping the zero series, as before any observation)', async () => {
    const { plain, histogram } = both([0.003, 4]);
    histogram.reset();
    assert.equal(await plain.metrics(), await both([]).reference.metrics());
  });
});
