package analysis

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/recorder"
)

// Colors of the two kinds of run, used in every figure.
var (
	colorNormal    = color.RGBA{R: 31, G: 119, B: 180, A: 255} // blue
	colorCorrupted = color.RGBA{R: 214, G: 39, B: 40, A: 255}  // red
	colorThird     = color.RGBA{R: 44, G: 160, B: 44, A: 255}  // green
	colorFourth    = color.RGBA{R: 255, G: 127, B: 14, A: 255} // orange
)

// KindColor is the color of a kind of run ("normal" or "corrupted") in every figure, for
// callers drawing their own; other kinds get the third color.
func KindColor(kind string) color.Color {
	switch kind {
	case experiment.KindNormal:
		return colorNormal
	case experiment.KindCorrupted:
		return colorCorrupted
	}
	return colorThird
}

var seriesColors = []color.Color{colorNormal, colorCorrupted, colorThird, colorFourth,
	color.RGBA{R: 148, G: 103, B: 189, A: 255}, color.RGBA{R: 140, G: 86, B: 75, A: 255}}

// Colors of what is not a kind of run, so that blue and red mean normal and corrupted
// (or extreme) wherever they appear: train and test in a probe's figures, and the
// methods of a full-batch probe.
var (
	colorTrain   = colorThird
	colorTest    = colorFourth
	methodColors = seriesColors[2:]
)

// OtherColor is the i-th of the colors that mean neither kind of run (green, orange,
// purple, brown, then again), for curves that are not normal or extreme runs, such as one
// optimizer's restarts: blue and red stay reserved for the kinds.
func OtherColor(i int) color.Color {
	others := seriesColors[2:]
	return others[(i%len(others)+len(others))%len(others)]
}

// figureWidth and figureHeight size every figure: readable at notebook and page width.
const (
	figureWidth  = 16 * vg.Centimeter
	figureHeight = 10 * vg.Centimeter
)

// colorBarWidth is the strip at the right of a heat map that holds its color bar, the
// bar's axis and tick labels included.
const colorBarWidth = 2.4 * vg.Centimeter

// Figure is a plot written as PNG and SVG under one base name.
type Figure struct {
	Name     string // base file name, without extension
	Title    string
	Caption  string
	plot     *plot.Plot
	colorBar *plot.Plot // nil, or the color scale drawn at the right of plot
}

// newPlot returns a plot with the toolkit's title and axis style, with grid lines.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := newAxes(title, xLabel, yLabel)
	p.Add(plotter.NewGrid())
	return p
}

// newAxes returns a plot with the toolkit's title and axis style: every major tick of a
// linear axis labeled, the legend at the top right.
func newAxes(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.X.Tick.Marker, p.Y.Tick.Marker = linearTicks{}, linearTicks{}
	p.Legend.Top = true
	return p
}

// makeLegendRoom raises the top of p's y axis so that a legend of rows entries, drawn at
// the top right, has a band of its own above the data instead of covering it: the band
// takes the share of the axis that the legend's text takes of the figure's data area. A
// logarithmic axis is raised by a factor.
func makeLegendRoom(p *plot.Plot, rows int, logY bool) {
	if rows == 0 {
		return
	}
	share := legendShare(p, rows)
	grow := share / (1 - share)
	lo, hi := p.Y.Min, p.Y.Max
	switch {
	case logY && lo > 0 && hi > lo:
		// In decades: hi·(hi/lo)^grow overflows for data spanning hundreds of them.
		if top := math.Log10(hi) + grow*(math.Log10(hi)-math.Log10(lo)); top < 300 {
			p.Y.Max = math.Pow(10, top)
		}
	case !logY && hi > lo:
		p.Y.Max = hi + (hi-lo)*grow
	}
}

// legendShare is the fraction of p's data area, at the figure's size, that a legend of
// rows entries takes from the top, with half a row of space below it.
func legendShare(p *plot.Plot, rows int) float64 {
	full := draw.Canvas{Canvas: &recorder.Canvas{}, Rectangle: vg.Rectangle{Max: vg.Point{X: figureWidth, Y: figureHeight}}}
	area := p.DataCanvas(full)
	height := area.Max.Y - area.Min.Y
	sty := p.Legend.TextStyle
	row := sty.Rectangle("Mg").Max.Y
	band := vg.Length(rows)*row + vg.Length(rows-1)*p.Legend.Padding + sty.FontExtents().Descent + row/2
	if height <= 0 {
		return 0.5
	}
	return math.Min(0.5, float64(band/height))
}

// PNG renders the figure as PNG bytes (notebooks show these inline).
func (f *Figure) PNG() ([]byte, error) { return f.render("png") }

// SVG renders the figure as SVG bytes.
func (f *Figure) SVG() ([]byte, error) { return f.render("svg") }

func (f *Figure) render(format string) ([]byte, error) {
	c, err := draw.NewFormattedCanvas(figureWidth, figureHeight, format)
	if err != nil {
		return nil, fmt.Errorf("figure %s: %w", f.Name, err)
	}
	dc := draw.New(c)
	if f.colorBar == nil {
		f.plot.Draw(dc)
	} else {
		// The bar spans the height of the plot's data area, so that its scale reads
		// against the cells.
		main := draw.Crop(dc, 0, -colorBarWidth, 0, 0)
		f.plot.Draw(main)
		data := f.plot.DataCanvas(main)
		bar := dc
		bar.Min.X = main.Max.X + vg.Points(6)
		bar.Min.Y, bar.Max.Y = data.Min.Y, data.Max.Y
		f.colorBar.Draw(bar)
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("figure %s: %w", f.Name, err)
	}
	return buf.Bytes(), nil
}

// Save writes dir/NAME.png and dir/NAME.svg atomically.
func (f *Figure) Save(dir string) error {
	for _, format := range []string{"png", "svg"} {
		data, err := f.render(format)
		if err != nil {
			return err
		}
		if err := datasets.WriteFileAtomic(filepath.Join(dir, f.Name+"."+format), data); err != nil {
			return err
		}
	}
	return nil
}

// translucent returns an opaque color c with the given alpha.
func translucent(c color.Color, alpha uint8) color.Color {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	n.A = alpha
	return n
}

// Series is one named curve: y over x, with an optional band (y ± spread).
type Series struct {
	Label  string
	X, Y   []float64
	Spread []float64 // optional; drawn as a shaded band
	Dashed bool
	Color  color.Color // nil: by position
}

// markedPoints is the most points a line of LineFigure has for each to be marked: a
// series measured now and then (every few epochs or steps) shows where it was measured;
// a dense curve (a density's 400 points) is a line alone.
const markedPoints = 40

// LineFigure draws series as lines with optional shaded bands. With logY the y axis is
// logarithmic (non-positive values are dropped). A y label naming an accuracy ("accuracy",
// "test accuracy") gets an axis from 0 with room above 1 for the legend. A series of at
// most markedPoints points has each marked.
func LineFigure(name, title, xLabel, yLabel string, logY bool, series ...Series) (*Figure, error) {
	p := newPlot(title, xLabel, yLabel)
	if strings.Contains(yLabel, "accuracy") && !logY {
		p.Y.Min, p.Y.Max = 0, 1
		p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 0.25}, {Value: 0.5, Label: "0.5"},
			{Value: 0.75}, {Value: 1, Label: "1"}})
	}
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	drawn, legendRows := 0, 0
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("figure %s: series %q has %d x and %d y values", name, s.Label, len(s.X), len(s.Y))
		}
		c := s.Color
		if c == nil {
			c = seriesColors[i%len(seriesColors)]
		}
		var pts plotter.XYs
		for k := range s.X {
			if math.IsNaN(s.Y[k]) || math.IsInf(s.Y[k], 0) || (logY && s.Y[k] <= 0) {
				continue
			}
			pts = append(pts, plotter.XY{X: s.X[k], Y: s.Y[k]})
		}
		if len(pts) == 0 {
			continue
		}
		if len(s.Spread) == len(s.Y) && !logY {
			band := make(plotter.XYs, 0, 2*len(s.X))
			for k := range s.X {
				band = append(band, plotter.XY{X: s.X[k], Y: s.Y[k] + s.Spread[k]})
			}
			for k := len(s.X) - 1; k >= 0; k-- {
				band = append(band, plotter.XY{X: s.X[k], Y: s.Y[k] - s.Spread[k]})
			}
			poly, err := plotter.NewPolygon(band)
			if err == nil {
				poly.Color = translucent(c, 50)
				poly.LineStyle.Width = 0
				p.Add(poly)
			}
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("figure %s: %w", name, err)
		}
		line.Color = c
		line.Width = vg.Points(1.5)
		if s.Dashed {
			line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(line)
		thumbs := []plot.Thumbnailer{line}
		if len(pts) <= markedPoints { // measured now and then: each measurement marked
			if marks, err := plotter.NewScatter(pts); err == nil {
				marks.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
				p.Add(marks)
				thumbs = append(thumbs, marks)
			}
		}
		if s.Label != "" {
			p.Legend.Add(s.Label, thumbs...)
			legendRows++
		}
		drawn++
	}
	if drawn == 0 {
		return nil, fmt.Errorf("figure %s: no finite values to draw", name)
	}
	makeLegendRoom(p, legendRows, logY)
	return &Figure{Name: name, Title: title, plot: p}, nil
}

// HistogramFigure draws overlaid histograms of samples (e.g. normal vs extreme runs) on
// shared bins, one label per sample. Non-finite values (a diverged run's) are left out,
// and the legend says how many.
func HistogramFigure(name, title, xLabel string, labels []string, samples [][]float64, bins int) (*Figure, error) {
	finite, lo, hi, err := finiteSamples(name, labels, samples)
	if err != nil {
		return nil, err
	}
	if hi == lo {
		lo, hi = lo-0.5, hi+0.5
	}
	if bins <= 0 {
		bins = 20
	}
	width := (hi - lo) / float64(bins)
	p := newPlot(title, xLabel, "runs")
	p.Y.Tick.Marker = linearTicks{Integers: true}
	legendRows := 0
	for i, s := range finite {
		if len(s) == 0 {
			continue
		}
		// The bins are built here, not by plotter.NewHistogram, which would bin again over
		// the range of the points it is given and so shift and narrow the bars.
		c := seriesColors[i%len(seriesColors)]
		h := &plotter.Histogram{Bins: make([]plotter.HistogramBin, bins), Width: width,
			FillColor: translucent(c, 120), LineStyle: plotter.DefaultLineStyle}
		h.LineStyle.Color = c
		for k := range h.Bins {
			h.Bins[k].Min, h.Bins[k].Max = lo+float64(k)*width, lo+float64(k+1)*width
		}
		for _, v := range s {
			h.Bins[min(int((v-lo)/width), bins-1)].Weight++
		}
		p.Add(h)
		legend := fmt.Sprintf("%s (n=%d)", labels[i], len(s))
		if left := len(samples[i]) - len(s); left > 0 {
			legend = fmt.Sprintf("%s (n=%d; %d not finite, left out)", labels[i], len(s), left)
		}
		p.Legend.Add(legend, h)
		legendRows++
	}
	// An empty bin's width beside either end: the outermost bars are drawn whole, clear of
	// the axes.
	p.X.Min, p.X.Max = lo-width, hi+width
	makeLegendRoom(p, legendRows, false)
	return &Figure{Name: name, Title: title, plot: p}, nil
}

// finiteSamples returns the finite values of each of the samples of the distribution
// figure name (a diverged run's are not), and the range of all of them; an error if the
// labels do not name every sample, or no value is finite.
func finiteSamples(name string, labels []string, samples [][]float64) (finite [][]float64, lo, hi float64, err error) {
	if len(labels) != len(samples) {
		return nil, 0, 0, fmt.Errorf("figure %s: %d labels for %d samples", name, len(labels), len(samples))
	}
	finite = make([][]float64, len(samples))
	lo, hi = math.Inf(1), math.Inf(-1)
	for i, s := range samples {
		for _, v := range s {
			if finiteValue(v) {
				finite[i] = append(finite[i], v)
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 0) {
		return nil, 0, 0, fmt.Errorf("figure %s: no finite values", name)
	}
	return finite, lo, hi, nil
}

// StripFigure draws each sample's values as dots on a row of its own, its median as a
// bar across the row: for a few runs of each kind (a histogram of five values is mostly
// empty bins). Values that are not finite are left out, and the legend counts them.
func StripFigure(name, title, xLabel string, labels []string, samples [][]float64) (*Figure, error) {
	finiteOf, lo, hi, err := finiteSamples(name, labels, samples)
	if err != nil {
		return nil, err
	}
	p := newPlot(title, xLabel, "")
	var ticks []plot.Tick
	drawn := 0
	for i, finite := range finiteOf {
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: labels[i]})
		if len(finite) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(finite))
		for k, v := range finite { // spread within the row, in a fixed order, so that equal values stay apart
			pts[k] = plotter.XY{X: v, Y: float64(i) + 0.25*(float64(k%5)-2)/2}
		}
		c := seriesColors[i%len(seriesColors)]
		dots, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, fmt.Errorf("figure %s: %w", name, err)
		}
		dots.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
		p.Add(dots)
		summary, err := Summarize(finite)
		if err != nil {
			return nil, fmt.Errorf("figure %s: %w", name, err)
		}
		median, err := plotter.NewLine(plotter.XYs{{X: summary.Median, Y: float64(i) - 0.35}, {X: summary.Median, Y: float64(i) + 0.35}})
		if err != nil {
			return nil, fmt.Errorf("figure %s: %w", name, err)
		}
		median.Color, median.Width = c, vg.Points(2)
		p.Add(median)
		legend := fmt.Sprintf("%s (n=%d, bar: median)", labels[i], len(finite))
		if left := len(samples[i]) - len(finite); left > 0 {
			legend = fmt.Sprintf("%s (n=%d, bar: median; %d not finite, left out)", labels[i], len(finite), left)
		}
		p.Legend.Add(legend, dots)
		drawn++
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min, p.Y.Max = -0.6, float64(len(samples))-0.4+0.3*float64(drawn) // room above for the legend
	// The outermost dots whole, clear of the axes.
	pad := 0.05 * (hi - lo)
	if pad == 0 {
		pad = 0.5 * math.Max(math.Abs(hi), 1)
	}
	p.X.Min, p.X.Max = lo-pad, hi+pad
	return &Figure{Name: name, Title: title, plot: p}, nil
}

// BarFigure draws one value per label (with an optional error bar), e.g. accuracy per λ.
func BarFigure(name, title, yLabel string, groups []string, series []Series) (*Figure, error) {
	p := newPlot(title, "", yLabel)
	w := vg.Points(14)
	for i, s := range series {
		if len(s.Y) != len(groups) {
			return nil, fmt.Errorf("figure %s: series %q has %d values for %d groups", name, s.Label, len(s.Y), len(groups))
		}
		bars, err := plotter.NewBarChart(plotter.Values(s.Y), w)
		if err != nil {
			return nil, fmt.Errorf("figure %s: %w", name, err)
		}
		bars.Color = s.Color
		if bars.Color == nil {
			bars.Color = seriesColors[i%len(seriesColors)]
		}
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(float64(i)-float64(len(series)-1)/2) * w
		p.Add(bars)
		p.Legend.Add(s.Label, bars)
	}
	p.NominalX(groups...)
	makeLegendRoom(p, len(series), false)
	return &Figure{Name: name, Title: title, plot: p}, nil
}

// grid is a plotter.GridXYZ over a rectangular table of values.
type grid struct {
	xs, ys []float64
	z      [][]float64 // z[i][j] at (xs[i], ys[j])
}

func (g grid) Dims() (c, r int)   { return len(g.xs), len(g.ys) }
func (g grid) Z(c, r int) float64 { return g.z[c][r] }
func (g grid) X(c int) float64    { return g.xs[c] }
func (g grid) Y(r int) float64    { return g.ys[r] }

// HeatMapFigure draws z[i][j] over (alphas[i], betas[j]) as a heat map with contour lines,
// and its color scale in a bar at the right.
func HeatMapFigure(name, title, xLabel, yLabel string, alphas, betas []float64, z [][]float64) (*Figure, error) {
	if len(alphas) < 2 || len(betas) < 2 || len(z) != len(alphas) {
		return nil, fmt.Errorf("figure %s: need a grid of at least 2x2 values", name)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, row := range z {
		if len(row) != len(betas) {
			return nil, fmt.Errorf("figure %s: row %d has %d values, want %d", name, i, len(row), len(betas))
		}
		for _, v := range row {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 0) {
		return nil, fmt.Errorf("figure %s: no finite values", name)
	}
	if hi == lo {
		hi = lo + 1
	}
	g := grid{xs: alphas, ys: betas, z: z}
	// Sequential, dark at the lowest loss: a diverging map's white middle meant nothing.
	scale := moreland.Kindlmann()
	scale.SetMin(lo)
	scale.SetMax(hi)
	p := newPlot(title, xLabel, yLabel)
	hm := plotter.NewHeatMap(g, scale.Palette(64))
	hm.Min, hm.Max = lo, hi
	p.Add(hm)
	levels := make([]float64, 8)
	for k := range levels {
		levels[k] = lo + (hi-lo)*float64(k+1)/float64(len(levels)+1)
	}
	contour := plotter.NewContour(g, levels, nil)
	contour.LineStyles = []draw.LineStyle{{Color: color.Black, Width: vg.Points(0.5)}}
	p.Add(contour)
	return &Figure{Name: name, Title: title, plot: p, colorBar: colorBarPlot(scale, "")}, nil
}

// colorBarPlot is a vertical bar showing scale over its range, with the toolkit's ticks
// and label on its axis, for Figure.colorBar.
func colorBarPlot(scale palette.ColorMap, label string) *plot.Plot {
	p := plot.New()
	p.Add(&plotter.ColorBar{ColorMap: scale, Vertical: true})
	p.HideX()
	p.X.Padding, p.Y.Padding = 0, 0
	p.Y.Label.Text = label
	p.Y.Tick.Marker = linearTicks{}
	return p
}

// MatrixFigure draws a matrix of counts over two sets of categories, such as the test
// images by true and assigned class: one cell per pair, shaded by its count (white for 0,
// darker for more; the bar at the right gives the scale) and with the count written in it,
// one tick per category named by it. counts[i][j] is the count of (yNames[i],
// xNames[j]); row 0 is drawn at the top, as a table reads. Unlike HeatMapFigure it draws
// no contour lines: between categories there is nothing to interpolate.
func MatrixFigure(name, title, xLabel, yLabel string, xNames, yNames []string, counts [][]float64) (*Figure, error) {
	cells, err := matrixCells(xNames, yNames, counts)
	if err != nil {
		return nil, fmt.Errorf("figure %s: %w", name, err)
	}
	// Luminance rises with the value in moreland's scale: reversed, 0 is white.
	scale, err := moreland.NewLuminance([]color.Color{color.RGBA{R: 8, G: 48, B: 107, A: 255}, color.White})
	if err != nil {
		return nil, fmt.Errorf("figure %s: %w", name, err)
	}
	scale = palette.Reverse(scale)
	scale.SetMin(cells.lo)
	scale.SetMax(cells.hi)
	p := newAxes(title, xLabel, yLabel)
	hm := plotter.NewHeatMap(cells.grid, scale.Palette(64))
	hm.Min, hm.Max = cells.lo, cells.hi
	p.Add(hm)
	labels, err := plotter.NewLabels(cells.labels)
	if err != nil {
		return nil, fmt.Errorf("figure %s: %w", name, err)
	}
	for k, xy := range cells.labels.XYs {
		sty := &labels.TextStyle[k]
		sty.XAlign, sty.YAlign = draw.XCenter, draw.YCenter
		sty.Color = color.Black
		if c, err := scale.At(cells.grid.z[int(xy.X)][int(xy.Y)]); err == nil && luminance(c) < 0.45 {
			sty.Color = color.White // legible on the dark cells
		}
	}
	p.Add(labels)
	p.X.Tick.Marker, p.Y.Tick.Marker = cells.xTicks, cells.yTicks
	// Long names (CIFAR-10's classes) would run into each other under narrow columns.
	if widest := maxWidth(p.X.Tick.Label, xNames); widest > (figureWidth-colorBarWidth-3*vg.Centimeter)/vg.Length(len(xNames)) {
		p.X.Tick.Label.Rotation = math.Pi / 6
		p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	}
	return &Figure{Name: name, Title: title, plot: p, colorBar: colorBarPlot(scale, "count")}, nil
}

// matrixLayout is what MatrixFigure draws: the cells as a grid (column j at x = j, row i of the
// counts at y = rows-1-i), the count of each as a label at its center, one tick per name,
// and the range of the color scale (from 0, or below where a count is negative).
type matrixLayout struct {
	grid           grid
	labels         plotter.XYLabels
	xTicks, yTicks plot.ConstantTicks
	lo, hi         float64
}

func matrixCells(xNames, yNames []string, counts [][]float64) (matrixLayout, error) {
	rows, cols := len(yNames), len(xNames)
	if rows == 0 || cols == 0 {
		return matrixLayout{}, fmt.Errorf("a matrix needs at least one row and one column name")
	}
	if len(counts) != rows {
		return matrixLayout{}, fmt.Errorf("%d rows of counts for %d row names", len(counts), rows)
	}
	m := matrixLayout{grid: grid{xs: make([]float64, cols), ys: make([]float64, rows), z: make([][]float64, cols)}}
	for j := range cols {
		m.grid.xs[j] = float64(j)
		m.grid.z[j] = make([]float64, rows)
		m.xTicks = append(m.xTicks, plot.Tick{Value: float64(j), Label: xNames[j]})
	}
	for r := range rows {
		m.grid.ys[r] = float64(r)
		m.yTicks = append(m.yTicks, plot.Tick{Value: float64(r), Label: yNames[rows-1-r]})
	}
	m.lo, m.hi = 0, math.Inf(-1)
	for i, row := range counts {
		if len(row) != cols {
			return matrixLayout{}, fmt.Errorf("row %d has %d counts for %d column names", i, len(row), cols)
		}
		r := rows - 1 - i
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return matrixLayout{}, fmt.Errorf("count (%d, %d) is %v", i, j, v)
			}
			m.grid.z[j][r] = v
			m.lo, m.hi = math.Min(m.lo, v), math.Max(m.hi, v)
			m.labels.XYs = append(m.labels.XYs, plotter.XY{X: float64(j), Y: float64(r)})
			m.labels.Labels = append(m.labels.Labels, strconv.FormatFloat(v, 'g', 4, 64))
		}
	}
	if m.hi <= m.lo {
		m.hi = m.lo + 1
	}
	return m, nil
}

// luminance is c's relative luminance, 0 (black) to 1 (white), by Rec. 709's weights.
func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	return (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)) / 0xffff
}

// maxWidth is the width of the widest of names in sty.
func maxWidth(sty text.Style, names []string) vg.Length {
	var w vg.Length
	for _, n := range names {
		w = max(w, sty.Width(n))
	}
	return w
}
