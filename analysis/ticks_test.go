package analysis

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot"
)

// labels returns the labels of the labeled ticks, in order.
func labels(ticks []plot.Tick) []string {
	var out []string
	for _, t := range ticks {
		if t.Label != "" {
			out = append(out, t.Label)
		}
	}
	return out
}

// TestLinearTicks: every major tick carries a label, at a 1, 2 or 5 step; the expected
// labels are the multiples of the step a reader would choose for the range.
func TestLinearTicks(t *testing.T) {
	tests := []struct {
		name     string
		lo, hi   float64
		integers bool
		want     []string
	}{
		// gonum's DefaultTicks labeled -0.5, 0.5 and 1.5 only: α = 0 and 1 were bare.
		{"interpolation α", -0.5, 1.5, false, []string{"-0.5", "0", "0.5", "1", "1.5"}},
		{"1D slice α", -1, 1, false, []string{"-1", "-0.5", "0", "0.5", "1"}},
		{"epochs", 0, 15, false, []string{"0", "5", "10", "15"}},
		{"steps", 0, 30, false, []string{"0", "5", "10", "15", "20", "25", "30"}},
		{"tenths: 3·0.1 is 0.3", 0.1, 0.9, false, []string{"0.2", "0.4", "0.6", "0.8"}},
		{"no -0", -0.03, 0.05, false, []string{"-0.02", "0", "0.02", "0.04"}},
		{"distances", 34.94, 46.81, false, []string{"36", "38", "40", "42", "44", "46"}},
		// Too few labels (20, 25, 30) weigh more than one too many.
		{"more rather than fewer", 16, 32, false, []string{"16", "18", "20", "22", "24", "26", "28", "30", "32"}},
		{"large", -3e6, 7e6, false, []string{"-2e+06", "0", "2e+06", "4e+06", "6e+06"}},
		{"small", 0, 0.000123, false, []string{"0", "2e-05", "4e-05", "6e-05", "8e-05", "0.0001", "0.00012"}},
		{"counts", 0, 3.5, true, []string{"0", "1", "2", "3"}},
		{"counts, wide", 0, 45, true, []string{"0", "10", "20", "30", "40"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ticks := linearTicks{Integers: tc.integers}.Ticks(tc.lo, tc.hi)
			if got := labels(ticks); !slices.Equal(got, tc.want) {
				t.Errorf("labels %q, want %q", got, tc.want)
			}
			for _, tk := range ticks {
				if tk.Value < tc.lo-1e-9*(tc.hi-tc.lo) || tk.Value > tc.hi+1e-9*(tc.hi-tc.lo) {
					t.Errorf("tick %v outside [%v, %v]", tk.Value, tc.lo, tc.hi)
				}
				if tc.integers && tk.Value != math.Round(tk.Value) {
					t.Errorf("tick %v on a count axis", tk.Value)
				}
			}
		})
	}
}

// TestLinearTicksAnyRange: over ranges of every size and place (wider than a millionth of
// their values, beyond which float64 cannot space the ticks evenly), the labels are 4 to 10
// (4 to 8 for most), evenly spaced at 1, 2 or 5 times a power of ten, each the value of
// its tick written briefly (no "-0", no 0.30000000000000004).
func TestLinearTicksAnyRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	over8 := 0
	const trials = 20000
	for range trials {
		lo := (2*rng.Float64() - 1) * math.Pow10(rng.IntN(10)-5)
		hi := lo + rng.Float64()*math.Pow10(rng.IntN(10)-5)
		if !(hi-lo > 1e-6*math.Max(math.Abs(lo), math.Abs(hi))) {
			continue
		}
		var major []plot.Tick
		for _, tk := range (linearTicks{}).Ticks(lo, hi) {
			if tk.Label != "" {
				major = append(major, tk)
			}
		}
		if n := len(major); n < 4 || n > 10 {
			t.Fatalf("[%v, %v]: %d labels %q", lo, hi, n, labels(major))
		} else if n > 8 {
			over8++
		}
		step := major[1].Value - major[0].Value
		mantissa := step / math.Pow10(int(math.Floor(math.Log10(step)+1e-9)))
		if m := math.Round(mantissa); math.Abs(mantissa-m) > 1e-6 || (m != 1 && m != 2 && m != 5) {
			t.Fatalf("[%v, %v]: step %v is not 1, 2 or 5 times a power of ten", lo, hi, step)
		}
		for k, tk := range major {
			v, err := strconv.ParseFloat(tk.Label, 64)
			if err != nil || v != tk.Value || strings.HasPrefix(tk.Label, "-0") && v == 0 || len(tk.Label) > 12 {
				t.Fatalf("[%v, %v]: tick %v labeled %q", lo, hi, tk.Value, tk.Label)
			}
			if k > 0 && math.Abs(tk.Value-major[k-1].Value-step) > 1e-6*step {
				t.Fatalf("[%v, %v]: labels %q not evenly spaced", lo, hi, labels(major))
			}
		}
	}
	if over8 > trials/20 {
		t.Errorf("%d of %d ranges got more than 8 labels, want under 5%%", over8, trials)
	}
}

// TestLogTicks: at least 3 labels on every log axis: the powers of ten where the range
// spans enough of them, 1-2-5 where not, the linear ticks within a factor of about 6.
func TestLogTicks(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi float64
		want   []string
	}{
		{"many decades", 0.006, 40, []string{"0.01", "0.1", "1", "10"}},
		{"two decades: 1-2-5", 0.03, 3.8, []string{"0.05", "0.1", "0.2", "0.5", "1", "2"}},
		{"a decade: 1-2-5", 0.5, 2.2, []string{"0.5", "1", "2"}},
		// plot.LogTicks labeled nothing here (notebook 02's corrupted test loss).
		{"within a decade", 2.3, 3.8, []string{"2.4", "2.6", "2.8", "3", "3.2", "3.4", "3.6", "3.8"}},
		{"within a factor of 6", 0.15, 0.9, []string{"0.2", "0.4", "0.6", "0.8"}},
		{"too many decades: every other", 1e-8, 1e3, []string{"1e-08", "1e-06", "0.0001", "0.01", "1", "100"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ticks := logTicks{}.Ticks(tc.lo, tc.hi)
			if got := labels(ticks); !slices.Equal(got, tc.want) {
				t.Errorf("labels %q, want %q", got, tc.want)
			}
			for _, tk := range ticks {
				if tk.Value < tc.lo*(1-1e-9) || tk.Value > tc.hi*(1+1e-9) {
					t.Errorf("tick %v outside [%v, %v]", tk.Value, tc.lo, tc.hi)
				}
				if v, err := strconv.ParseFloat(tk.Label, 64); tk.Label != "" && (err != nil || v != tk.Value) {
					t.Errorf("tick %v labeled %q", tk.Value, tk.Label)
				}
			}
		})
	}
}
