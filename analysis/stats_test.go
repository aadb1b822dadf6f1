package analysis

import (
	"math"
	"math/bits"
	"slices"
	"testing"
)

func TestSummarize(t *testing.T) {
	s, err := Summarize([]float64{4, 1, 3, 2, 5})
	if err != nil {
		t.Fatal(err)
	}
	// Hand-computed: mean 3, sample std sqrt(2.5), median 3.
	if s.N != 5 || s.Mean != 3 || math.Abs(s.Std-math.Sqrt(2.5)) > 1e-12 || s.Median != 3 || s.Min != 1 || s.Max != 5 {
		t.Errorf("got %+v", s)
	}
	if _, err := Summarize(nil); err == nil {
		t.Error("no error for an empty sample")
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := Summarize([]float64{1, 2, bad}); err == nil {
			t.Errorf("no error for %v", bad)
		}
	}
}

func TestMannWhitneyU(t *testing.T) {
	tests := []struct {
		name       string
		a, b       []float64
		wantU      float64
		wantP      float64 // reference: scipy.stats.mannwhitneyu(a, b) (exact for a sample of 8 or fewer without ties, else asymptotic with continuity correction)
		tolP       float64
		wantEffect float64
	}{
		{
			// Complete separation, 10 vs 10: U = 100, z = (50 - 0.5)/sqrt(175) = 3.742, p = 1.827e-4.
			name:  "separated",
			a:     []float64{11, 12, 13, 14, 15, 16, 17, 18, 19, 20},
			b:     []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
			wantU: 100, wantP: 1.8267e-4, tolP: 1e-7, wantEffect: 1,
		},
		{
			// Small and without ties: exact. 5 vs 5 apart: p = 2/C(10,5) = 2/252.
			name: "separated, small", a: []float64{6, 7, 8, 9, 10}, b: []float64{1, 2, 3, 4, 5},
			wantU: 25, wantP: 2.0 / 252, tolP: 1e-12, wantEffect: 1,
		},
		{
			// 6 vs 6, U = 34: 4 of the 924 orderings give U >= 34 (U 34, 34, 35, 36), and 4 U <= 2:
			// p = 8/924 = 0.00866 exactly, below 0.01; the normal approximation gives 0.0131.
			name: "exact 6 vs 6", a: []float64{5, 8, 9, 10, 11, 12}, b: []float64{1, 2, 3, 4, 6, 7},
			wantU: 34, wantP: 8.0 / 924, tolP: 1e-12, wantEffect: 34.0 / 36,
		},
		{
			// Identical samples: U = n1 n2 / 2, p = 1.
			name: "identical", a: []float64{1, 2, 3}, b: []float64{1, 2, 3},
			wantU: 4.5, wantP: 1, tolP: 1e-12, wantEffect: 0.5,
		},
		{
			// With ties: a = [1,2,2,3], b = [2,3,3,4]. Mid-ranks: 1->1, 2->3 (x3), 3->6 (x3), 4->8.
			// R_A = 1+3+3+6 = 13, U = 13 - 10 = 3; tie term = 2*(27-3) = 48;
			// var = 16/12*(9 - 48/56) = 10.857; z = (3 - 8 + 0.5)/3.295 = -1.3657; p = 0.1720.
			name: "ties", a: []float64{1, 2, 2, 3}, b: []float64{2, 3, 3, 4},
			wantU: 3, wantP: 0.1720, tolP: 1e-4, wantEffect: 3.0 / 16,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MannWhitneyU(tc.a, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if got.U != tc.wantU || math.Abs(got.P-tc.wantP) > tc.tolP || math.Abs(got.Effect-tc.wantEffect) > 1e-12 {
				t.Errorf("got %+v, want U %v, p %v (±%v), effect %v", got, tc.wantU, tc.wantP, tc.tolP, tc.wantEffect)
			}
		})
	}
	if _, err := MannWhitneyU(nil, []float64{1}); err == nil {
		t.Error("no error for an empty sample")
	}
}

// TestUDistribution checks the exact distribution of U against every ordering of m + n
// distinct values.
func TestUDistribution(t *testing.T) {
	for m := 1; m <= 6; m++ {
		for n := 1; n <= 6; n++ {
			counts, total, ok := uDistribution(m, n)
			if !ok {
				t.Fatalf("%d and %d: not computed", m, n)
			}
			want := make([]float64, m*n+1)
			orderings := 0
			for mask := 0; mask < 1<<(m+n); mask++ { // bit k set: the k-th smallest value is of the first sample
				if bits.OnesCount(uint(mask)) != m {
					continue
				}
				orderings++
				u, below := 0, 0 // U: pairs with the first sample's value above the second's
				for k := 0; k < m+n; k++ {
					if mask&(1<<k) != 0 {
						u += below
					} else {
						below++
					}
				}
				want[u]++
			}
			if total != float64(orderings) || !slices.Equal(counts, want) {
				t.Errorf("%d and %d: counts %v of %v, want %v of %d", m, n, counts, total, want, orderings)
			}
		}
	}
	if _, _, ok := uDistribution(8, 1000); ok {
		t.Error("8 and 1000 values: counts beyond a float64's integers computed")
	}
}
