package analysis

import (
	"bytes"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/extremepoints/esp/experiment"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
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
		{"strip with a diverged run", func() (*Figure, error) {
			return StripFigure("s", "t", "x", []string{"a", "b"}, [][]float64{{1, 2, nan}, {3, inf}})
		}, ""},
		{"strip of one value", func() (*Figure, error) {
			return StripFigure("s", "t", "x", []string{"a", "b"}, [][]float64{{2}, nil})
		}, ""},
		{"strip, nothing finite", func() (*Figure, error) {
			return StripFigure("s", "t", "x", []string{"a"}, [][]float64{{nan, inf}})
		}, "figure s: no finite values"},
		{"strip, a label short", func() (*Figure, error) {
			return StripFigure("s", "t", "x", []string{"a"}, [][]float64{{1}, {2}})
		}, "figure s: 1 labels for 2 samples"},
		{"bars", func() (*Figure, error) {
			return BarFigure("b", "t", "y", []string{"1e-4", "1e-3"}, []Series{{Label: "acc", Y: []float64{0.5, 0.7}}})
		}, ""},
		{"bars, a value short", func() (*Figure, error) {
			return BarFigure("b", "t", "y", []string{"1e-4", "1e-3"}, []Series{{Label: "acc", Y: []float64{0.5}}})
		}, `figure b: series "acc" has 1 values for 2 groups`},
		{"lines, nothing finite", func() (*Figure, error) {
			return LineFigure("l", "t", "x", "y", false, Series{Label: "s", X: []float64{0, 1}, Y: []float64{nan, nan}})
		}, "figure l: no finite values"},
		{"heat map", func() (*Figure, error) {
			return HeatMapFigure("h", "t", "x", "y", []float64{-1, 0, 1}, []float64{-1, 1}, [][]float64{{1, 2}, {3, nan}, {2, 1}})
		}, ""},
		{"matrix", func() (*Figure, error) {
			return MatrixFigure("m", "t", "x", "y", []string{"a", "b"}, []string{"c", "d", "e"}, [][]float64{{0, 1}, {2, 3}, {4, 5}})
		}, ""},
		{"matrix of one cell", func() (*Figure, error) {
			return MatrixFigure("m", "t", "x", "y", []string{"a"}, []string{"b"}, [][]float64{{0}})
		}, ""},
		{"matrix, long names", func() (*Figure, error) {
			names := []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
			counts := make([][]float64, len(names))
			for i := range counts {
				counts[i] = make([]float64, len(names))
			}
			return MatrixFigure("m", "t", "x", "y", names, names, counts)
		}, ""},
		{"matrix, a row short", func() (*Figure, error) {
			return MatrixFigure("m", "t", "x", "y", []string{"a", "b"}, []string{"c", "d"}, [][]float64{{0, 1}, {2}})
		}, "figure m: row 1 has 1 counts for 2 column names"},
		{"matrix, a row name short", func() (*Figure, error) {
			return MatrixFigure("m", "t", "x", "y", []string{"a", "b"}, []string{"c"}, [][]float64{{0, 1}, {2, 3}})
		}, "figure m: 2 rows of counts for 1 row names"},
		{"matrix, a count not finite", func() (*Figure, error) {
			return MatrixFigure("m", "t", "x", "y", []string{"a"}, []string{"c"}, [][]float64{{inf}})
		}, "figure m: count (0, 0) is +Inf"},
		{"matrix, no names", func() (*Figure, error) {
			return MatrixFigure("m", "t", "x", "y", nil, nil, nil)
		}, "figure m: a matrix needs at least one row and one column name"},
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
	// All three runs of a kind in one bin: a bar of 3, and the legend's band above it (the
	// band measured again, once the axis has risen, differs by the padding the bars' glyph
	// boxes no longer need at the top: under 1%).
	share := legendShare(f.plot, 2)
	if want := 3 / (1 - share); math.Abs(f.plot.Y.Max-want) > 0.01*want {
		t.Errorf("y axis up to %v, want %v (the tallest bar, 3, and room for the legend)", f.plot.Y.Max, want)
	}
}

// TestLegendRoom: the y axis rises above the data so that the legend, at the top right,
// takes a band of its own: as many rows as labeled series, the share of the axis the
// legend's text takes of the data area (about 6% a row at the figure's size), by a
// factor on a log axis.
func TestLegendRoom(t *testing.T) {
	x := []float64{0, 1, 2}
	tests := []struct {
		name     string
		yLabel   string
		logY     bool
		series   []Series
		min, max float64 // the data's range (the accuracy axis: 0 to 1)
		rows     int
	}{
		{"linear, 2 rows", "loss", false, []Series{{Label: "a", X: x, Y: []float64{1, 2, 3}}, {Label: "b", X: x, Y: []float64{2, 2, 2}}}, 1, 3, 2},
		{"unlabeled series take no row", "loss", false, []Series{{Label: "a", X: x, Y: []float64{1, 2, 3}}, {X: x, Y: []float64{2, 2, 2}}}, 1, 3, 1},
		{"accuracy, 4 rows", "accuracy", false, []Series{{Label: "a", X: x, Y: []float64{0.1, 0.9, 1}}, {Label: "b", X: x, Y: []float64{0, 0, 0}},
			{Label: "c", X: x, Y: []float64{0.5, 0.5, 0.5}}, {Label: "d", X: x, Y: []float64{1, 1, 1}}}, 0, 1, 4},
		{"test accuracy, 2 rows", "test accuracy", false, []Series{{Label: "a", X: x, Y: []float64{0.2, 0.5, 0.6}}, {Label: "b", X: x, Y: []float64{0.3, 0.3, 0.3}}}, 0, 1, 2},
		{"log, 2 rows", "loss", true, []Series{{Label: "train", X: x, Y: []float64{2.3, 0.5, 0.1}}, {Label: "test", X: x, Y: []float64{2.3, 3, 3.8}}}, 0.1, 3.8, 2},
		// Down to the smallest float64: the top, raised by a power of hi/lo, was +Inf, and
		// drawing panicked.
		{"log over 323 decades", "density", true, []Series{{Label: "a", X: x, Y: []float64{5e-324, 1e-5, 1}}}, 5e-324, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := LineFigure("l", "t", "x", tc.yLabel, tc.logY, tc.series...)
			if err != nil {
				t.Fatal(err)
			}
			share := legendShare(f.plot, tc.rows)
			if share < 0.04*float64(tc.rows) || share > 0.09*float64(tc.rows)+0.05 {
				t.Errorf("legend of %d rows takes %.3f of the data area, want about 0.06 a row", tc.rows, share)
			}
			// The data keep the axis below the band: (max-min)/(Max-min) = 1-share, in
			// logarithms on a log axis (within 0.01: the share measured again, once the
			// axis has risen, lacks the padding the lines' ends needed at the top).
			if _, err := f.PNG(); err != nil {
				t.Fatal(err)
			}
			lo, hi, top := tc.min, tc.max, f.plot.Y.Max
			if tc.logY {
				lo, hi, top = math.Log(lo), math.Log(hi), math.Log(top)
			}
			if got := (hi - lo) / (top - lo); math.Abs(got-(1-share)) > 0.01 {
				t.Errorf("the data take %.4f of the y axis (top %v), want %.4f", got, f.plot.Y.Max, 1-share)
			}
		})
	}
}

// TestMatrixCells: MatrixFigure's layout puts row 0 of the counts at the top, one tick per
// name at its cell's center, each count written at its cell's center, and a color scale
// from 0 (white) to the largest count.
func TestMatrixCells(t *testing.T) {
	counts := [][]float64{ // rows: true class a, b; columns: assigned x, y, z
		{0, 7, 2.5},
		{12, 0, 1},
	}
	m, err := matrixCells([]string{"x", "y", "z"}, []string{"a", "b"}, counts)
	if err != nil {
		t.Fatal(err)
	}
	wantX := plot.ConstantTicks{{Value: 0, Label: "x"}, {Value: 1, Label: "y"}, {Value: 2, Label: "z"}}
	wantY := plot.ConstantTicks{{Value: 0, Label: "b"}, {Value: 1, Label: "a"}} // a, row 0, on top
	if !slices.Equal(m.xTicks, wantX) || !slices.Equal(m.yTicks, wantY) {
		t.Errorf("ticks x %v y %v, want x %v y %v", m.xTicks, m.yTicks, wantX, wantY)
	}
	if m.lo != 0 || m.hi != 12 {
		t.Errorf("color scale %v to %v, want 0 to 12", m.lo, m.hi)
	}
	written := map[plotter.XY]string{}
	for k, xy := range m.labels.XYs {
		written[xy] = m.labels.Labels[k]
	}
	for i, row := range counts {
		for j, v := range row {
			at := plotter.XY{X: float64(j), Y: float64(len(counts) - 1 - i)}
			if want := strconv.FormatFloat(v, 'g', -1, 64); written[at] != want {
				t.Errorf("cell (%d, %d) at %v: written %q, want %q", i, j, at, written[at], want)
			}
			if got := m.grid.Z(j, len(counts)-1-i); got != v {
				t.Errorf("cell (%d, %d) shaded for %v, want %v", i, j, got, v)
			}
		}
	}
	if len(written) != 6 {
		t.Errorf("%d cells written, want 6", len(written))
	}
}

// TestOtherColor: the colors for curves of neither kind never repeat the kinds' blue and
// red, are distinct over a cycle, and start with the green KindColor gives other kinds.
func TestOtherColor(t *testing.T) {
	if OtherColor(0) != KindColor("fit") {
		t.Errorf("OtherColor(0) %v, want KindColor's color for other kinds %v", OtherColor(0), KindColor("fit"))
	}
	seen := map[color.Color]int{}
	for i := -4; i < 4; i++ {
		c := OtherColor(i)
		if c == KindColor(experiment.KindNormal) || c == KindColor(experiment.KindCorrupted) {
			t.Errorf("OtherColor(%d) is a kind's color %v", i, c)
		}
		seen[c]++
	}
	if len(seen) != 4 {
		t.Errorf("%d distinct colors over 8 calls, want a cycle of 4", len(seen))
	}
}
