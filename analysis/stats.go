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

// Summarize returns the summary statistics of values, which must be finite (an infinite
// value has no mean or spread, and a Summary goes to JSON). The quartiles and the median
// interpolate linearly between the sorted values (as numpy's default does): the median of
// an even number of values is the mean of the middle two.
func Summarize(values []float64) (Summary, error) {
	if len(values) == 0 {
		return Summary{}, fmt.Errorf("summarize: no values")
	}
	for i, v := range values {
		if !finiteValue(v) {
			return Summary{}, fmt.Errorf("summarize: value %d is %v; only finite values summarize", i, v)
		}
	}
	x := slices.Clone(values)
	sort.Float64s(x)
	s := Summary{N: len(x), Mean: stat.Mean(x, nil), Min: x[0], Max: x[len(x)-1],
		Q25: quantile(x, 0.25), Median: quantile(x, 0.5), Q75: quantile(x, 0.75)}
	if len(x) > 1 {
		s.Std = stat.StdDev(x, nil)
	}
	return s, nil
}

// quantile returns the p-quantile of the sorted values x, interpolating linearly between
// the two values around position p(n-1) (Hyndman and Fan's type 7). gonum's
// stat.Quantile has no such rule: its empirical one returns the lower middle value.
func quantile(x []float64, p float64) float64 {
	h := p * float64(len(x)-1)
	lo := int(h)
	if lo+1 >= len(x) {
		return x[len(x)-1]
	}
	return x[lo] + (h-float64(lo))*(x[lo+1]-x[lo])
}

// RankTest is the result of a two-sided Mann-Whitney U test of samples A and B.
type RankTest struct {
	U float64 `json:"u"` // U statistic of sample A
	Z float64 `json:"z"` // normal approximation, tie-corrected, with continuity correction
	P float64 `json:"p"` // two-sided p-value
	// Exact says P is exact (from the distribution of U, as for small samples without
	// ties), not the normal approximation.
	Exact bool `json:"exact"`
	// Effect is the probability that a value of A exceeds one of B (ties count half):
	// U / (nA nB). 1 means every A exceeds every B.
	Effect float64 `json:"effect"`
}

// MannWhitneyU tests whether values of a tend to differ from values of b, without assuming
// a distribution. As scipy's mannwhitneyu chooses by default, the p-value is exact when a
// sample has at most 8 values and there are no ties (where the normal approximation is
// too conservative: 6 runs against 6, all apart, give p = 0.0022 exactly, 0.0051
// approximated), and otherwise uses the normal approximation with tie correction.
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
	ties := tieTerm > 0
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
	if !ties && min(na, nb) <= 8 {
		if counts, total, ok := uDistribution(na, nb); ok {
			atMost, atLeast := 0.0, 0.0 // arrangements with U <= u, U >= u
			for k, c := range counts {
				if float64(k) <= u {
					atMost += c
				}
				if float64(k) >= u {
					atLeast += c
				}
			}
			res.P, res.Exact = math.Min(1, 2*math.Min(atMost, atLeast)/total), true
		}
	}
	return res, nil
}

// uDistribution returns how many of the total orderings of m values of one sample and n of
// another (all distinct) give the first sample's U statistic each value 0..mn: the
// coefficients of the Gaussian binomial coefficient [m+n choose m] in q, built as the
// product over i = 1..m of (1 - q^(n+i)) / (1 - q^i). ok is false where the counts would
// exceed the integers a float64 holds exactly.
func uDistribution(m, n int) (counts []float64, total float64, ok bool) {
	total = 1
	for i := 1; i <= m; i++ {
		total = total * float64(n+i) / float64(i)
	}
	if total > 1<<53 {
		return nil, 0, false
	}
	c := make([]float64, m*n+m+1) // room for the product before each division
	c[0] = 1
	degree := 0
	for i := 1; i <= m; i++ {
		d := n + i // times (1 - q^d)
		for k := degree + d; k >= d; k-- {
			c[k] -= c[k-d]
		}
		for k := i; k <= degree+d; k++ { // divided by (1 - q^i): exact
			c[k] += c[k-i]
		}
		degree += n
	}
	return c[:m*n+1], total, true
}

// SmallestRankP is the smallest p-value MannWhitneyU can give samples of m and n distinct
// values, reached when every value of one lies above every value of the other: what a
// study of m against n runs can show at best. For 3 against 3 runs it is 0.1 (exact: 2 of
// the 20 orderings are as far apart), so no such study reaches p < 0.05 however far apart
// its runs are. It is exact, as MannWhitneyU's p-value, while the smaller sample has at most
// 8 values, and the normal approximation beyond.
func SmallestRankP(m, n int) float64 {
	if m < 1 || n < 1 {
		return 1
	}
	a, b := make([]float64, m), make([]float64, n)
	for i := range a {
		a[i] = float64(n + i)
	}
	for i := range b {
		b[i] = float64(i)
	}
	test, err := MannWhitneyU(a, b)
	if err != nil {
		return 1
	}
	return test.P
}
