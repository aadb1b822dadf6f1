package analysis

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/models"
)

// separableDataset has 3 classes of 4x4 gray images: class c brightens row c. Easy to learn,
// so normal runs generalize and corrupted ones memorize the wrong labels.
func separableDataset(trainLen, testLen int) *datasets.Dataset {
	rng := rand.New(rand.NewPCG(7, 7))
	split := func(n int) *datasets.Split {
		s := &datasets.Split{Images: make([]uint8, n*16), Labels: make([]uint8, n), Height: 4, Width: 4, Channels: 1}
		for i := range n {
			c := rng.IntN(3)
			s.Labels[i] = uint8(c)
			img := s.Image(i)
			for p := range img {
				img[p] = uint8(rng.IntN(100))
			}
			for x := 0; x < 4; x++ {
				img[c*4+x] += 150
			}
		}
		return s
	}
	return &datasets.Dataset{Name: "rows", Classes: []string{"a", "b", "c"}, Train: split(trainLen), Test: split(testLen)}
}

// writeStudy trains n normal and n corrupted tiny runs under dir/runs (and a corrupted run with
// weight decay), as esp run lays them out.
func writeStudy(t *testing.T, dir string, n int) {
	t.Helper()
	d := separableDataset(60, 20)
	for i := range n {
		for _, kind := range []string{"normal", "corrupted"} {
			set := corrupt.Clean(d)
			s := experiment.Settings{ModelConfig: models.Config{Hidden: 128}, Epochs: 60, BatchSize: 16, Seed: uint64(i + 1),
				Optimizer: experiment.Optimizer{LearningRate: 0.01}}
			if kind == "corrupted" {
				var err error
				s.Corruption = corrupt.Settings{Seed: uint64(i)}
				if set, err = corrupt.Build(d, s.Corruption); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := experiment.Train(context.Background(), nil, set, s, filepath.Join(dir, "runs", fmt.Sprintf("%s-%04d", kind, i)), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	set, _ := corrupt.Build(d, corrupt.Settings{})
	s := experiment.Settings{ModelConfig: models.Config{Hidden: 128}, Epochs: 60, BatchSize: 16, WeightDecay: 1e-4,
		Optimizer: experiment.Optimizer{LearningRate: 0.01}}
	if _, err := experiment.Train(context.Background(), nil, set, s, filepath.Join(dir, "l2", "wd1e-4"), nil); err != nil {
		t.Fatal(err)
	}
}

// writeProbe writes a probe directory as the probes lay it out.
func writeProbe(t *testing.T, dir, source string, files map[string]string) {
	t.Helper()
	writeProbeOf(t, dir, source, "", files)
}

// writeProbeOf is writeProbe with the weights probed ("final" or "init"; "" for none).
func writeProbeOf(t *testing.T, dir, source, weights string, files map[string]string) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	info, _ := json.Marshal(map[string]any{"format": ProbeFormat, "run": source, "weights": weights, "finished": "2026-01-01T00:00:00Z"})
	os.WriteFile(filepath.Join(dir, "probe.json"), info, 0o644)
	for name, content := range files {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	}
}

func TestReport(t *testing.T) {
	in := t.TempDir()
	if dir := os.Getenv("ESP_REPORT_TEST_DIR"); dir != "" { // to look at the figures
		in = dir
	}
	writeStudy(t, in, 4)
	extreme := filepath.Join(in, "runs", "corrupted-0000")
	writeProbe(t, filepath.Join(in, "probes", "restart"), extreme, map[string]string{"restart.jsonl": `{"epoch":0,"train_acc":0.98,"test_acc":0.01}
{"epoch":1,"train_acc":0.9,"test_acc":0.95}
`})
	writeProbe(t, filepath.Join(in, "probes", "fullbatch"), extreme, map[string]string{"fullbatch.jsonl": `{"method":"adam","step":0,"loss":2,"train_acc":0.98,"test_acc":0.01,"grad_norm":1}
{"method":"adam","step":10,"loss":1,"train_acc":0.9,"test_acc":0.02,"grad_norm":0.01}
`})
	writeProbe(t, filepath.Join(in, "probes", "surface"), extreme, map[string]string{
		"surface1d.jsonl": `{"alpha":-1,"train_loss":3,"test_loss":4}
{"alpha":0,"train_loss":1,"test_loss":2}
{"alpha":1,"train_loss":3,"test_loss":5}
`,
		"surface2d.json": `{"alphas":[-1,0,1],"betas":[-1,1],"train_loss":[[3,3],[1,1.5],[3,4]]}`})
	writeProbe(t, filepath.Join(in, "probes", "sharpness"), extreme, map[string]string{"sharpness.json": `{"top_eigenvalue":12.5,"converged":false,"trace":40,"trace_std":3,"hvp":"exact",
		"density":{"vectors":2,"steps":3,"nodes":[[-1.5,0.25,12.5],[-1,0.5,12]],"weights":[[0.1,0.8,0.1],[0.2,0.7,0.1]],"smallest":-1.5,"largest":12.5}}`})
	os.MkdirAll(filepath.Join(in, "runs", ".tmp-normal-0009-x"), 0o755) // an unfinished run: ignored
	// Which corrupted runs ended at an extreme point (training on another machine's matmul
	// kernels may end another one short of it): the sharpness comparison counts those.
	studied, err := LoadInputs(in)
	if err != nil {
		t.Fatal(err)
	}
	var extremeRunIndices []int
	for _, r := range studied.Runs {
		f := finalOf(r)
		if !r.Corrupted() || r.Config.Settings.WeightDecay != 0 || !atExtreme(f.TrainAcc, f.TestAcc, ReportSettings{}.withDefaults()) {
			continue
		}
		var i int
		if _, err := fmt.Sscanf(filepath.Base(r.Dir), "corrupted-%04d", &i); err != nil {
			t.Fatal(err)
		}
		extremeRunIndices = append(extremeRunIndices, i)
	}
	if len(extremeRunIndices) == 0 {
		t.Fatal("no corrupted run ended at an extreme point: the sharpness comparison has nothing to compare")
	}
	slices.Sort(extremeRunIndices)
	// Sharpness of every run's final weights, the extreme points sharper; at initial
	// weights: not compared.
	for i := range 4 {
		for _, kind := range []string{"normal", "corrupted"} {
			lambda, trace := 1+0.1*float64(i), 10+float64(i)
			top := []float64{1, 0.9, 0.3, 0.28} // of λ_max: 2 outliers at normal points, 1 at extreme ones
			if kind == "corrupted" {
				lambda, trace = lambda+2, trace+20
				top = []float64{1, 0.5, 0.45, 0.4}
			}
			for j := range top {
				top[j] *= lambda
			}
			topJSON, _ := json.Marshal(top)
			run := filepath.Join(in, "runs", fmt.Sprintf("%s-%04d", kind, i))
			writeProbeOf(t, filepath.Join(in, "probes", fmt.Sprintf("sharpness-%s-%d", kind, i)), run, "final",
				map[string]string{"sharpness.json": fmt.Sprintf(`{"top_eigenvalue":%g,"top_eigenvalues":%s,"converged":true,"trace":%g,"trace_std":1,"hvp":"exact","examples":1000,`+
					`"density":{"vectors":1,"steps":2,"nodes":[[0.1,%[1]g]],"weights":[[0.9,0.1]],"smallest":0.1,"largest":%[1]g}}`, lambda, topJSON, trace)})
		}
	}
	writeProbeOf(t, filepath.Join(in, "probes", "sharpness-init"), extreme, "init", map[string]string{"sharpness.json": `{"top_eigenvalue":100,"converged":true,"trace":1000}`})
	// A run probed twice (a study's run by esp reproduce and again by --study) is one point:
	// the probe's over the more examples.
	writeProbeOf(t, filepath.Join(in, "probes", "study", "normal-0000"), filepath.Join(in, "runs", "normal-0000"), "final",
		map[string]string{"sharpness.json": `{"top_eigenvalue":1.05,"converged":true,"trace":10.5,"trace_std":1,"hvp":"exact","examples":2000}`})
	// Probes of finite-difference products (sharpness.json before exact ones, which lacks
	// "hvp", and --hvp finite-difference) are compared among themselves, not pooled with
	// exact ones: their traces differ several times over where ReLUs switch.
	writeProbeOf(t, filepath.Join(in, "probes", "old", "normal-0001"), filepath.Join(in, "runs", "normal-0001"), "final",
		map[string]string{"sharpness.json": `{"top_eigenvalue":40,"trace":400,"trace_std":30}`})
	fdRun := fmt.Sprintf("corrupted-%04d", extremeRunIndices[0])
	writeProbeOf(t, filepath.Join(in, "probes", "old", fdRun), filepath.Join(in, "runs", fdRun), "final",
		map[string]string{"sharpness.json": `{"top_eigenvalue":60,"converged":false,"trace":600,"trace_std":30,"hvp":"finite-difference","epsilon":0.001}`})
	// The weight-decay run's sharpness belongs to its own group (no normal point: no
	// comparison), not among the plain runs' extreme points.
	writeProbeOf(t, filepath.Join(in, "probes", "sharpness-wd"), filepath.Join(in, "l2", "wd1e-4"), "final",
		map[string]string{"sharpness.json": `{"top_eigenvalue":50,"converged":true,"trace":500,"trace_std":1,"hvp":"exact",
		"density":{"vectors":1,"steps":2,"nodes":[[0.5,50]],"weights":[[0.9,0.1]],"smallest":0.5,"largest":50}}`})

	out := filepath.Join(in, "report")
	// Interrupted (Ctrl-C cancels the command's context), it writes nothing.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := WriteReportFromDir(cancelled, in, out, ReportSettings{}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v, want %v", err, context.Canceled)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("cancelled, it made %s (%v)", out, err)
	}
	rep, err := WriteReportFromDir(context.Background(), in, out, ReportSettings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var summary ReportSummary
	data, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &summary); err != nil {
		t.Fatal(err)
	}
	if summary.Runs != 9 || summary.Probes != 17 {
		t.Errorf("found %d runs and %d probes, want 9 and 17", summary.Runs, summary.Probes)
	}
	// The sharpness of the 4 normal points against that of the corrupted runs that ended at
	// an extreme point, all apart: the exact two-sided p is 2/C(4+m, 4) for m of them.
	var extremeLambdas []float64
	for _, i := range extremeRunIndices {
		extremeLambdas = append(extremeLambdas, 3+0.1*float64(i))
	}
	wantTest, _ := MannWhitneyU(extremeLambdas, []float64{1, 1.1, 1.2, 1.3})
	if sh := summary.Sharpness; len(sh) != 2 || sh[1].HVP != HVPFiniteDifference || sh[1].TopEigenvalue.Normal.N != 1 || sh[1].TopEigenvalue.Extreme.N != 1 ||
		sh[1].TopEigenvalue.Normal.Median != 40 || sh[1].TopEigenvalue.Test != nil || sh[1].NotConverged != 1 {
		t.Errorf("sharpness comparisons %+v; want the finite-difference probes' second, 1 point of each kind", sh)
	} else {
		summary.Sharpness = sh[:1]
	}
	testable := len(extremeLambdas) >= 2 // a rank test needs two points of each kind
	if sh := summary.Sharpness; len(sh) != 1 || sh[0].Model != "mlp" || sh[0].HVP != HVPExact || sh[0].TopEigenvalue.Normal.N != 4 ||
		sh[0].TopEigenvalue.Extreme.N != len(extremeLambdas) || sh[0].TopEigenvalue.Normal.Median != 1.15 || sh[0].TopEigenvalue.Normal.Min != 1.05 ||
		(sh[0].TopEigenvalue.Test != nil) != testable || (testable && (*sh[0].TopEigenvalue.Test != wantTest || !wantTest.Exact ||
		sh[0].TopEigenvalue.Test.Effect != 1 || sh[0].Trace.Test == nil)) || sh[0].NotConverged != 0 {
		t.Errorf("sharpness comparison %+v; want %d extreme points, test %+v", sh, len(extremeLambdas), wantTest)
	}
	// Outliers of the points whose probes found their largest eigenvalues: not the probe of
	// normal-0000 over more examples, nor the finite-difference ones.
	if sh := summary.Sharpness; len(sh) == 0 || sh[0].Outliers == nil || sh[0].Outliers.Normal.N != 3 || sh[0].Outliers.Normal.Median != 2 ||
		sh[0].Outliers.Extreme.N != len(extremeLambdas) || sh[0].Outliers.Extreme.Median != 1 || (len(sh) > 1 && sh[1].Outliers != nil) {
		t.Errorf("sharpness comparisons %+v; want 2 outliers at 3 normal points, 1 at the %d extreme ones, none compared among finite differences",
			sh, len(extremeLambdas))
	} else if g := sh[0].OutlierGap; g == nil || math.Abs(g.Normal.Median-3) > 1e-9 || math.Abs(g.Extreme.Median-2) > 1e-9 ||
		(g.Test != nil) != testable || (testable && g.Test.Effect != 0) {
		t.Errorf("outlier gaps %+v; want 3x at the normal points, 2x at the extreme ones, each below every normal one", g)
	}
	var order []string
	for _, c := range summary.Claims {
		order = append(order, c.ID)
	}
	if !slices.IsSorted(order) { // one pair here: its claims in the paper's order
		t.Errorf("claims in the order %q, want the paper's", order)
	}
	verdicts := map[string]bool{}
	for _, c := range summary.Claims {
		verdicts[c.ID] = c.Holds
		if c.Dataset != "rows" {
			t.Errorf("claim %s for dataset %q", c.ID, c.Dataset)
		}
	}
	// The tiny study is built to show C1, C2, C5 and C6; C3 with 3 extreme points and 4
	// normal runs cannot reach p < 0.01 (at best p is about 0.057), so it is untested:
	// neither held nor counted against.
	for id, want := range map[string]bool{"C1": true, "C2": true, "C5": true, "C6": true} {
		got, ok := verdicts[id]
		if !ok || got != want {
			t.Errorf("claim %s: present %v, holds %v; want holds %v (claims %+v)", id, ok, got, want, summary.Claims)
		}
	}
	if _, ok := verdicts["C4"]; !ok {
		t.Error("no C4 verdict from the weight-decay run")
	}
	if _, ok := verdicts["C3"]; ok || len(summary.Untested) != 2 || summary.Untested[0].ID != "C3" || summary.Untested[1].ID != "C7" ||
		!strings.HasPrefix(summary.Untested[0].Reason, "3 extreme points and 4 normal runs cannot give p < 0.01 (at best p = 0.0571, all apart): run more") {
		t.Errorf("untested %+v, want C3 (too few runs) and C7 (no resnet runs)", summary.Untested)
	}
	html, _ := os.ReadFile(filepath.Join(out, "index.html"))
	if len(rep.Figures) < 7 {
		t.Errorf("%d figures, want at least 7 (accuracy, 2 histograms, L2, restart, 2 fullbatch, 2 surface)", len(rep.Figures))
	}
	for _, f := range rep.Figures {
		pngData, err := os.ReadFile(filepath.Join(out, f.Name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(pngData)); err != nil {
			t.Errorf("%s.png: %v", f.Name, err)
		}
		svg, err := os.ReadFile(filepath.Join(out, f.Name+".svg"))
		if err != nil || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("%s.svg: %v", f.Name, err)
		}
		if !strings.Contains(string(html), `src="`+f.Name+`.png"`) {
			t.Errorf("index.html does not show %s", f.Name)
		}
	}
	var densityFigure bool
	for _, f := range rep.Figures {
		if f.Title != "Hessian eigenvalue density: rows/mlp" {
			continue
		}
		densityFigure = true
		// 9 densities, more than a figure draws, the corrupted ones first in the probes
		// order: both kinds are drawn all the same.
		svg, err := os.ReadFile(filepath.Join(out, f.Name+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"normal: sharpness-normal-0", "normal: sharpness-normal-2", "corrupted: sharpness-corrupted-0"} {
			if !strings.Contains(string(svg), want) {
				t.Errorf("the density figure %s does not draw %q", f.Name, want)
			}
		}
	}
	if !densityFigure {
		t.Error("no figure of the Hessian eigenvalue density")
	}
	// The distributions of λ_max and the trace at the 4 normal and the extreme points, where
	// the test is made: not of the finite-difference probes, one point of each kind.
	var sharpnessHistograms []string
	for _, f := range rep.Figures {
		if strings.Contains(f.Title, "at normal and extreme points") {
			sharpnessHistograms = append(sharpnessHistograms, f.Title)
		}
	}
	wantHistograms := []string{
		fmt.Sprintf("Top Hessian eigenvalue at normal and extreme points: rows/mlp (4 normal, %d extreme)", len(extremeLambdas)),
		fmt.Sprintf("Hessian trace at normal and extreme points: rows/mlp (4 normal, %d extreme)", len(extremeLambdas)),
	}
	if !testable {
		wantHistograms = nil
	}
	if !slices.Equal(sharpnessHistograms, wantHistograms) {
		t.Errorf("sharpness histograms %q, want %q", sharpnessHistograms, wantHistograms)
	}
	// The probes of a study's runs (named as their runs) have short rows of their own; the
	// rest, the eigenvalues in full.
	for _, table := range rep.Tables {
		var probes []string
		for _, row := range table.Rows {
			probes = append(probes, row[1])
		}
		switch table.Title {
		case "Sharpness of a study's runs, each probed alike":
			if want := []string{fdRun, "normal-0001", "normal-0000"}; !slices.Equal(probes, want) || table.Rows[2][3] != "1.05" || table.Rows[2][6] != "exact" {
				t.Errorf("the runs' sharpness table: %q, want the probes of %q, normal-0000's λ_max 1.05 (exact)", table.Rows, want)
			}
		case "Sharpness (top Hessian eigenvalue, Hutchinson trace, eigenvalue density)":
			if len(probes) != 11 || slices.Contains(probes, "normal-0000") {
				t.Errorf("the sharpness table's probes %q, want the 11 not named as their runs", probes)
			}
		}
	}
	var wdFigure bool
	for _, f := range rep.Figures {
		wdFigure = wdFigure || f.Title == "Hessian eigenvalue density: rows/mlp (λ=0.0001)"
	}
	if !wdFigure {
		t.Error("no figure of the weight-decay run's eigenvalue density apart from the plain runs'")
	}
	for _, want := range []string{"C1", "cannot give p &lt; 0.01", "authors", "Sharpness", "12.5 (not converged)", "-1.5 to 12.5", "<td>exact</td>",
		"Sharpness of normal and extreme points", "P(extreme &gt; normal) = 1.00", "<td>2 (3x)</td>", "<td>1 (2x)</td>"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	t.Run("browser", func(t *testing.T) { checkInBrowser(t, filepath.Join(out, "index.html"), len(rep.Figures)) })
}

// checkInBrowser opens a report in headless Chromium (Debian's chromium package) and checks
// that every figure loaded: index.html's script records the counts on <body>.
func checkInBrowser(t *testing.T, index string, figures int) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; CI installs it (make apt)")
		}
		t.Skip("chromium is not installed (apt-get install chromium): report not checked in a browser")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=10000", "--dump-dom", "file://"+index)
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	want := fmt.Sprintf(`data-figures="%d" data-figures-loaded="%d"`, figures, figures)
	if !strings.Contains(string(dom), want) {
		start := strings.Index(string(dom), "<body")
		t.Errorf("in Chromium, want %s on <body>; got %.200s", want, string(dom[max(start, 0):]))
	}
}

func TestReportErrors(t *testing.T) {
	if _, err := WriteReportFromDir(context.Background(), filepath.Join(t.TempDir(), "missing"), t.TempDir(), ReportSettings{}, nil); err == nil {
		t.Error("no error for a missing input")
	}
	empty := t.TempDir()
	if _, err := WriteReportFromDir(context.Background(), empty, filepath.Join(empty, "r"), ReportSettings{}, nil); err == nil || !strings.Contains(err.Error(), "no runs") {
		t.Errorf("empty input: %v", err)
	}
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "config.json"), []byte(`{"version": 7}`), 0o644)
	os.WriteFile(filepath.Join(other, "metrics.jsonl"), []byte(`{"epoch":0}`+"\n"), 0o644)
	if _, err := WriteReportFromDir(context.Background(), other, filepath.Join(other, "r"), ReportSettings{}, nil); err == nil || !strings.Contains(err.Error(), "another version") {
		t.Errorf("foreign config.json: %v", err)
	}
	edited := t.TempDir()
	writeStudy(t, edited, 2)
	metrics := filepath.Join(edited, "runs", "normal-0000", "metrics.jsonl")
	os.WriteFile(metrics, []byte(`{"epoch":0,"train_acc":7,"test_acc":0.1}`+"\n"), 0o644)
	if _, err := WriteReportFromDir(context.Background(), edited, filepath.Join(edited, "r"), ReportSettings{}, nil); err == nil || !strings.Contains(err.Error(), "train_acc 7 is not an accuracy") {
		t.Errorf("an accuracy of 7: %v", err)
	}
	damaged := t.TempDir()
	writeStudy(t, damaged, 1)
	metrics = filepath.Join(damaged, "runs", "corrupted-0000", "metrics.jsonl")
	saved, _ := os.ReadFile(metrics)
	os.WriteFile(metrics, nil, 0o644)
	if _, err := WriteReportFromDir(context.Background(), damaged, filepath.Join(damaged, "r"), ReportSettings{}, nil); !errors.Is(err, experiment.ErrDamagedRun) || !strings.Contains(err.Error(), "has final weights but an empty metrics.jsonl") {
		t.Errorf("a finished run's metrics emptied: %v", err)
	}
	cut := saved[:bytes.LastIndexByte(saved[:len(saved)-1], '\n')+1] // the last epoch's line gone
	os.WriteFile(metrics, cut, 0o644)
	if _, err := WriteReportFromDir(context.Background(), damaged, filepath.Join(damaged, "r"), ReportSettings{}, nil); !errors.Is(err, experiment.ErrDamagedRun) ||
		!regexp.MustCompile(`corrupted-0000.metrics.jsonl ends at epoch 59, but the run has final weights and config.json says 60 epochs`).MatchString(err.Error()) {
		t.Errorf("a finished run's metrics cut at a line's end: %v", err)
	}
	os.WriteFile(metrics, append(append([]byte{}, saved...), saved...), 0o644)
	if _, err := WriteReportFromDir(context.Background(), damaged, filepath.Join(damaged, "r"), ReportSettings{}, nil); !errors.Is(err, experiment.ErrDamagedRun) ||
		!strings.Contains(err.Error(), "line 62 is epoch 0, want 61") {
		t.Errorf("a finished run's metrics written twice: %v", err)
	}
	os.WriteFile(metrics, saved, 0o644)
	os.Remove(filepath.Join(damaged, "runs", "normal-0000", "config.json"))
	if _, err := WriteReportFromDir(context.Background(), damaged, filepath.Join(damaged, "r"), ReportSettings{}, nil); !errors.Is(err, experiment.ErrDamagedRun) || !strings.Contains(err.Error(), "normal-0000 has metrics.jsonl but no config.json") {
		t.Errorf("a finished run's config.json removed: %v", err)
	}
	retrained := t.TempDir()
	writeStudy(t, retrained, 1)
	config := filepath.Join(retrained, "runs", "normal-0000", "config.json")
	data, _ := os.ReadFile(config)
	os.WriteFile(config, bytes.Replace(data, []byte(`"model": "mlp"`), []byte(`"model": "lenet"`), 1), 0o644)
	if _, err := WriteReportFromDir(context.Background(), retrained, filepath.Join(retrained, "r"), ReportSettings{}, nil); !errors.Is(err, experiment.ErrDamagedRun) ||
		!regexp.MustCompile(`final.safetensors holds the weights of a mlp .*, but .*normal-0000.config.json describes a lenet`).MatchString(err.Error()) {
		t.Errorf("a config.json edited to another model: %v", err)
	}
	os.WriteFile(config, data, 0o644)
	os.WriteFile(filepath.Join(retrained, "runs", "corrupted-0000", "final.safetensors"), []byte("garbage!"), 0o644)
	if _, err := WriteReportFromDir(context.Background(), retrained, filepath.Join(retrained, "r"), ReportSettings{}, nil); !errors.Is(err, experiment.ErrDamagedRun) ||
		!strings.Contains(err.Error(), "corrupted-0000/final.safetensors") {
		t.Errorf("a finished run's final weights overwritten: %v", err)
	}
	future := t.TempDir()
	writeStudy(t, future, 2)
	writeProbe(t, filepath.Join(future, "probes", "restart"), filepath.Join(future, "runs", "corrupted-0000"), map[string]string{"restart.jsonl": `{"epoch":0}` + "\n"})
	probeJSON := filepath.Join(future, "probes", "restart", "probe.json")
	os.WriteFile(probeJSON, []byte(`{"format": "esp-probe/5", "finished": "2026-01-01T00:00:00Z"}`), 0o644)
	if _, err := WriteReportFromDir(context.Background(), future, filepath.Join(future, "r"), ReportSettings{}, nil); err == nil || !strings.Contains(err.Error(), `format "esp-probe/5"`) {
		t.Errorf("a probe of another version: %v", err)
	}
}

// TestLoadInputsUnfinishedRun: a run whose training did not finish (no final weights)
// is left out of the report's evidence and listed apart.
func TestLoadInputsUnfinishedRun(t *testing.T) {
	root := t.TempDir()
	ds := separableDataset(40, 10)
	s := experiment.Settings{ModelConfig: models.Config{Hidden: 8}, Epochs: 1, BatchSize: 16}
	for _, name := range []string{"done", "interrupted"} {
		if _, err := experiment.Train(context.Background(), nil, corrupt.Clean(ds), s, filepath.Join(root, name), nil); err != nil {
			t.Fatal(err)
		}
	}
	interrupted := filepath.Join(root, "interrupted")
	if err := os.Remove(filepath.Join(interrupted, experiment.FinalWeightsFile)); err != nil {
		t.Fatal(err)
	}
	in, err := LoadInputs(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Runs) != 1 || in.Runs[0].Dir != filepath.Join(root, "done") || !slices.Equal(in.UnfinishedRuns, []string{interrupted}) {
		t.Errorf("runs %d (want done alone), unfinished runs %v (want %s)", len(in.Runs), in.UnfinishedRuns, interrupted)
	}
}

// TestMovedRun: a probe's recorded run path, from before its reproduction was moved,
// finds the run with the same trailing folders, and no run when that is ambiguous.
func TestMovedRun(t *testing.T) {
	runs := map[string]*RunRecord{}
	for _, dir := range []string{"/new/out/studies/mnist-mlp/runs/corrupted-0000", "/new/out/studies/fashion-mnist-mlp/runs/corrupted-0000",
		"/new/out/probes/mnist-mlp/point/runs/corrupted-0000"} {
		runs[dir] = &RunRecord{Dir: dir}
	}
	tests := []struct{ recorded, want string }{
		{"/old/out/studies/mnist-mlp/runs/corrupted-0000", "/new/out/studies/mnist-mlp/runs/corrupted-0000"},
		{"/old/out/probes/mnist-mlp/point/runs/corrupted-0000", "/new/out/probes/mnist-mlp/point/runs/corrupted-0000"},
		{"/elsewhere/runs/corrupted-0000", ""}, // two folders in common with all three
		{"go", ""},
	}
	for _, tc := range tests {
		got := ""
		if r := movedRun(tc.recorded, runs); r != nil {
			got = r.Dir
		}
		if got != tc.want {
			t.Errorf("movedRun(%s) = %q, want %q", tc.recorded, got, tc.want)
		}
	}
}

// TestNumbersTableAuthorsNorms: the final-numbers table puts the authors' norms beside
// ours, says where their runs did not start fresh (the MLP's carried biases), and shows
// none for a run with weight decay, which they did not train.
func TestNumbersTableAuthorsNorms(t *testing.T) {
	run := func(dataset, model string, corrupted bool, wd float64) *RunRecord {
		r := &RunRecord{Metrics: []experiment.EpochMetrics{{Epoch: 3, TrainAcc: 1, TestAcc: 0.5, WeightNormSum: 100}}}
		r.Config.Dataset.Name, r.Config.Dataset.Corrupted = dataset, corrupted
		r.Config.Settings.Model, r.Config.Settings.WeightDecay = model, wd
		return r
	}
	tests := []struct {
		run         *RunRecord
		wantAuthors string
	}{
		{run("mnist", "mlp", false, 0), "177.2 ± 8.2 (50 epochs, biases carried over from run to run)"},
		{run("cifar10", "mlp", true, 0), "316.2 ± 2.5 (250 epochs, biases carried over from run to run)"},
		{run("mnist", "lenet", true, 0), "130.8 ± 2.0 (11 epochs)"},
		{run("mnist", "lenet", false, 1e-4), "-"},
	}
	for _, tc := range tests {
		rep := &Report{}
		groups := groupRuns([]*RunRecord{tc.run})
		var keys []groupKey
		for k := range groups {
			keys = append(keys, k)
		}
		rep.numbersTable(keys, groups)
		if len(rep.Tables) != 1 || len(rep.Tables[0].Rows) != 1 {
			t.Fatalf("%s: tables %+v", tc.wantAuthors, rep.Tables)
		}
		col := slices.Index(rep.Tables[0].Header, "authors' norm (sum)")
		if got := rep.Tables[0].Rows[0][col]; got != tc.wantAuthors {
			t.Errorf("authors' norm cell %q, want %q", got, tc.wantAuthors)
		}
	}
}

// fakeRun is a run record of model on "mnist" set to train epochs, of which it trained
// len(accs): accs[i] is {train_acc, test_acc} after epoch i+1, dist its final distance
// from its initialization. A NaN accuracy makes that epoch the one it diverged in.
func fakeRun(model string, corrupted bool, epochs int, dist float64, accs ...[2]float64) *RunRecord {
	r := &RunRecord{Dir: fmt.Sprintf("%s-%v-%p", model, corrupted, &dist)}
	r.Config.Settings.Model, r.Config.Settings.Epochs = model, epochs
	r.Config.Dataset.Name, r.Config.Dataset.Corrupted = "mnist", corrupted
	r.Metrics = []experiment.EpochMetrics{{Epoch: 0, TrainAcc: 0.1, TestAcc: 0.1, Status: experiment.StatusOK}}
	for i, a := range accs {
		m := experiment.EpochMetrics{Epoch: i + 1, TrainAcc: experiment.Float(a[0]), TestAcc: experiment.Float(a[1]),
			WeightNorm: 1, WeightNormSum: 1, DistFromInit: experiment.Float(dist), DistFromInitSum: experiment.Float(dist), Status: experiment.StatusOK}
		if math.IsNaN(a[0]) {
			m.Status = experiment.StatusDiverged
		}
		r.Metrics = append(r.Metrics, m)
	}
	return r
}

// epochsOf repeats acc for n epochs, then acc2 for n2 (if given).
func epochsOf(n int, acc [2]float64, more ...any) [][2]float64 {
	out := make([][2]float64, n)
	for i := range out {
		out[i] = acc
	}
	if len(more) == 2 {
		out = append(out, epochsOf(more[0].(int), more[1].([2]float64))...)
	}
	return out
}

// TestReportClaimEdges decides claims on made-up runs and probes where a careless rule
// would decide them wrongly.
func TestReportClaimEdges(t *testing.T) {
	learning, generalizing := [2]float64{0.5, 0.4}, [2]float64{0.99, 0.97}
	extreme, diverged := [2]float64{0.99, 0.01}, [2]float64{math.NaN(), math.NaN()}
	runs := func(n int, run func(i int) *RunRecord) []*RunRecord {
		out := make([]*RunRecord, n)
		for i := range out {
			out[i] = run(i)
		}
		return out
	}
	normal := func(epochs int) func(int) *RunRecord {
		return func(i int) *RunRecord {
			return fakeRun("mlp", false, epochs, 5+0.1*float64(i), epochsOf(epochs, generalizing)...)
		}
	}
	corrupted := func(model string, planned int, accs [][2]float64) func(int) *RunRecord {
		return func(i int) *RunRecord { return fakeRun(model, true, planned, 10+0.1*float64(i), accs...) }
	}
	restart := func(source *RunRecord, startTrain, startTest float64) *ProbeRecord {
		return &ProbeRecord{Dir: "probes/restart", Kind: "restart", Source: source, Lines: []map[string]any{
			{"epoch": 0.0, "train_acc": startTrain, "test_acc": startTest}, {"epoch": 1.0, "train_acc": 0.99, "test_acc": 0.9}}}
	}
	fullbatch := func(source *RunRecord, startTrain, startTest float64) *ProbeRecord {
		return &ProbeRecord{Dir: "probes/fullbatch", Kind: "fullbatch", Source: source, Lines: []map[string]any{
			{"method": "adam", "step": 0.0, "train_acc": startTrain, "test_acc": startTest, "grad_norm": 1.0},
			{"method": "adam", "step": 300.0, "train_acc": 0.99, "test_acc": 0.05, "grad_norm": 0.001}}}
	}
	// divergingGD is a full-batch GD whose loss overflows (null in the file: NaN), its
	// gradient norm growing, its test accuracy still low.
	divergingGD := func(startTrain, startTest float64) []map[string]any {
		return []map[string]any{
			{"method": "gd", "step": 0.0, "loss": 0.01, "train_acc": startTrain, "test_acc": startTest, "grad_norm": 1.0},
			{"method": "gd", "step": 10.0, "loss": 500.0, "train_acc": 0.1, "test_acc": 0.1, "grad_norm": 1e3},
			{"method": "gd", "step": 20.0, "loss": math.NaN(), "train_acc": 0.1, "test_acc": 0.1, "grad_norm": 1e5}}
	}
	tests := []struct {
		name   string
		runs   []*RunRecord
		probes func(runs []*RunRecord) []*ProbeRecord
		id     string
		holds  bool   // when tested
		reason string // not "": untested, saying this
	}{
		{"C3, 6 against 6 all apart: p = 2/924 exactly", append(runs(6, normal(10)), runs(6, corrupted("mlp", 10, epochsOf(10, extreme)))...), nil, "C3", true, ""},
		{"C3, 6 against 6, U = 34: p = 8/924 exactly (0.013 approximated)", append(append(runs(6, normal(10)), runs(5, corrupted("mlp", 10, epochsOf(10, extreme)))...),
			fakeRun("mlp", true, 10, 5.35, epochsOf(10, extreme)...)), nil, "C3", true, ""},
		{"C3, a normal run of other epochs", append(append(runs(5, normal(10)), fakeRun("mlp", false, 50, 5, epochsOf(50, generalizing)...)),
			runs(6, corrupted("mlp", 10, epochsOf(10, extreme)))...), nil, "C3", false, "has epochs 50): report each study apart"},
		// C3 is a claim about extreme points: corrupted runs that did not reach one (here
		// 0.8 / 0.4 train / test accuracy) say nothing about it, however far they went.
		{"C3, corrupted runs that are no extreme points", append(runs(6, normal(10)), runs(6, corrupted("mlp", 10, epochsOf(10, [2]float64{0.8, 0.4})))...),
			nil, "C3", false, "none of the 6 corrupted runs ended at an extreme point"},
		// 6 corrupted runs at an extreme point, all farther than the normal runs, and 6 that
		// stopped short of one, near their initialization: the 6 extreme points against the 6
		// normal runs are all apart (p = 2/924); with the others U would be 36 of 72.
		{"C3, corrupted runs that stopped short left out", append(append(runs(6, normal(10)), runs(6, corrupted("mlp", 10, epochsOf(10, extreme)))...),
			runs(6, func(i int) *RunRecord {
				return fakeRun("mlp", true, 10, 1+0.1*float64(i), epochsOf(10, [2]float64{0.8, 0.4})...)
			})...),
			nil, "C3", true, ""},
		{"C1, a corrupted run of another width", append(runs(3, corrupted("mlp", 10, epochsOf(10, extreme))),
			func() *RunRecord {
				r := fakeRun("mlp", true, 10, 10, epochsOf(10, extreme)...)
				r.Config.Settings.ModelConfig.Hidden = 64
				return r
			}()), nil, "C1", false, `model_config {"hidden":64}`},
		{"C1, corrupted runs of other corruption seeds alike", append(runs(2, corrupted("mlp", 10, epochsOf(10, extreme))),
			func() *RunRecord {
				r := fakeRun("mlp", true, 10, 10, epochsOf(10, extreme)...)
				r.Config.Settings.Corruption.Seed = 7
				return r
			}()), nil, "C1", true, ""},
		{"C3, a diverged run left out", append(append(runs(6, normal(10)), fakeRun("mlp", false, 10, 50, epochsOf(2, generalizing, 1, diverged)...)),
			runs(6, corrupted("mlp", 10, epochsOf(10, extreme)))...), nil, "C3", true, ""},
		{"C2, every corrupted run diverged", append(runs(3, normal(10)), runs(3, corrupted("mlp", 10, epochsOf(1, diverged)))...), nil, "C2", true, ""},
		// Runs that all diverged are no evidence either way (their accuracies are NaN).
		{"C1, every corrupted run diverged", append(runs(3, normal(10)), runs(3, corrupted("mlp", 10, epochsOf(1, diverged)))...), nil, "C1", false,
			"all 3 corrupted runs diverged"},
		{"C2, every normal run diverged", append(runs(3, func(i int) *RunRecord { return fakeRun("mlp", false, 10, 5, epochsOf(2, generalizing, 1, diverged)...) }),
			runs(3, corrupted("mlp", 10, epochsOf(10, extreme)))...), nil, "C2", false, "all 3 normal runs diverged"},
		// --subset as large as the data took all of it, as no --subset did: alike.
		{"C1, a subset of all the examples", append(runs(3, func(i int) *RunRecord {
			r := normal(10)(i)
			r.Config.Settings.Subset = 100000
			return r
		}), runs(3, corrupted("mlp", 10, epochsOf(10, extreme)))...), nil, "C1", true, ""},
		{"C1, runs on fewer examples", append(runs(3, func(i int) *RunRecord {
			r := normal(10)(i)
			r.Config.Settings.Subset, r.Config.Dataset.Train, r.Config.Dataset.Test = 500, 500, 500
			return r
		}), runs(3, corrupted("mlp", 10, epochsOf(10, extreme)))...), nil, "C1", false, `has examples {"train":500,"test":500}, mlp-true-`},
		// Weight decay on normal runs alone is no L2 sweep of corrupted training.
		{"C4, weight decay on normal runs only", append(runs(3, corrupted("mlp", 10, epochsOf(10, extreme))),
			runs(3, func(i int) *RunRecord {
				r := normal(10)(i)
				r.Config.Settings.WeightDecay = 1e-3
				return r
			})...), nil, "C4", false, "no corrupted runs with weight decay"},
		// The paper's plan: ResNet 30 epochs, MLP 50.
		{"C7, resnet never there in its 30 epochs, mlp at 40", append(runs(3, corrupted("mlp", 50, epochsOf(39, learning, 11, extreme))),
			runs(3, corrupted("resnet", 30, epochsOf(30, learning)))...), nil, "C7", false, ""},
		{"C7, resnet there at 5, mlp at 40", append(runs(3, corrupted("mlp", 50, epochsOf(39, learning, 11, extreme))),
			runs(3, corrupted("resnet", 30, epochsOf(4, learning, 26, extreme)))...), nil, "C7", true, ""},
		{"C7, resnet diverged at 2, mlp at 10", append(runs(3, corrupted("mlp", 30, epochsOf(9, learning, 21, extreme))),
			runs(3, corrupted("resnet", 30, epochsOf(1, learning, 1, diverged)))...), nil, "C7", false, ""},
		// A run that got there and diverged later did get there.
		{"C7, resnet there at 2 and diverged at 4, mlp at 10", append(runs(3, corrupted("mlp", 30, epochsOf(9, learning, 21, extreme))),
			runs(3, corrupted("resnet", 30, append(epochsOf(1, learning, 2, extreme), diverged)))...), nil, "C7", true, ""},
		{"C7, mlp never there, resnet at 5", append(runs(3, corrupted("mlp", 50, epochsOf(50, learning))),
			runs(3, corrupted("resnet", 30, epochsOf(4, learning, 26, extreme)))...), nil, "C7", true, ""},
		{"C5, restart from an extreme point", append(runs(3, normal(10)), runs(3, corrupted("mlp", 10, epochsOf(10, extreme)))...),
			func(runs []*RunRecord) []*ProbeRecord { return []*ProbeRecord{restart(runs[3], 0.99, 0.01)} }, "C5", true, ""},
		{"C5, restart from a corrupted run that is no extreme point", append(runs(3, normal(10)), runs(3, corrupted("mlp", 10, epochsOf(10, [2]float64{0.9, 0.85})))...),
			func(runs []*RunRecord) []*ProbeRecord { return []*ProbeRecord{restart(runs[3], 0.9, 0.85)} }, "C5", false,
			"starts at train_acc 0.9000, test_acc 0.8500: not an extreme point"},
		{"C5, a restart probe whose run is not among the runs", append(runs(3, normal(10)), runs(3, corrupted("mlp", 10, epochsOf(10, extreme)))...),
			func(runs []*RunRecord) []*ProbeRecord {
				p := restart(nil, 0.99, 0.01)
				p.Info = map[string]any{"run": "/elsewhere/runs/extreme"}
				return []*ProbeRecord{p}
			}, "C5", false, "started from /elsewhere/runs/extreme, and no run under the input is there"},
		{"C6, a full-batch probe whose run was trained again since", append(runs(3, normal(10)), runs(3, corrupted("mlp", 10, epochsOf(10, extreme)))...),
			func(runs []*RunRecord) []*ProbeRecord {
				p := fullbatch(nil, 0.99, 0.01)
				p.Info, p.SourceChanged = map[string]any{"run": "/here/runs/extreme"}, "/here/runs/extreme"
				return []*ProbeRecord{p}
			}, "C6", false, "started from /here/runs/extreme, and the weights of /here/runs/extreme are no longer those it probed"},
		{"C6, full batch from an extreme point", append(runs(3, normal(10)), runs(3, corrupted("mlp", 10, epochsOf(10, extreme)))...),
			func(runs []*RunRecord) []*ProbeRecord { return []*ProbeRecord{fullbatch(runs[3], 0.99, 0.01)} }, "C6", true, ""},
		// GD whose learning rate is above 2/λ_max at the point diverges: it never nears a
		// critical point, so it is no evidence either way, and Adam's run decides.
		{"C6, GD diverged, Adam holds", append(runs(3, normal(10)), runs(3, corrupted("mlp", 10, epochsOf(10, extreme)))...),
			func(runs []*RunRecord) []*ProbeRecord {
				p := fullbatch(runs[3], 0.99, 0.01)
				p.Lines = append(p.Lines, divergingGD(0.99, 0.01)...)
				return []*ProbeRecord{p}
			}, "C6", true, ""},
		{"C6, every method diverged", append(runs(3, normal(10)), runs(3, corrupted("mlp", 10, epochsOf(10, extreme)))...),
			func(runs []*RunRecord) []*ProbeRecord {
				p := fullbatch(runs[3], 0.99, 0.01)
				p.Lines = divergingGD(0.99, 0.01)
				return []*ProbeRecord{p}
			}, "C6", false, "every method of the fullbatch probe probes/fullbatch diverged (gd)"},
		{"C6, full batch from a corrupted run that is no extreme point", append(runs(3, normal(10)), runs(3, corrupted("mlp", 10, epochsOf(10, [2]float64{0.99, 0.3})))...),
			func(runs []*RunRecord) []*ProbeRecord { return []*ProbeRecord{fullbatch(runs[3], 0.99, 0.3)} }, "C6", false,
			"fullbatch probe probes/fullbatch starts at train_acc 0.9900, test_acc 0.3000: not an extreme point"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &Inputs{Runs: tc.runs}
			if tc.probes != nil {
				in.Probes = tc.probes(tc.runs)
			}
			rep, err := BuildReport(in, "in", ReportSettings{Generated: time.Unix(0, 0)})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range rep.Summary.Claims {
				if c.ID == tc.id {
					if tc.reason != "" || c.Holds != tc.holds {
						evidence, _ := json.Marshal(c.Evidence)
						t.Errorf("%s holds %v, want %v (untested: %q); evidence %s", c.ID, c.Holds, tc.holds, tc.reason, evidence)
					}
					return
				}
			}
			var reasons []string
			for _, u := range rep.Summary.Untested {
				if u.ID == tc.id {
					if tc.reason != "" && strings.Contains(u.Reason, tc.reason) {
						return
					}
					reasons = append(reasons, u.Reason)
				}
			}
			t.Errorf("%s not decided, untested: %q; want decided (or untested saying %q)", tc.id, reasons, tc.reason)
		})
	}
}

// TestReportFullBatchStep: each method's C6 evidence names its step size, and GD's, where
// it came from the curvature, how; probes written before steps were logged name none. The
// evidence names the methods that met the criterion: here GD, where Adam left the point;
// and λ_max at a method's first and last step, where it was measured along the way.
func TestReportFullBatchStep(t *testing.T) {
	extreme := [2]float64{0.99, 0.01}
	var runs []*RunRecord
	for i := range 6 {
		accs := epochsOf(10, [2]float64{0.99, 0.97})
		if i >= 3 {
			accs = epochsOf(10, extreme)
		}
		runs = append(runs, fakeRun("mlp", i >= 3, 10, 5+float64(i), accs...))
	}
	line := func(method string, step, testAcc, gradNorm, lr float64) map[string]any {
		l := map[string]any{"method": method, "step": step, "loss": 0.1, "train_acc": 0.99, "test_acc": testAcc, "grad_norm": gradNorm}
		if lr > 0 {
			l["lr"] = lr
		}
		return l
	}
	const from = "1/λ_max at the point: λ_max 5.88"
	for _, tc := range []struct {
		name             string
		adamRate, gdRate float64 // 0: not logged
		from             string
		gdLambda         [2]float64 // λ_max at GD's first and last step; 0: not measured
		gdRateLast       float64    // an adaptive step's last; 0: the same as the first
	}{
		{"steps logged", 0.001, 0.17, from, [2]float64{}, 0},
		{"λ_max measured along GD's descent", 0.001, 0.17, from, [2]float64{5.9, 2.7}, 0},
		{"λ_max measured at the start only", 0.001, 0.17, from, [2]float64{5.9, 0}, 0},
		{"an adaptive step", 0.001, 0.17, from, [2]float64{5.9, 2.7}, 0.37},
		{"an older probe", 0, 0, "", [2]float64{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &ProbeRecord{Dir: "probes/fullbatch", Kind: "fullbatch", Source: runs[3], Lines: []map[string]any{
				line("adam", 0, 0.01, 1, tc.adamRate), line("adam", 300, 0.8, 0.001, tc.adamRate),
				line("gd", 0, 0.01, 1, tc.gdRate), line("gd", 300, 0.02, 0.001, cmp.Or(tc.gdRateLast, tc.gdRate))}}
			wantLastLambda := tc.gdLambda[1]
			if tc.gdLambda[0] > 0 {
				p.Lines[2]["top_eigenvalue"] = tc.gdLambda[0]
			}
			if tc.gdLambda[1] > 0 {
				p.Lines[3]["top_eigenvalue"] = tc.gdLambda[1]
			} else {
				wantLastLambda = tc.gdLambda[0]
			}
			if tc.from != "" {
				p.Info = map[string]any{"settings": map[string]any{"gd_learning_rate_from": tc.from}}
			}
			rep, err := BuildReport(&Inputs{Runs: runs, Probes: []*ProbeRecord{p}}, "in", ReportSettings{Generated: time.Unix(0, 0)})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range rep.Summary.Claims {
				if c.ID != "C6" {
					continue
				}
				gd, _ := c.Evidence["gd"].(map[string]any)
				adam, _ := c.Evidence["adam"].(map[string]any)
				want := func(rate float64) any {
					if rate == 0 {
						return nil
					}
					return rate
				}
				var gdFrom any
				if tc.from != "" {
					gdFrom = tc.from
				}
				if c.Holds || c.Evidence["methods_meeting_criterion"] != "gd" ||
					gd["top_eigenvalue_first"] != want(tc.gdLambda[0]) || gd["top_eigenvalue_last"] != want(wantLastLambda) || adam["top_eigenvalue_first"] != nil ||
					gd["learning_rate"] != want(tc.gdRate) || adam["learning_rate"] != want(tc.adamRate) ||
					gd["learning_rate_last"] != want(tc.gdRateLast) || adam["learning_rate_last"] != nil ||
					gd["learning_rate_from"] != gdFrom || adam["learning_rate_from"] != nil {
					evidence, _ := json.Marshal(c.Evidence)
					t.Errorf("C6 (holds %v) evidence %s: want gd alone meeting the criterion, gd's learning rate %v (from %q), adam's %v", c.Holds, evidence, tc.gdRate, tc.from, tc.adamRate)
				}
				// The table of descents: one row a method, with what C6's criterion finds.
				var descents *Table
				for i := range rep.Tables {
					if strings.HasPrefix(rep.Tables[i].Title, "Full-batch descents") {
						descents = &rep.Tables[i]
					}
				}
				if descents == nil || len(descents.Rows) != 2 {
					t.Fatalf("the table of full-batch descents: %+v", descents)
				}
				wantStep := "-"
				if tc.gdRate > 0 {
					wantStep = fmtNum(tc.gdRate)
				}
				if tc.gdRateLast > 0 {
					wantStep += " → " + fmtNum(tc.gdRateLast)
				}
				for _, want := range [][]string{
					{"adam", "1.0% → 80.0%", "1 → 0.001 (1e+03x down)", "gradient down; test accuracy not low"},
					{"gd", "1.0% → 2.0%", "1 → 0.001 (1e+03x down)", "meets the criterion", wantStep},
				} {
					i := slices.IndexFunc(descents.Rows, func(r []string) bool { return r[2] == want[0] })
					if i < 0 {
						t.Errorf("no row for %s: %v", want[0], descents.Rows)
						continue
					}
					row := strings.Join(descents.Rows[i], " | ")
					for _, cell := range want[1:] {
						if !strings.Contains(row, " | "+cell+" |") && !strings.HasSuffix(row, " | "+cell) {
							t.Errorf("%s's row %q has no cell %q", want[0], row, cell)
						}
					}
				}
				// λ_max measured at two steps or more is a curve, drawn beside GD's bound 2/step.
				var sharpness *Figure
				for _, f := range rep.Figures {
					if strings.HasSuffix(f.Name, "-sharpness") {
						sharpness = f
					}
				}
				if drawn := tc.gdLambda[1] > 0; (sharpness != nil) != drawn {
					t.Errorf("λ_max figure drawn: %v, want %v", sharpness != nil, drawn)
				} else if drawn {
					svg, err := sharpness.SVG()
					if err != nil {
						t.Fatal(err)
					}
					for _, label := range []string{"full-batch gd: λ_max", "2 / GD"} {
						if !bytes.Contains(svg, []byte(label)) {
							t.Errorf("the λ_max figure has no %q in its legend", label)
						}
					}
				}
				return
			}
			t.Fatalf("C6 not decided: untested %+v", rep.Summary.Untested)
		})
	}
}

// TestReportSurfaceDirections: the surface figures name the directions of their slices,
// with the eigenvalues of Hessian directions.
func TestReportSurfaceDirections(t *testing.T) {
	run := fakeRun("mlp", true, 10, 5, epochsOf(10, [2]float64{0.99, 0.01})...)
	for _, tc := range []struct {
		settings       map[string]any
		title, caption string
	}{
		{nil, "Loss along a random filter-normalized direction: mnist/mlp", "Two random filter-normalized directions around the point (Li et al. 2018)."},
		{map[string]any{"directions": DirectionsHessian, "direction_eigenvalues": []any{5.144, 3.948}}, "Loss along the top Hessian eigenvector (λ 5.144): mnist/mlp",
			"The unit eigenvectors of the two largest Hessian eigenvalues of the clean loss at the point (α: λ 5.144, β: λ 3.948)."},
	} {
		p := &ProbeRecord{Dir: "probes/surface", Kind: "surface", Source: run, Info: map[string]any{"settings": tc.settings},
			Lines:  []map[string]any{{"alpha": -1.0, "train_loss": 2.0, "test_loss": 3.0}, {"alpha": 1.0, "train_loss": 2.5, "test_loss": 3.5}},
			Object: map[string]any{"alphas": []any{-1.0, 1.0}, "betas": []any{-1.0, 1.0}, "train_loss": []any{[]any{1.0, 2.0}, []any{3.0, 4.0}}}}
		rep, err := BuildReport(&Inputs{Runs: []*RunRecord{run}, Probes: []*ProbeRecord{p}}, "in", ReportSettings{Generated: time.Unix(0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		var titles, captions []string
		for _, f := range rep.Figures {
			titles, captions = append(titles, f.Title), append(captions, f.Caption)
		}
		if !slices.Contains(titles, tc.title) || !slices.Contains(captions, tc.caption) {
			t.Errorf("settings %v: figure titles %q, captions %q; want %q and %q", tc.settings, titles, captions, tc.title, tc.caption)
		}
	}
}

// TestReportTopEigenvalues: the sharpness table lists the largest eigenvalues where a probe
// found more than λ_max, and how many stand above the largest gap where it found three or more.
func TestReportTopEigenvalues(t *testing.T) {
	run := fakeRun("mlp", true, 10, 5, epochsOf(10, [2]float64{0.99, 0.01})...)
	for _, tc := range []struct {
		object           map[string]any
		lambda, outliers string
	}{
		{map[string]any{"top_eigenvalue": 4.0188, "trace": 50.0}, "4.019", "-"},
		{map[string]any{"top_eigenvalue": 4.0188, "top_eigenvalues": []any{4.0188, 3.8268, 1.146}, "trace": 50.0}, "4.019, 3.827, 1.146 (the 3 largest)", "2 (3.34x)"},
		{map[string]any{"top_eigenvalue": 4.0188, "top_eigenvalues": []any{4.0188, 3.8268}, "converged": false, "trace": 50.0}, "4.019, 3.827 (the 2 largest) (not converged)", "-"},
		{map[string]any{"top_eigenvalue": 4.0188, "top_eigenvalues": []any{4.0188, 1.0, -0.5}, "trace": 50.0}, "4.019, 1, -0.5 (the 3 largest)", "-"},
	} {
		p := &ProbeRecord{Dir: "probes/sharpness", Kind: "sharpness", Source: run, Object: tc.object, Info: map[string]any{"weights": "final"}}
		rep, err := BuildReport(&Inputs{Runs: []*RunRecord{run}, Probes: []*ProbeRecord{p}}, "in", ReportSettings{Generated: time.Unix(0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(rep.Tables, func(table Table) bool { return strings.HasPrefix(table.Title, "Sharpness (top Hessian eigenvalue") })
		if i < 0 || len(rep.Tables[i].Rows) != 1 || rep.Tables[i].Rows[0][3] != tc.lambda || rep.Tables[i].Rows[0][4] != tc.outliers {
			t.Errorf("sharpness.json %v: tables %+v, want λ_max %q, outliers %q", tc.object, rep.Tables, tc.lambda, tc.outliers)
		}
	}
}

// TestFmtSummary: the numbers table shows mean ± std, and one run without a spread.
func TestFmtSummary(t *testing.T) {
	tests := []struct {
		s    *Summary
		want string
	}{
		{nil, "-"},
		{&Summary{N: 1, Mean: 0.5}, "50.0"},
		{&Summary{N: 3, Mean: 0.5, Std: 0.012}, "50.0 ± 1.2"},
	}
	for _, tc := range tests {
		if got := fmtSummary(tc.s, 100, 1); got != tc.want {
			t.Errorf("fmtSummary(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

// TestImportedPointDecidesProbeClaims: a probe from an imported run (weights trained
// elsewhere, not known to be corrupted, without metrics) decides C5 and C6 from its own
// start, names the file in the evidence, and leaves the runs' claims and distributions alone.
func TestImportedPointDecidesProbeClaims(t *testing.T) {
	imported := &RunRecord{Dir: "theirs"}
	imported.Config.Settings.Model, imported.Config.Dataset.Name = "mlp", "mnist"
	imported.Config.Imported = &experiment.ImportInfo{From: "their.pt"}
	restart := &ProbeRecord{Dir: "probes/restart", Kind: "restart", Source: imported, Lines: []map[string]any{
		{"epoch": 0.0, "train_acc": 0.99, "test_acc": 0.004}, {"epoch": 1.0, "train_acc": 0.99, "test_acc": 0.7}}}
	fullbatch := &ProbeRecord{Dir: "probes/fullbatch", Kind: "fullbatch", Source: imported, Lines: []map[string]any{
		{"method": "adam", "step": 0.0, "train_acc": 0.99, "test_acc": 0.004, "grad_norm": 1.0},
		{"method": "adam", "step": 100.0, "train_acc": 0.99, "test_acc": 0.06, "grad_norm": 0.001}}}
	rep, err := BuildReport(&Inputs{Points: []*RunRecord{imported}, Probes: []*ProbeRecord{restart, fullbatch}}, "in", ReportSettings{Generated: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range rep.Summary.Claims {
		ids = append(ids, c.ID)
		if c.Evidence["imported_from"] != "their.pt" || c.Evidence["start_epochs"] != nil {
			t.Errorf("%s evidence %v: want imported_from their.pt, no start_epochs", c.ID, c.Evidence)
		}
		if !c.Holds {
			t.Errorf("%s does not hold: %v", c.ID, c.Evidence["outcome"])
		}
	}
	if !slices.Equal(ids, []string{"C5", "C6"}) || rep.Summary.Runs != 0 {
		t.Errorf("claims %q from %d runs, want C5 and C6 from none", ids, rep.Summary.Runs)
	}
}

// TestProbeReferenceRunsAlike: C5's bar is set by the normal runs that held as many
// examples as the probe's run: runs on all of MNIST generalize better than one on a
// subset can be asked to.
func TestProbeReferenceRunsAlike(t *testing.T) {
	sized := func(r *RunRecord, train, test int) *RunRecord {
		r.Config.Dataset.Train, r.Config.Dataset.Test = train, test
		return r
	}
	extreme := sized(fakeRun("mlp", true, 10, 9, epochsOf(10, [2]float64{0.99, 0.01})...), 1000, 1000)
	restart := &ProbeRecord{Dir: "probes/restart", Kind: "restart", Source: extreme, Lines: []map[string]any{
		{"epoch": 0.0, "train_acc": 0.99, "test_acc": 0.01}, {"epoch": 1.0, "train_acc": 0.99, "test_acc": 0.7}}}
	tests := []struct {
		name   string
		normal *RunRecord
		info   map[string]any // the probe's probe.json
		want   string
	}{
		{"a normal run on as many examples", sized(fakeRun("mlp", false, 10, 5, epochsOf(10, [2]float64{1, 0.85})...), 1000, 1000), nil, "needs >= 0.680"},
		{"a normal run on all of them only", sized(fakeRun("mlp", false, 10, 5, epochsOf(10, [2]float64{1, 0.98})...), 60000, 10000), nil, "needs >= 0.500"},
		// A probe's --subset past its run's examples: it trained on those.
		{"a probe on all of them", sized(fakeRun("mlp", false, 10, 5, epochsOf(10, [2]float64{1, 0.98})...), 60000, 10000),
			map[string]any{"dataset": map[string]any{"name": "mnist", "train": 60000.0, "test": 10000.0}}, "needs >= 0.784"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			restart.Info = tc.info
			rep, err := BuildReport(&Inputs{Runs: []*RunRecord{tc.normal}, Points: []*RunRecord{extreme}, Probes: []*ProbeRecord{restart}}, "in",
				ReportSettings{Generated: time.Unix(0, 0)})
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(rep.Summary.Claims, func(c Claim) bool { return c.ID == "C5" })
			if i < 0 {
				t.Fatalf("no C5 claim: untested %+v", rep.Summary.Untested)
			}
			if outcome, _ := rep.Summary.Claims[i].Evidence["outcome"].(string); !strings.Contains(outcome, tc.want) {
				t.Errorf("C5 outcome %q, want it to say %q", outcome, tc.want)
			}
		})
	}
}

// TestClaimOutcome: every claim says in a line how near its criterion the runs or the
// probe came, and a restart that fell short whether it was still rising when it stopped.
func TestClaimOutcome(t *testing.T) {
	var runs []*RunRecord
	for i := range 6 { // normal runs at 97% test accuracy: C5 wants 0.776, C6 0.485 or less
		accs := epochsOf(10, [2]float64{0.99, 0.97})
		if i >= 3 {
			accs = epochsOf(10, [2]float64{0.99, 0.01})
		}
		runs = append(runs, fakeRun("mlp", i >= 3, 10, 5+float64(i), accs...))
	}
	restart := func(test ...float64) *ProbeRecord {
		p := &ProbeRecord{Dir: "probes/restart", Kind: "restart", Source: runs[3]}
		for i, acc := range append([]float64{0.01}, test...) {
			p.Lines = append(p.Lines, map[string]any{"epoch": float64(i), "train_acc": 0.99, "test_acc": acc})
		}
		return p
	}
	fullbatch := func(adamTest, adamGrad float64) *ProbeRecord {
		return &ProbeRecord{Dir: "probes/fullbatch", Kind: "fullbatch", Source: runs[3], Lines: []map[string]any{
			{"method": "adam", "step": 0.0, "train_acc": 0.99, "test_acc": 0.01, "grad_norm": 1.0},
			{"method": "adam", "step": 100.0, "train_acc": 0.99, "test_acc": adamTest, "grad_norm": adamGrad},
			{"method": "gd", "step": 0.0, "train_acc": 0.99, "test_acc": 0.01, "grad_norm": 1.0},
			{"method": "gd", "step": 100.0, "train_acc": 0.99, "test_acc": 0.05, "grad_norm": 0.01}}}
	}
	tests := []struct {
		name    string
		probe   *ProbeRecord
		id      string
		holds   bool
		want    string
		notWant string
	}{
		{"a restart short of it, still rising", restart(0.3, 0.5, 0.6, 0.7, 0.75), "C5", false,
			"test acc 0.010 -> 0.750 in 5 epochs (best 0.750), needs >= 0.776; still rising (+0.050 in the last epoch)", ""},
		{"a longer restart short of it, still rising", restart(0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.62, 0.65, 0.7, 0.72), "C5", false,
			"still rising (+0.070 in the last 2 epochs): a longer restart may tell", ""},
		{"a restart short of it, level", restart(0.5, 0.6, 0.7, 0.69, 0.7, 0.7, 0.7, 0.7, 0.71, 0.7), "C5", false,
			"test acc 0.010 -> 0.700 in 10 epochs (best 0.710), needs >= 0.776", "rising"},
		{"a restart there, still rising", restart(0.6, 0.8, 0.9), "C5", true, "test acc 0.010 -> 0.900 in 3 epochs", "rising"},
		{"a full-batch Adam that escapes", fullbatch(0.8, 0.001), "C6", false, "gd meets it; adam's test acc 0.010 -> 0.800, needs <= 0.485", "gradient"},
		{"a full-batch Adam short of a critical point", fullbatch(0.02, 0.5), "C6", false, "gd meets it; adam's gradient norm 1 -> 0.5, needs <= 0.1", "test acc"},
		{"both meet it", fullbatch(0.02, 0.001), "C6", true, "adam and gd meet it", "needs"},
	}
	// The runs' claims, decided beside each probe's: C1 and C2 from the runs above (C3 is
	// untested: 3 against 3 runs cannot give p < 0.01); C4 from a
	// sweep where λ=1e-3 reaches an extreme point and λ=1e-2 does not; C7 from ResNet runs
	// there in 3 epochs, where the MLP's got there in 10.
	decay := func(wd float64, accs [2]float64) *RunRecord {
		r := fakeRun("mlp", true, 10, 9, epochsOf(10, accs)...)
		r.Config.Settings.WeightDecay = wd
		return r
	}
	others := []*RunRecord{decay(1e-3, [2]float64{0.99, 0.01}), decay(1e-2, [2]float64{0.6, 0.3})}
	for range 3 {
		others = append(others, fakeRun("resnet", true, 10, 9, epochsOf(2, [2]float64{0.5, 0.4}, 8, [2]float64{0.99, 0.01})...))
	}
	runClaims := []struct {
		id, want string
	}{
		{"C1", "mean train acc 0.990, test acc 0.010 over 3 runs; needs >= 0.95 and <= 0.05"},
		{"C2", "mean test acc 0.970 at train acc 0.990 over 3 runs, 0.98x; needs >= 0.80x and above the corrupted runs' 0.010"},
		{"C4", "an extreme point at λ=0.001 (train acc 0.990, test acc 0.010); none at λ=0.01 (train acc 0.600, test acc 0.300)"},
		{"C7", "median epochs to the extreme point: resnet 3 (3 of 3 runs there within 10), mlp 1 (3 of 3)"},
	}
	for _, tc := range tests {
		rep, err := BuildReport(&Inputs{Runs: append(slices.Clone(runs), others...), Probes: []*ProbeRecord{tc.probe}}, "in", ReportSettings{Generated: time.Unix(0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, c := range rep.Summary.Claims {
			if c.ID != tc.id {
				continue
			}
			found = true
			outcome, _ := c.Evidence["outcome"].(string)
			if c.Holds != tc.holds || !strings.Contains(outcome, tc.want) || (tc.notWant != "" && strings.Contains(outcome, tc.notWant)) {
				t.Errorf("%s: %s holds %v, outcome %q; want holds %v, saying %q and not %q", tc.name, c.ID, c.Holds, outcome, tc.holds, tc.want, tc.notWant)
			}
		}
		if !found {
			t.Errorf("%s: no %s claim", tc.name, tc.id)
		}
		if i := slices.IndexFunc(rep.Summary.Untested, func(u Untested) bool { return u.ID == "C3" }); i < 0 ||
			!strings.HasPrefix(rep.Summary.Untested[i].Reason, "3 extreme points and 3 normal runs cannot give p < 0.01 (at best p = 0.1, all apart): run more (distance from init 9 vs 6, medians") {
			t.Errorf("untested %+v: want C3, 3 against 3 runs", rep.Summary.Untested)
		}
		for _, want := range runClaims {
			i := slices.IndexFunc(rep.Summary.Claims, func(c Claim) bool { return c.ID == want.id })
			if i < 0 {
				t.Errorf("no %s claim", want.id)
				continue
			}
			if outcome, _ := rep.Summary.Claims[i].Evidence["outcome"].(string); !strings.HasPrefix(outcome, want.want) {
				t.Errorf("%s outcome %q, want %q", want.id, outcome, want.want)
			}
		}
	}
}

// TestReportLongTables: a table of more than 12 rows (a study's runs probed one by one)
// is folded under a summary that counts them; a short one is shown whole.
func TestReportLongTables(t *testing.T) {
	rows := func(n int) [][]string {
		out := make([][]string, n)
		for i := range out {
			out[i] = []string{fmt.Sprintf("run-%02d", i)}
		}
		return out
	}
	rep := &Report{Tables: []Table{{Title: "short", Header: []string{"run"}, Rows: rows(12)}, {Title: "long", Header: []string{"run"}, Rows: rows(13)}}}
	var html strings.Builder
	if err := rep.writeHTML(&html); err != nil {
		t.Fatal(err)
	}
	page := html.String()
	short, long := strings.Index(page, "<h2>short</h2>"), strings.Index(page, "<h2>long</h2>")
	if short < 0 || long < short || strings.Contains(page[short:long], "<details>") ||
		!strings.Contains(page[long:], "<details><summary>13 rows</summary>") || !strings.Contains(page[long:], "<td>run-12</td>") {
		t.Errorf("index.html's tables:\n%s", page[max(short, 0):])
	}
}

// TestSharpnessLeavesOutPoints: the sharpness of a point trained apart as the probes'
// start (longer than the runs) is shown, but not compared with the runs' points.
func TestSharpnessLeavesOutPoints(t *testing.T) {
	var runs []*RunRecord
	var probes []*ProbeRecord
	sharpness := func(dir string, source *RunRecord, lambda float64) *ProbeRecord {
		return &ProbeRecord{Dir: dir, Kind: "sharpness", Source: source, Info: map[string]any{"weights": "final"},
			Object: map[string]any{"top_eigenvalue": lambda, "trace": 10 * lambda, "converged": true, "hvp": "exact"}}
	}
	for i := range 6 {
		accs := epochsOf(10, [2]float64{0.99, 0.97})
		if i >= 3 {
			accs = epochsOf(10, [2]float64{0.99, 0.01})
		}
		r := fakeRun("mlp", i >= 3, 10, 5+float64(i), accs...)
		r.Dir = fmt.Sprintf("studies/rows-mlp/runs/run-%d", i)
		runs = append(runs, r)
		probes = append(probes, sharpness(filepath.Join("probes", "rows-mlp", "sharpness-runs", filepath.Base(r.Dir)), r, 1+float64(i)))
	}
	point := fakeRun("mlp", true, 30, 20, epochsOf(30, [2]float64{1, 0})...)
	point.Dir = "probes/rows-mlp/point/runs/corrupted-0000"
	probes = append(probes, sharpness("probes/rows-mlp/sharpness", point, 0.5)) // flatter, as longer training leaves it
	rep, err := BuildReport(&Inputs{Runs: runs, Points: []*RunRecord{point}, Probes: probes}, "in", ReportSettings{Generated: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if sh := rep.Summary.Sharpness; len(sh) != 1 || sh[0].TopEigenvalue.Extreme.N != 3 || sh[0].TopEigenvalue.Extreme.Min != 4 || sh[0].TopEigenvalue.Normal.N != 3 {
		t.Errorf("sharpness comparison %+v, want the 3 extreme runs' points (λ_max 4 to 6) against the 3 normal ones, not the point trained apart", sh)
	}
	i := slices.IndexFunc(rep.Tables, func(table Table) bool { return strings.HasPrefix(table.Title, "Sharpness (top Hessian eigenvalue") })
	if i < 0 || len(rep.Tables[i].Rows) != 1 || rep.Tables[i].Rows[0][3] != "0.5" {
		t.Errorf("the point's sharpness is not shown: %+v", rep.Tables)
	}
}

// TestSharpnessComparesLikeWithLike: the sharpness of runs trained differently is
// summarized, not tested (as C1-C3 are not), and outlier counts of probes that looked for
// different numbers of eigenvalues (--top) are not compared.
func TestSharpnessComparesLikeWithLike(t *testing.T) {
	tests := []struct {
		name             string
		epochs           func(i int) int
		top              func(i int) int
		wantTested       bool
		wantOutliers     bool
		wantNotePrefix   string
		wantNoteContains string
	}{
		{"alike", func(int) int { return 10 }, func(int) int { return 12 }, true, true, "", ""},
		{"runs of other epochs", func(i int) int { return 10 + 5*(i%2) }, func(int) int { return 12 }, false, true,
			"runs trained differently (", "has epochs"},
		{"probes of other --top", func(int) int { return 10 }, func(i int) int { return 5 + 7*(i%2) }, true, false,
			"outliers not compared: probes looked for different numbers of eigenvalues (--top 5, 12)", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var runs []*RunRecord
			var probes []*ProbeRecord
			for i := range 8 {
				accs := epochsOf(tc.epochs(i), [2]float64{0.99, 0.97})
				if i >= 4 {
					accs = epochsOf(tc.epochs(i), [2]float64{0.99, 0.01})
				}
				r := fakeRun("mlp", i >= 4, tc.epochs(i), 5+float64(i), accs...)
				runs = append(runs, r)
				top := make([]float64, tc.top(i))
				for j := range top {
					top[j] = float64(100 - 10*j) // a gap of 2x after the ninth
					if j >= 9 {
						top[j] = float64(10 - j/2)
					}
				}
				probes = append(probes, &ProbeRecord{Dir: fmt.Sprintf("probes/sharpness-%d", i), Kind: "sharpness", Source: r, Info: map[string]any{"weights": "final"},
					Object: map[string]any{"top_eigenvalue": 1 + float64(i), "trace": 10 + float64(i), "converged": true, "hvp": "exact", "top_eigenvalues": anySlice(top)}})
			}
			rep, err := BuildReport(&Inputs{Runs: runs, Probes: probes}, "in", ReportSettings{Generated: time.Unix(0, 0)})
			if err != nil {
				t.Fatal(err)
			}
			sh := rep.Summary.Sharpness
			if len(sh) != 1 {
				t.Fatalf("sharpness comparisons %+v, want one", sh)
			}
			c := sh[0]
			if (c.TopEigenvalue.Test != nil) != tc.wantTested || (c.Trace.Test != nil) != tc.wantTested || c.TopEigenvalue.Normal.N != 4 || c.TopEigenvalue.Extreme.N != 4 {
				t.Errorf("λ_max %+v, trace %+v: want 4 points of each kind, tested: %v", c.TopEigenvalue, c.Trace, tc.wantTested)
			}
			if (c.OutlierGap != nil && c.OutlierGap.Test != nil) != (tc.wantOutliers && tc.wantTested) || (c.Outliers != nil) != tc.wantOutliers {
				t.Errorf("outliers %+v, gap %+v: want compared: %v", c.Outliers, c.OutlierGap, tc.wantOutliers)
			}
			note := c.Note + c.OutliersNote // one at most here
			if !strings.HasPrefix(note, tc.wantNotePrefix) || !strings.Contains(note, tc.wantNoteContains) || (tc.wantNotePrefix == "") != (note == "") ||
				(c.Note != "") != !tc.wantTested {
				t.Errorf("notes %q and %q, want one to start %q and hold %q", c.Note, c.OutliersNote, tc.wantNotePrefix, tc.wantNoteContains)
			}
		})
	}
}

// anySlice is values as a decoded JSON array.
func anySlice(values []float64) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = v
	}
	return out
}

// TestProbeClaimNamesItsProbe: where a group has several probes of a kind, its claim says
// which one decided it.
func TestProbeClaimNamesItsProbe(t *testing.T) {
	extreme := fakeRun("mlp", true, 10, 9, epochsOf(10, [2]float64{0.99, 0.01})...)
	restart := func(dir string) *ProbeRecord {
		return &ProbeRecord{Dir: dir, Kind: "restart", Source: extreme, Lines: []map[string]any{
			{"epoch": 0.0, "train_acc": 0.99, "test_acc": 0.01}, {"epoch": 1.0, "train_acc": 0.99, "test_acc": 0.7}}}
	}
	normal := fakeRun("mlp", false, 10, 5, epochsOf(10, [2]float64{0.99, 0.97})...)
	for n, want := range map[int]string{1: "needs >= 0.500", 2: "needs >= 0.500; from probes/restart-1, one of 2 restart probes"} {
		var probes []*ProbeRecord
		for i := range n {
			probes = append(probes, restart(fmt.Sprintf("probes/restart-%d", i)))
		}
		if n == 2 { // the first from a normal point, which decides nothing
			probes[0].Source = normal
			probes[0].Lines[0]["test_acc"] = 0.97
		}
		rep, err := BuildReport(&Inputs{Points: []*RunRecord{extreme}, Probes: probes}, "in", ReportSettings{Generated: time.Unix(0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Summary.Claims) != 1 || !strings.HasSuffix(rep.Summary.Claims[0].Evidence["outcome"].(string), want) {
			t.Errorf("%d probes: claims %+v, want C5 ending %q", n, rep.Summary.Claims, want)
		}
	}
}

// TestFewOfEachKind: the densities drawn take turns between the kinds, whatever the kinds
// (an imported point's, one of no run); before, a kind it did not list made it loop for good.
func TestFewOfEachKind(t *testing.T) {
	point := func(kind string, i int) densityOfPoint {
		return densityOfPoint{kind, DensitySeries{Label: fmt.Sprintf("%s-%d", kind, i)}}
	}
	tests := []struct {
		name   string
		points []densityOfPoint
		most   int
		want   []string
	}{
		{"turns, normal first", []densityOfPoint{point("corrupted", 0), point("corrupted", 1), point("normal", 0), point("normal", 1)}, 3,
			[]string{"normal-0", "normal-1", "corrupted-0"}},
		{"an imported point alone", []densityOfPoint{point("imported", 0)}, 6, []string{"imported-0"}},
		{"an imported point among others", []densityOfPoint{point("normal", 0), point("normal", 1), point("imported", 0)}, 6,
			[]string{"normal-0", "normal-1", "imported-0"}},
		{"a kind of no name here", []densityOfPoint{point("other", 0), point("normal", 0)}, 1, []string{"normal-0"}},
		{"none", nil, 6, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan []DensitySeries, 1)
			go func() { done <- fewOfEachKind(tc.points, tc.most) }()
			select {
			case got := <-done:
				var labels []string
				for _, s := range got {
					labels = append(labels, s.Label)
				}
				if !slices.Equal(labels, tc.want) {
					t.Errorf("got %q, want %q", labels, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("fewOfEachKind did not return")
			}
		})
	}
}
