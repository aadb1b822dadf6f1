package main

import (
	"testing"

	"github.com/extremepoints/esp/analysis"
)

// TestSharpnessComparisonLine: a line where the kinds could be tested, or where runs
// trained differently kept them from it (saying so), with the
// outliers' gap where the probes found the largest eigenvalues, and the weight decay and
// the products named where they set the comparison apart.
func TestSharpnessComparisonLine(t *testing.T) {
	summary := func(n int, median float64) *analysis.Summary { return &analysis.Summary{N: n, Median: median} }
	test := func(p float64) *analysis.RankTest { return &analysis.RankTest{P: p, Effect: 1} }
	tested := analysis.SharpnessTest{Normal: summary(5, 2.22), Extreme: summary(5, 3.29), Test: test(0.00794)}
	trace := analysis.SharpnessTest{Normal: summary(5, 21.4), Extreme: summary(5, 62.3), Test: test(0.00794)}
	gap := &analysis.SharpnessTest{Normal: summary(5, 3.09), Extreme: summary(5, 2.34), Test: test(0.00794)}
	tests := []struct {
		name string
		c    analysis.SharpnessComparison
		want string
	}{
		{"one point of each", analysis.SharpnessComparison{Dataset: "mnist", Model: "mlp", HVP: analysis.HVPExact,
			TopEigenvalue: analysis.SharpnessTest{Normal: summary(1, 2), Extreme: summary(1, 3)}}, ""},
		{"tested, with outliers", analysis.SharpnessComparison{Dataset: "mnist", Model: "mlp", HVP: analysis.HVPExact,
			TopEigenvalue: tested, Trace: trace, OutlierGap: gap},
			"sharpness mnist/mlp, extreme vs normal points (5 + 5, medians): λ_max 3.29 vs 2.22, p 0.00794; trace 62.3 vs 21.4, p 0.00794; outlier gap 2.34x vs 3.09x, p 0.00794"},
		{"a weight decay, finite differences", analysis.SharpnessComparison{Dataset: "mnist", Model: "mlp", WeightDecay: 1e-4,
			HVP: analysis.HVPFiniteDifference, TopEigenvalue: tested, Trace: analysis.SharpnessTest{Normal: summary(5, 21.4), Extreme: summary(5, 62.3)}},
			"sharpness mnist/mlp (λ=0.0001) (finite-difference H·v), extreme vs normal points (5 + 5, medians): λ_max 3.29 vs 2.22, p 0.00794; trace 62.3 vs 21.4"},
		{"runs trained differently", analysis.SharpnessComparison{Dataset: "mnist", Model: "mlp", HVP: analysis.HVPExact,
			TopEigenvalue: analysis.SharpnessTest{Normal: summary(5, 2.22), Extreme: summary(5, 3.29)}, Note: "runs trained differently (a has epochs 15, b has epochs 30): not tested; report each study apart"},
			"sharpness mnist/mlp, extreme vs normal points: runs trained differently (a has epochs 15, b has epochs 30): not tested; report each study apart"},
		{"outliers of different --top", analysis.SharpnessComparison{Dataset: "mnist", Model: "mlp", HVP: analysis.HVPExact,
			TopEigenvalue: tested, Trace: trace, OutliersNote: "outliers not compared: probes looked for different numbers of eigenvalues (--top 5, 12), each count capped by its own"},
			"sharpness mnist/mlp, extreme vs normal points (5 + 5, medians): λ_max 3.29 vs 2.22, p 0.00794; trace 62.3 vs 21.4, p 0.00794; outliers not compared: probes looked for different numbers of eigenvalues (--top 5, 12), each count capped by its own"},
		{"one point of each, outliers of different --top", analysis.SharpnessComparison{Dataset: "mnist", Model: "mlp", HVP: analysis.HVPExact,
			TopEigenvalue: analysis.SharpnessTest{Normal: summary(1, 2), Extreme: summary(1, 3)}, OutliersNote: "outliers not compared"}, ""},
	}
	for _, tc := range tests {
		if got := sharpnessComparisonLine(tc.c); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}
