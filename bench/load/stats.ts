// Small statistics: merging the load generators' latency histograms, and
// summarising a figure over runs as median with min and max.

/** [low ns, high ns, count] buckets, as loadgen.c prints them (same bucket edges in every process). */
export type Histogram = Array<[number, number, number]>;

export function mergeHistograms(histograms: readonly Histogram[]): Histogram {
  const byLow = new Map<number, [number, number, number]>();
  for (const histogram of histograms) {
    for (const [low, high, count] of histogram) {
      const bucket = byLow.get(low);
      if (bucket === undefined) byLow.set(low, [low, high, count]);
      else bucket[2] += count;
    }
  }
  return [...byLow.values()].sort((a, b) => a[0] - b[0]);
}

/** The q-quantile (0..1) in ns: the middle of the bucket that holds it. */
export function percentile(histogram: Histogram, q: number): number {
  const total = histogram.reduce((n, [, , count]) => n + count, 0);
  if (total === 0) return 0;
  const rank = Math.min(total - 1, Math.floor(q * total));
  let seen = 0;
  for (const [low, high, count] of histogram) {
    seen += count;
    if (seen > rank) return (low + high) / 2;
  }
  return 0;
}

export interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: [...values] };
}
