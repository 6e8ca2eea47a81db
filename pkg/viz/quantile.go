package viz

import (
	"math"
	"sort"
)

// bucket is one cumulative histogram bucket: requests per second at or below le seconds.
type bucket struct {
	le    float64
	count float64
}

// histogram gathers the buckets of one histogram, summed over the series that share a key.
type histogram map[float64]float64

func (h histogram) add(le, v float64) { h[le] += v }

// quantile is PromQL's histogram_quantile over h, in seconds: the bucket where the q-th
// observation falls, interpolated linearly inside it; nil with no observation. As PromQL,
// a quantile in the +Inf bucket is the highest finite bound, and counts that dip (scrapes
// taken at different times) are made monotonic first.
func (h histogram) quantile(q float64) *float64 {
	if len(h) == 0 || math.IsNaN(q) {
		return nil
	}
	bs := make([]bucket, 0, len(h))
	for le, c := range h {
		bs = append(bs, bucket{le, c})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	if !math.IsInf(bs[len(bs)-1].le, 1) || len(bs) < 2 {
		return nil // no +Inf bucket: not a histogram PromQL would answer for either
	}
	for i := 1; i < len(bs); i++ {
		bs[i].count = math.Max(bs[i].count, bs[i-1].count)
	}
	total := bs[len(bs)-1].count
	if total <= 0 {
		return nil
	}
	switch {
	case q < 0:
		return ptr(math.Inf(-1))
	case q > 1:
		return ptr(math.Inf(1))
	}
	rank := q * total
	i := sort.Search(len(bs)-1, func(i int) bool { return bs[i].count >= rank })
	if i == len(bs)-1 {
		return ptr(bs[len(bs)-2].le)
	}
	if i == 0 && bs[0].le <= 0 {
		return ptr(bs[0].le)
	}
	start, below := 0.0, 0.0
	if i > 0 {
		start, below = bs[i-1].le, bs[i-1].count
	}
	end, in := bs[i].le, bs[i].count-below
	if in <= 0 {
		return ptr(end)
	}
	return ptr(start + (end-start)*(rank-below)/in)
}

// millis turns seconds into milliseconds, keeping nil.
func millis(s *float64) *float64 {
	if s == nil {
		return nil
	}
	return ptr(*s * 1000)
}
