package analysis

import (
	"slices"
	"strings"
	"testing"
)

func TestPlan(t *testing.T) {
	tests := []struct {
		scale            string
		datasets, models []string
		wantPairs        []string
		wantErr          string
	}{
		{"smoke", nil, nil, []string{"mnist/mlp"}, ""},
		{"", nil, nil, []string{"mnist/mlp"}, ""},
		{"quick", nil, nil, []string{"mnist/mlp", "fashion-mnist/mlp", "mnist/lenet", "fashion-mnist/lenet"}, ""},
		{"quick", []string{"mnist"}, []string{"lenet"}, []string{"mnist/lenet"}, ""},
		{"smoke", []string{"cifar10"}, nil, []string{"cifar10/mlp"}, ""},
		{"huge", nil, nil, nil, "valid scales are smoke, quick, paper"},
	}
	for _, tc := range tests {
		p, err := Plan(tc.scale, tc.datasets, tc.models)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Plan(%q): %v, want an error containing %q", tc.scale, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(p.Pairs, tc.wantPairs) {
			t.Errorf("Plan(%q, %v, %v) = %v, %v; want %v", tc.scale, tc.datasets, tc.models, p.Pairs, err, tc.wantPairs)
		}
	}
	paper, _ := Plan("paper", nil, nil)
	if len(paper.Pairs) != 9 || paper.Runs != 200 || paper.FullBatch.Steps != 300 {
		t.Errorf("paper scale: %d pairs, %d runs, %d full-batch steps; want 9, 200, 300 (the authors' protocol)",
			len(paper.Pairs), paper.Runs, paper.FullBatch.Steps)
	}
	// The paper scale trains as long as the authors' scripts; a pair outside a scale's list
	// gets 11 epochs.
	epochs := []struct {
		scale, pair string
		want        int
	}{
		{"paper", "mnist/mlp", 50},
		{"paper", "fashion-mnist/mlp", 50},
		{"paper", "cifar10/mlp", 250},
		{"paper", "mnist/lenet", 11},
		{"paper", "fashion-mnist/lenet", 11},
		{"paper", "cifar10/lenet", 20},
		{"paper", "mnist/resnet", 30},
		{"paper", "cifar10/resnet", 90},
		{"quick", "mnist/mlp", 15},
		{"quick", "fashion-mnist/lenet", 10},
		{"smoke", "cifar10/resnet", 11},
	}
	for _, tc := range epochs {
		d, m, _ := strings.Cut(tc.pair, "/")
		p, err := Plan(tc.scale, []string{d}, []string{m})
		if err != nil || !slices.Equal(p.Pairs, []string{tc.pair}) {
			t.Fatalf("Plan(%q, %s) = %v, %v; want the pair alone", tc.scale, tc.pair, p, err)
		}
		if got := p.EpochsOf(tc.pair); got != tc.want {
			t.Errorf("%s scale, %s: %d epochs, want %d", tc.scale, tc.pair, got, tc.want)
		}
	}
	quick, _ := Plan("quick", nil, nil)
	if runs, subset, test := quick.forModel("lenet"); runs < 6 || subset != 1000 || test != 250 {
		t.Errorf("quick lenet: %d runs on %d/%d; want at least 6 runs (the rank test needs them)", runs, subset, test)
	}
	if runs, _, _ := quick.forModel("mlp"); runs < 6 {
		t.Errorf("quick mlp: %d runs, want at least 6", runs)
	}
}
