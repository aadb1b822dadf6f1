package analysis

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Summary describes a sample of one quantity across runs.
type Summary struct {
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	Std    float64 `json:"std"` // sample standard deviation (n-1)
	Min    float64 `json:"min"`
	Q25    float64 `json:"q25"`
	Median float64 `json:"median"`
	Q75    float64 `json:"q75"`
	Max    float64 `json:"max"`
}

// Summarize returns the summary statistics of values (empirical quantiles).
func Summarize(values []float64) (Summary, error) {
	if len(values) == 0 {
		return Summary{}, fmt.Errorf("summarize: no values")
	}
	for _, v := range values {
		if math.IsNaN(v) {
			return Summary{}, fmt.Errorf("summarize: NaN among the values")
		}
	}
	x := slices.Clone(values)
	sort.Float64s(x)
	s := Summary{N: len(x), Mean: stat.Mean(x, nil), Min: x[0], Max: x[len(x)-1],
		Q25:    stat.Quantile(0.25, stat.Empirical, x, nil),
		Median: stat.Quantile(0.5, stat.Empirical, x, nil),
		Q75:    stat.Quantile(0.75, stat.Empirical, x, nil)}
	if len(x) > 1 {
		s.Std = stat.StdDev(x, nil)
	}
	return s, nil
}

// RankTest is the result of a two-sided Mann-Whitney U test of samples A and B.
type RankTest struct {
	U float64 `json:"u"` // U statistic of sample A
	Z float64 `json:"z"` // normal approximation, tie-corrected, with continuity correction
	P float64 `json:"p"` // two-sided p-value
	// Effect is the probability that a value of A exceeds one of B (ties count half):
	// U / (nA nB). 1 means every A exceeds every B.
	Effect float64 `json:"effect"`
}

// MannWhitneyU tests whether values of a tend to differ from values of b, without assuming
// a distribution. The p-value uses the normal approximation with tie correction, accurate
// for samples of about 8 or more each.
func MannWhitneyU(a, b []float64) (RankTest, error) {
	na, nb := len(a), len(b)
	if na == 0 || nb == 0 {
		return RankTest{}, fmt.Errorf("mann-whitney: empty sample (%d and %d values)", na, nb)
	}
	type obs struct {
		v     float64
		fromA bool
	}
	all := make([]obs, 0, na+nb)
	for _, v := range a {
		all = append(all, obs{v, true})
	}
	for _, v := range b {
		all = append(all, obs{v, false})
	}
	for _, o := range all {
		if math.IsNaN(o.v) {
			return RankTest{}, fmt.Errorf("mann-whitney: NaN among the values")
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	// Mid-ranks for ties; tie term sum(t^3 - t) for the variance correction.
	rankSumA, tieTerm := 0.0, 0.0
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		mid := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if all[k].fromA {
				rankSumA += mid
			}
		}
		t := float64(j - i)
		tieTerm += t*t*t - t
		i = j
	}
	n1, n2 := float64(na), float64(nb)
	n := n1 + n2
	u := rankSumA - n1*(n1+1)/2
	mean := n1 * n2 / 2
	variance := n1 * n2 / 12 * ((n + 1) - tieTerm/(n*(n-1)))
	res := RankTest{U: u, Effect: u / (n1 * n2), P: 1}
	if variance > 0 {
		diff := u - mean
		correction := 0.5
		if math.Abs(diff) < correction {
			correction = math.Abs(diff)
		}
		res.Z = (diff - math.Copysign(correction, diff)) / math.Sqrt(variance)
		res.P = math.Min(1, 2*distuv.UnitNormal.CDF(-math.Abs(res.Z)))
	}
	return res, nil
}
