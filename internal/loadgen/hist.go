package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations in log-linear buckets, as HdrHistogram does:
// values below 2^subBits nanoseconds each have their own bucket (exact);
// above, every power of two is split into 2^(subBits-1) equal buckets, so a
// bucket is never wider than 1/128 of the values it holds. Quantile returns
// the highest value of the bucket that holds the wanted rank (clamped to the
// largest value recorded), which is at most 0.8 % above the exact
// sorted-sample percentile and never below it.
//
// The zero value is empty and ready to use. A Histogram is not safe for
// concurrent use.
type Histogram struct {
	counts []uint64 // grown on demand up to the largest bucket used
	n      uint64
	sum    float64 // nanoseconds, for the mean
	min    int64
	max    int64
}

// subBits sets the precision: 2^(subBits-1) = 128 buckets per power of two.
const subBits = 8

const (
	subCount = 1 << subBits       // exact buckets for values below this
	subHalf  = 1 << (subBits - 1) // buckets per power of two above
)

// bucketOf returns the bucket index of v >= 0.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits // >= 1
	top := v >> shift                // in [subHalf, subCount)
	return subCount + (shift-1)*subHalf + int(top-subHalf)
}

// bucketHigh is the highest value that falls into bucket i.
func bucketHigh(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	shift := (i-subCount)/subHalf + 1
	top := uint64((i-subCount)%subHalf + subHalf)
	return (top+1)<<shift - 1
}

// Record adds one duration; negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	i := bucketOf(uint64(v))
	if i >= len(h.counts) {
		grown := make([]uint64, i+1+subHalf)
		copy(grown, h.counts)
		h.counts = grown
	}
	h.counts[i]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		grown := make([]uint64, len(o.counts))
		copy(grown, h.counts)
		h.counts = grown
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest value recorded (0 when empty).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Min is the smallest value recorded (0 when empty).
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Mean is the average of the values recorded (0 when empty).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value below or at which a fraction q (0 < q <= 1) of
// the recorded values lie: the value of rank ceil(q*n) in sorted order
// (nearest rank), to within the bucket's precision. It returns 0 when the
// histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := min(int64(bucketHigh(i)), h.max)
			return time.Duration(max(v, h.min))
		}
	}
	return time.Duration(h.max)
}
