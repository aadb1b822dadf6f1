package analysis

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// TestFigureInputs: the figure builders draw what is finite and refuse, with an error
// naming the figure, inputs they cannot draw (where they once panicked).
func TestFigureInputs(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name    string
		build   func() (*Figure, error)
		wantErr string // "" means the figure draws
	}{
		{"histogram with a diverged run", func() (*Figure, error) {
			return HistogramFigure("h", "t", "x", []string{"a", "b"}, [][]float64{{1, 2, nan}, {3, inf}}, 5)
		}, ""},
		{"histogram, nothing finite", func() (*Figure, error) {
			return HistogramFigure("h", "t", "x", []string{"a"}, [][]float64{{nan, inf}}, 5)
		}, "figure h: no finite values"},
		{"histogram, a label short", func() (*Figure, error) {
			return HistogramFigure("h", "t", "x", []string{"a"}, [][]float64{{1}, {2}}, 5)
		}, "figure h: 1 labels for 2 samples"},
		{"bars", func() (*Figure, error) {
			return BarFigure("b", "t", "y", []string{"1e-4", "1e-3"}, []Series{{Label: "acc", Y: []float64{0.5, 0.7}}})
		}, ""},
		{"bars, a value short", func() (*Figure, error) {
			return BarFigure("b", "t", "y", []string{"1e-4", "1e-3"}, []Series{{Label: "acc", Y: []float64{0.5}}})
		}, `figure b: series "acc" has 1 values for 2 groups`},
		{"lines, nothing finite", func() (*Figure, error) {
			return LineFigure("l", "t", "x", "y", false, Series{Label: "s", X: []float64{0, 1}, Y: []float64{nan, nan}})
		}, "figure l: no finite values"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := tc.build()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			png, err := f.PNG()
			if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
				t.Fatalf("PNG: %d bytes, %v", len(png), err)
			}
		})
	}
}

// TestHistogramBins: the bars cover the values they count, over the range of all samples
// (plotter.NewHistogram, given bin centres, once drew them shifted and 10% narrower, with
// the largest values off the axis).
func TestHistogramBins(t *testing.T) {
	normal, extreme := []float64{34.94, 34.97, 35.03}, []float64{46.62, 46.70, 46.81}
	f, err := HistogramFigure("h", "t", "x", []string{"normal", "extreme"}, [][]float64{normal, extreme}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if f.plot.X.Min > 34.94 || f.plot.X.Max < 46.81 {
		t.Errorf("x axis [%v, %v] does not hold the values 34.94 to 46.81", f.plot.X.Min, f.plot.X.Max)
	}
	if f.plot.Y.Max != 3 {
		t.Errorf("tallest bar %v, want 3 (all three runs of a kind in one bin)", f.plot.Y.Max)
	}
}
