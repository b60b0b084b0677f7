package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// exactQuantile is the nearest-rank percentile of sorted samples.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func TestBucketsCoverEveryValueOnce(t *testing.T) {
	// Consecutive buckets must tile the values: bucket i ends right before
	// bucket i+1 starts, and every value maps into the bucket that ends at
	// or after it.
	for i := range 20 * subCount {
		lo := uint64(0)
		if i > 0 {
			lo = bucketHigh(i-1) + 1
		}
		hi := bucketHigh(i)
		if hi < lo {
			t.Fatalf("bucket %d is empty: [%d, %d]", i, lo, hi)
		}
		for _, v := range []uint64{lo, (lo + hi) / 2, hi} {
			if got := bucketOf(v); got != i {
				t.Fatalf("bucketOf(%d) = %d, want %d (bucket [%d, %d])", v, got, i, lo, hi)
			}
		}
		if lo >= subCount && float64(hi-lo+1)/float64(lo) > 1.0/subHalf {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its values", i, lo, hi, subHalf)
		}
	}
	// The largest durations still have a bucket.
	if i := bucketOf(math.MaxInt64); bucketHigh(i) < math.MaxInt64 {
		t.Fatalf("bucket of MaxInt64 ends at %d", bucketHigh(i))
	}
}

func TestQuantileAgainstSortedSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := []struct {
		name string
		gen  func() time.Duration
	}{
		{"uniform 0-10ms", func() time.Duration { return time.Duration(rng.Int64N(int64(10 * time.Millisecond))) }},
		{"lognormal around 2ms", func() time.Duration {
			return time.Duration(math.Exp(rng.NormFloat64()*0.8) * float64(2*time.Millisecond))
		}},
		{"bimodal with a 200ms tail", func() time.Duration {
			if rng.IntN(1000) < 3 {
				return 200*time.Millisecond + time.Duration(rng.Int64N(int64(50*time.Millisecond)))
			}
			return time.Duration(rng.Int64N(int64(3 * time.Millisecond)))
		}},
		{"tiny exact values", func() time.Duration { return time.Duration(rng.Int64N(200)) }},
	}
	for _, d := range dists {
		t.Run(d.name, func(t *testing.T) {
			var h Histogram
			samples := make([]time.Duration, 100_000)
			for i := range samples {
				samples[i] = d.gen()
				h.Record(samples[i])
			}
			slices.Sort(samples)
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
				want := exactQuantile(samples, q)
				got := h.Quantile(q)
				if got < want || float64(got-want) > float64(want)/subHalf {
					t.Errorf("q%v = %v, exact %v: off by more than 1/%d", q, got, want, subHalf)
				}
			}
			if h.Max() != samples[len(samples)-1] || h.Min() != samples[0] {
				t.Errorf("min/max = %v/%v, want %v/%v", h.Min(), h.Max(), samples[0], samples[len(samples)-1])
			}
			if h.Count() != uint64(len(samples)) {
				t.Errorf("count = %d", h.Count())
			}
		})
	}
}

func TestQuantileSmallCounts(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram should answer 0")
	}
	h.Record(5 * time.Millisecond)
	for _, q := range []float64{0, 0.5, 0.999, 1} {
		if got := h.Quantile(q); got != 5*time.Millisecond {
			t.Errorf("one value: q%v = %v", q, got)
		}
	}
	h.Record(-time.Second) // counts as 0
	if h.Min() != 0 || h.Quantile(0.5) != 0 || h.Quantile(1) != 5*time.Millisecond {
		t.Errorf("after a negative value: min %v, p50 %v, max %v", h.Min(), h.Quantile(0.5), h.Quantile(1))
	}
}

func TestMerge(t *testing.T) {
	var a, b, all Histogram
	for i := range 1000 {
		d := time.Duration(i) * time.Microsecond
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	a.Merge(nil)
	a.Merge(&Histogram{})
	if a.Count() != all.Count() || a.Max() != all.Max() || a.Min() != all.Min() || a.Mean() != all.Mean() {
		t.Fatalf("merged count/min/max/mean %d/%v/%v/%v, want %d/%v/%v/%v",
			a.Count(), a.Min(), a.Max(), a.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
	for _, q := range []float64{0.5, 0.99, 0.999} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("q%v: merged %v, single %v", q, a.Quantile(q), all.Quantile(q))
		}
	}
}
