package analysis_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/extremepoints/esp/analysis"
	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/models"
)

// Summarize the final test accuracies of a handful of runs: the quartiles interpolate
// between the sorted values (the median of 8 is the mean of the middle two), the standard
// deviation is the sample's (n-1).
func ExampleSummarize() {
	testAcc := []float64{0.91, 0.88, 0.95, 0.90, 0.93, 0.89, 0.92, 0.94}
	s, err := analysis.Summarize(testAcc)
	if err != nil {
		panic(err)
	}
	fmt.Printf("n %d, mean %.4f, std %.4f\n", s.N, s.Mean, s.Std)
	fmt.Printf("min %.2f, q25 %.2f, median %.2f, q75 %.2f, max %.2f\n", s.Min, s.Q25, s.Median, s.Q75, s.Max)
	// Output:
	// n 8, mean 0.9150, std 0.0245
	// min 0.88, q25 0.90, median 0.92, q75 0.93, max 0.95
}

// Test whether extreme points lie farther from their initialization than normal points
// (claim C3): every distance of the first sample exceeds every one of the second, so the
// effect is 1 and the p-value, exact for 8 runs each without ties (2 of the 12870
// orderings are as far apart), far below 0.01.
func ExampleMannWhitneyU() {
	extreme := []float64{31.2, 29.8, 33.5, 30.1, 32.7, 34.0, 30.9, 31.8}
	normal := []float64{12.4, 13.1, 11.8, 12.9, 14.2, 12.0, 13.6, 12.7}
	test, err := analysis.MannWhitneyU(extreme, normal)
	if err != nil {
		panic(err)
	}
	fmt.Printf("U %.0f, effect %.2f, z %.2f, p %.5f (exact: %v)\n", test.U, test.Effect, test.Z, test.P, test.Exact)
	fmt.Println("significant at 0.01:", test.P < 0.01)
	// Output:
	// U 64, effect 1.00, z 3.31, p 0.00016 (exact: true)
	// significant at 0.01: true
}

// The smallest p-value a rank test of n extreme against n normal runs can give: only 2 of
// the C(2n, n) orderings of the runs are as far apart as every extreme point above every
// normal one (or below), so p = 2/C(2n, n): 2/20, 2/252, 2/12870.
func ExampleSmallestRankP() {
	for _, n := range []int{3, 5, 8} {
		fmt.Printf("%d vs %d runs: p >= %.3g\n", n, n, analysis.SmallestRankP(n, n))
	}
	// Output:
	// 3 vs 3 runs: p >= 0.1
	// 5 vs 5 runs: p >= 0.00794
	// 8 vs 8 runs: p >= 0.000155
}

// Draw two accuracy curves, one with a shaded band, and render them as PNG bytes, as a
// notebook shows them inline.
func ExampleLineFigure() {
	epochs := []float64{0, 1, 2, 3, 4}
	fig, err := analysis.LineFigure("accuracy", "Test accuracy", "epoch", "accuracy", false,
		analysis.Series{Label: "normal", X: epochs, Y: []float64{0.1, 0.6, 0.8, 0.85, 0.9}, Spread: []float64{0, 0.05, 0.04, 0.03, 0.02}},
		analysis.Series{Label: "corrupted", X: epochs, Y: []float64{0.1, 0.08, 0.05, 0.02, 0.01}, Dashed: true})
	if err != nil {
		panic(err)
	}
	data, err := fig.PNG()
	if err != nil {
		panic(err)
	}
	fmt.Println(fig.Name, "is a PNG:", bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")))
	// Output:
	// accuracy is a PNG: true
}

// Draw the distances from initialization of five normal runs and five extreme points, a
// dot each and a bar at each kind's median: what a report shows for a few runs (with
// many, a histogram), here rendered as SVG.
func ExampleStripFigure() {
	normal := []float64{13.7, 13.8, 13.6, 13.7, 13.9}
	extreme := []float64{26.2, 26.1, 26.4, 26.2, 26.3}
	fig, err := analysis.StripFigure("dist", "Distance from initialization", "‖θ − θ₀‖", []string{"normal", "extreme"}, [][]float64{normal, extreme})
	if err != nil {
		panic(err)
	}
	data, err := fig.SVG()
	if err != nil {
		panic(err)
	}
	fmt.Println(fig.Name, "is an SVG:", bytes.Contains(data, []byte("<svg")))
	// Output:
	// dist is an SVG: true
}

// Count the test images of a corrupted set by true and assigned class (here 3 classes and
// 8 images) and draw the counts as a matrix: one cell per (true, assigned) pair with its
// count written in it, and save it as PNG and SVG. With wrong labels only, the diagonal
// is empty.
func ExampleMatrixFigure() {
	classes := []string{"cat", "dog", "frog"}
	trueLabels := []int{0, 0, 1, 1, 1, 2, 2, 2}
	assigned := []int{1, 2, 0, 2, 0, 0, 1, 1}
	counts := make([][]float64, len(classes)) // counts[true][assigned]
	for c := range counts {
		counts[c] = make([]float64, len(classes))
	}
	for i, y := range trueLabels {
		counts[y][assigned[i]]++
	}
	fig, err := analysis.MatrixFigure("pairs", "test images by (true, assigned) class", "assigned class", "true class",
		classes, classes, counts)
	if err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "esp-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	if err := fig.Save(dir); err != nil {
		panic(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "pairs.*"))
	for _, f := range files {
		fmt.Println(filepath.Base(f))
	}
	fmt.Println(counts)
	// Output:
	// pairs.png
	// pairs.svg
	// [[0 1 1] [2 0 1] [1 2 0]]
}

// Train a tiny study (two normal and two corrupted runs of a small MLP on the toy
// dataset), then write its report: summary.json, figures and index.html. Without probes, a
// weight-decay sweep or ResNet runs, the claims that need them are reported untested; so
// is C3, a claim about extreme points, which 3 epochs do not reach (C1 does not hold).
func ExampleWriteReportFromDir() {
	ds := toyDataset()
	dir, err := os.MkdirTemp("", "esp-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	study := experiment.StudySettings{
		Run: experiment.Settings{Dataset: ds.Name, Model: "mlp", ModelConfig: models.Config{Hidden: 16}, Epochs: 3, BatchSize: 16,
			Optimizer: experiment.Optimizer{LearningRate: 0.01}},
		Runs: 2, Seed: 1, Corruption: corrupt.Settings{Strategy: corrupt.WrongUniform}}
	studyDir := filepath.Join(dir, "study")
	if _, err := experiment.RunStudy(context.Background(), ds, study, studyDir, nil); err != nil {
		panic(err)
	}
	rep, err := analysis.WriteReportFromDir(context.Background(), studyDir, filepath.Join(dir, "report"), analysis.ReportSettings{}, nil)
	if err != nil {
		panic(err)
	}
	var decided, untested []string
	for _, c := range rep.Summary.Claims {
		decided = append(decided, c.ID)
	}
	for _, u := range rep.Summary.Untested {
		untested = append(untested, u.ID)
	}
	for group, kinds := range rep.Summary.Groups { // one group: toy/mlp
		fmt.Printf("%s: %d normal and %d corrupted runs\n", group, kinds["normal"].Runs, kinds["corrupted"].Runs)
	}
	fmt.Println("decided:", strings.Join(decided, " "))
	fmt.Println("untested:", strings.Join(untested, " "))
	_, err = os.Stat(filepath.Join(dir, "report", analysis.ReportSummaryFile))
	fmt.Println("summary.json written:", err == nil)
	// Output:
	// toy/mlp: 2 normal and 2 corrupted runs
	// decided: C1 C2
	// untested: C3 C4 C5 C6 C7
	// summary.json written: true
}
