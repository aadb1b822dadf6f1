package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/models"
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
		{"smoke", []string{"mnist", "fashion-mnist"}, nil, []string{"mnist/mlp", "fashion-mnist/mlp"}, ""},
		{"smoke", nil, []string{"mlp", "lenet"}, []string{"mnist/mlp", "mnist/lenet"}, ""},
		{"quick", []string{"cifar10", "mnist"}, nil, []string{"mnist/mlp", "mnist/lenet", "cifar10/mlp", "cifar10/lenet"}, ""},
		{"quick", nil, []string{"resnet"}, []string{"mnist/resnet", "fashion-mnist/resnet"}, ""},
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
	// The paper scale trains as long as the authors' scripts, and its probes start from a
	// point trained as long as theirs (none published for LeNet: its first corrupted run);
	// the smaller scales' probes start from the first corrupted run, but for the quick
	// scale's LeNet (20 epochs, 30 on Fashion-MNIST, where its runs train 20). A pair
	// outside a scale's list gets 11 epochs.
	epochs := []struct {
		scale, pair   string
		epochs, point int
	}{
		{"paper", "mnist/mlp", 50, 350},
		{"paper", "fashion-mnist/mlp", 50, 350},
		{"paper", "cifar10/mlp", 250, 1200},
		{"paper", "mnist/lenet", 11, 0},
		{"paper", "fashion-mnist/lenet", 11, 0},
		{"paper", "cifar10/lenet", 20, 0},
		{"paper", "mnist/resnet", 30, 100},
		{"paper", "cifar10/resnet", 90, 100},
		{"quick", "mnist/mlp", 15, 0},
		{"quick", "fashion-mnist/mlp", 40, 0},
		{"quick", "fashion-mnist/lenet", 20, 30},
		{"quick", "mnist/lenet", 10, 20},
		{"smoke", "mnist/mlp", 15, 0},
		{"smoke", "cifar10/resnet", 11, 0},
	}
	for _, tc := range epochs {
		d, m, _ := strings.Cut(tc.pair, "/")
		p, err := Plan(tc.scale, []string{d}, []string{m})
		if err != nil || !slices.Equal(p.Pairs, []string{tc.pair}) {
			t.Fatalf("Plan(%q, %s) = %v, %v; want the pair alone", tc.scale, tc.pair, p, err)
		}
		if got := p.EpochsOf(tc.pair); got != tc.epochs {
			t.Errorf("%s scale, %s: %d epochs, want %d", tc.scale, tc.pair, got, tc.epochs)
		}
		if got := p.PointEpochsOf(tc.pair); got != tc.point {
			t.Errorf("%s scale, %s: the probes' point trains %d epochs, want %d", tc.scale, tc.pair, got, tc.point)
		}
	}
	quick, _ := Plan("quick", nil, nil)
	if runs, subset, test := quick.forModel("lenet"); runs < 6 || subset != 1000 || test != 250 {
		t.Errorf("quick lenet: %d runs on %d/%d; want at least 6 runs (the rank test needs them)", runs, subset, test)
	}
	if runs, _, _ := quick.forModel("mlp"); runs < 6 {
		t.Errorf("quick mlp: %d runs, want at least 6", runs)
	}
	if a, b := quick.RunsOf("fashion-mnist/lenet"), quick.RunsOf("mnist/mlp"); a != 6 || b != 8 {
		t.Errorf("quick: RunsOf gives %d LeNet runs and %d MLP runs, want the override's 6 and the scale's 8", a, b)
	}
}

// TestSharpnessRuns: how many runs of each kind of a pair have their sharpness measured,
// the scale's or the one given to every pair, at most the pair's runs.
func TestSharpnessRuns(t *testing.T) {
	tests := []struct {
		scale, pair string
		set         int
		want        int
	}{
		{"smoke", "mnist/mlp", 0, 5},
		{"smoke", "mnist/lenet", 0, 0},
		{"quick", "mnist/mlp", 0, 8},
		{"quick", "fashion-mnist/mlp", 0, 8},
		{"quick", "mnist/lenet", 0, 6},     // all its runs
		{"quick", "mnist/lenet", 4, 4},     // asked for
		{"quick", "mnist/lenet", 1000, 6},  // all its runs
		{"quick", "mnist/mlp", -1, 0},      // none
		{"paper", "cifar10/resnet", 0, 20}, // of its 200
		{"paper", "mnist/mlp", 3, 3},
	}
	for _, tc := range tests {
		d, m, _ := strings.Cut(tc.pair, "/")
		p, err := Plan(tc.scale, []string{d}, []string{m})
		if err != nil {
			t.Fatal(err)
		}
		p.SetSharpnessRuns(tc.set)
		if got := p.SharpnessRunsOf(tc.pair); got != tc.want {
			t.Errorf("%s scale, %s, set %d: sharpness of %d runs of each kind, want %d", tc.scale, tc.pair, tc.set, got, tc.want)
		}
	}
}

// TestTrainPoint trains the probes' starting point apart, as the paper scale does: a
// corrupted run of the study (here its second, as where the first diverged) trained on
// to more epochs. The report links probes to it and leaves it out of the runs'
// distributions.
func TestTrainPoint(t *testing.T) {
	ctx := context.Background()
	out := t.TempDir()
	ds := separableDataset(60, 20)
	study := experiment.StudySettings{Run: experiment.Settings{Dataset: ds.Name, Model: "mlp", Epochs: 3, BatchSize: 16,
		ModelConfig: models.Config{Hidden: 16}}, Runs: 2, Seed: 5, Corruption: corrupt.Settings{Strategy: corrupt.WrongUniform}}
	studyDir := filepath.Join(out, "studies", "rows-mlp")
	if _, err := experiment.RunStudy(ctx, ds, study, studyDir, nil); err != nil {
		t.Fatal(err)
	}
	pointDir := filepath.Join(out, "probes", "rows-mlp", PointDir)
	point, err := trainPoint(ctx, ds, study, 1, 6, pointDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(pointDir, "runs", "corrupted-0001"); point.Run != want {
		t.Fatalf("the point is %s, want %s", point.Run, want)
	}
	first := readMetrics(t, filepath.Join(studyDir, "runs", "corrupted-0001"))
	trained := readMetrics(t, point.Run)
	if len(first) != 4 || len(trained) != 7 {
		t.Fatalf("%d and %d metrics lines, want 4 (3 epochs) and 7 (6 epochs)", len(first), len(trained))
	}
	// The same run, trained on: its first epochs are the study run's, bit for bit.
	if first[3].WeightNormSum != trained[3].WeightNormSum || first[3].CorruptedAcc == nil || *first[3].CorruptedAcc != *trained[3].CorruptedAcc {
		t.Errorf("epoch 3: norm %v / %v; the point should continue the study's run corrupted-0001", first[3].WeightNormSum, trained[3].WeightNormSum)
	}
	// A second call finds the point trained.
	before, _ := os.Stat(filepath.Join(point.Run, experiment.MetricsFile))
	if again, err := trainPoint(ctx, ds, study, 1, 6, pointDir, nil); err != nil || again != point {
		t.Fatalf("trainPoint again = %v, %v; want %v", again, err, point)
	}
	if after, _ := os.Stat(filepath.Join(point.Run, experiment.MetricsFile)); !after.ModTime().Equal(before.ModTime()) {
		t.Error("the finished point was trained again")
	}
	// Other epochs in the same place are refused; the marker keeps its epochs.
	marker := mustRead(t, filepath.Join(pointDir, PointFile))
	if _, err := trainPoint(ctx, ds, study, 1, 8, pointDir, nil); !errors.Is(err, experiment.ErrStudyMismatch) {
		t.Errorf("trainPoint with 8 epochs over a 6-epoch point: %v, want %v", err, experiment.ErrStudyMismatch)
	}
	if got := mustRead(t, filepath.Join(pointDir, PointFile)); got != marker || !strings.Contains(got, `"epochs":6`) {
		t.Errorf("point.json is now %q, was %q", got, marker)
	}

	writeProbe(t, filepath.Join(out, "probes", "rows-mlp", "fullbatch"), point.Run, map[string]string{"fullbatch.jsonl": `{"method":"adam","step":0,"loss":2,"train_acc":0.98,"test_acc":0.01,"grad_norm":1}
{"method":"adam","step":10,"loss":1,"train_acc":0.9,"test_acc":0.02,"grad_norm":0.01}
`})
	in, err := LoadInputs(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Runs) != 4 || len(in.Points) != 1 || len(in.Probes) != 1 || in.Probes[0].Source != in.Points[0] {
		t.Fatalf("%d runs, %d points, %d probes (source %v); want 4, 1, 1 from the point", len(in.Runs), len(in.Points), len(in.Probes), in.Probes[0].Source)
	}
	rep, err := BuildReport(in, out, ReportSettings{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Summary.Claims {
		if c.ID == "C6" {
			if got := c.Evidence["start_epochs"]; got != 6 {
				t.Errorf("C6 start_epochs = %v, want 6", got)
			}
			return
		}
	}
	t.Error("no C6 claim from the fullbatch probe")
}

func readMetrics(t *testing.T, runDir string) []experiment.EpochMetrics {
	t.Helper()
	r, err := loadRun(runDir)
	if err != nil {
		t.Fatal(err)
	}
	return r.Metrics
}

// TestCapExamples: a model's probe bound applies to "all examples" (0) as well.
func TestCapExamples(t *testing.T) {
	tests := []struct{ n, limit, want int }{{0, 500, 500}, {2000, 500, 500}, {200, 500, 200}}
	for _, tc := range tests {
		if got := capExamples(tc.n, tc.limit); got != tc.want {
			t.Errorf("capExamples(%d, %d) = %d, want %d", tc.n, tc.limit, got, tc.want)
		}
	}
}

// TestSharpnessOfRuns measures the sharpness of a study's first runs of each kind once,
// leaving out a diverged one for the next and one the pair's own probe measured: resumed,
// it keeps the probes of weights the runs still hold, measures again a run whose weights
// changed (trained again), and refuses a probe of another run, keeping it.
func TestSharpnessOfRuns(t *testing.T) {
	ds := probeDataset(40, 20)
	out := t.TempDir()
	study := &experiment.StudyResult{Dir: filepath.Join(out, "study"), Finished: []experiment.RunResult{
		{StudyRun: experiment.StudyRun{Kind: experiment.KindCorrupted, Index: 1}, Status: experiment.StatusOK},
		{StudyRun: experiment.StudyRun{Kind: experiment.KindNormal, Index: 0}, Status: experiment.StatusOK},
		{StudyRun: experiment.StudyRun{Kind: experiment.KindCorrupted, Index: 0}, Status: experiment.StatusDiverged}, // no weights to measure
	}}
	probesDir := filepath.Join(out, "probes")
	runDir := func(name string) string { return filepath.Join(study.Dir, experiment.RunsDir, name) }
	train := func(name string, seed uint64) {
		dir := runDir(name)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		set := corrupt.Clean(ds)
		if strings.HasPrefix(name, experiment.KindCorrupted) {
			set, _ = corrupt.Build(ds, corrupt.Settings{Seed: 1})
		}
		s := experiment.Settings{ModelConfig: models.Config{Hidden: 8}, Epochs: 2, BatchSize: 16, Seed: seed}
		if _, err := experiment.Train(context.Background(), nil, set, s, dir, nil); err != nil {
			t.Fatal(err)
		}
	}
	train("normal-0000", 1)
	train("corrupted-0001", 1)
	plan := &ScalePlan{Name: "test", Sharpness: SharpnessSettings{Top: 3, Iterations: 12, TraceSamples: 1, DensityVectors: 1, LanczosSteps: 4}}
	pairProbe := filepath.Join(probesDir, normalSharpnessDir) // as runProbes measures the first normal run
	if _, err := Sharpness(context.Background(), nil, Point{Run: runDir("normal-0000")}, ds, plan.Sharpness, pairProbe, nil); err != nil {
		t.Fatal(err)
	}
	measure := func() (string, error) {
		var progress strings.Builder
		err := sharpnessOfRuns(context.Background(), nil, plan, 1, ds, study, probesDir, &progress)
		return progress.String(), err
	}
	probe := func(name string) string { return filepath.Join(probesDir, SharpnessRunsDir, name) }
	progress, err := measure()
	if err != nil || strings.Count(progress, "probe sharpness of") != 1 || !strings.Contains(progress, "corrupted-0000 diverged, left out") ||
		!strings.Contains(progress, "probe sharpness of "+runDir("corrupted-0001")) {
		t.Fatalf("first pass: %v; progress %q, want the corrupted run after the diverged one measured (the normal run has the pair's probe)", err, progress)
	}
	if _, err := os.Stat(probe("normal-0000")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the normal run, measured by the pair's probe, measured again: %v", err)
	}
	var first SharpnessResult
	if data, err := os.ReadFile(filepath.Join(probe("corrupted-0001"), SharpnessFile)); err != nil || json.Unmarshal(data, &first) != nil {
		t.Fatalf("reading the corrupted run's sharpness: %v", err)
	}
	if first.Density != nil || len(first.TopEigenvalues) != 3 {
		t.Errorf("a run's sharpness %+v: want the 3 largest eigenvalues and no density (the pair's probes have it)", first)
	}
	if progress, err := measure(); err != nil || strings.Contains(progress, "probe sharpness of") {
		t.Errorf("resumed: %v; progress %q, want nothing measured again", err, progress)
	}
	train("corrupted-0001", 2) // other weights in the same run directory
	progress, err = measure()
	if err != nil || !strings.Contains(progress, "corrupted-0001 measured weights of sha256 ") ||
		strings.Count(progress, "probe sharpness of") != 1 || !strings.Contains(progress, "probe sharpness of "+runDir("corrupted-0001")) {
		t.Errorf("after the corrupted run trained again: %v; progress %q, want it alone measured again", err, progress)
	}
	info, err := ReadProbeInfo(probe("corrupted-0001"))
	if err != nil || !measuredNow(info, Point{Run: runDir("corrupted-0001"), Weights: weightsFinal}) {
		t.Errorf("the probe measured again: %+v, %v; want it of the run's weights now", info, err)
	}
	// The normal run's probe in the corrupted run's place: refused, and kept.
	foreign, err := os.ReadFile(filepath.Join(pairProbe, ProbeInfoFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(probe("corrupted-0001"), ProbeInfoFile), foreign, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := measure(); !errors.Is(err, experiment.ErrStudyMismatch) || !strings.Contains(err.Error(), "normal-0000") {
		t.Errorf("a probe of another run: %v, want it refused, naming that run", err)
	}
	if _, err := os.Stat(filepath.Join(probe("corrupted-0001"), SharpnessFile)); err != nil {
		t.Errorf("the refused probe was not kept: %v", err)
	}
}

// TestFirstFiniteRun finds the run a pair's probes start from: the first of its kind that
// did not diverge, where every run before it is finished.
func TestFirstFiniteRun(t *testing.T) {
	run := func(kind string, index int, status string) experiment.RunResult {
		return experiment.RunResult{StudyRun: experiment.StudyRun{Kind: kind, Index: index}, Status: status}
	}
	c, n := experiment.KindCorrupted, experiment.KindNormal
	ok, diverged := experiment.StatusOK, experiment.StatusDiverged
	tests := []struct {
		name         string
		finished     []experiment.RunResult
		missing      []experiment.StudyRun
		kind         string
		want         string // the run's name, or "" for an error
		wantDiverged []string
		wantErr      string
	}{
		{"the first", []experiment.RunResult{run(n, 0, diverged), run(c, 0, ok), run(c, 1, ok)}, nil, c, "corrupted-0000", nil, ""},
		{"after diverged ones, out of order", []experiment.RunResult{run(c, 2, ok), run(c, 1, diverged), run(c, 0, diverged), run(n, 0, ok)}, nil, c,
			"corrupted-0002", []string{"corrupted-0000", "corrupted-0001"}, ""},
		{"the other kind", []experiment.RunResult{run(c, 0, diverged), run(n, 0, ok)}, nil, n, "normal-0000", nil, ""},
		{"every one diverged", []experiment.RunResult{run(c, 0, diverged), run(c, 1, diverged), run(n, 0, ok)}, nil, c,
			"", []string{"corrupted-0000", "corrupted-0001"}, "every corrupted run diverged (2)"},
		{"one before it missing", []experiment.RunResult{run(c, 0, diverged), run(c, 2, ok)}, []experiment.StudyRun{{Kind: c, Index: 1}}, c,
			"", []string{"corrupted-0000"}, "corrupted-0001 is not trained yet"},
		{"one after it missing", []experiment.RunResult{run(c, 0, ok)}, []experiment.StudyRun{{Kind: c, Index: 1}}, c, "corrupted-0000", nil, ""},
	}
	for _, tc := range tests {
		study := &experiment.StudyResult{Dir: "study", Finished: tc.finished, Missing: tc.missing}
		point, index, diverged, err := firstFiniteRun(study, tc.kind)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.wantErr)
			}
		} else if err != nil || point != runPoint("study", tc.want) || !strings.HasSuffix(tc.want, fmt.Sprintf("%04d", index)) {
			t.Errorf("%s: %v (index %d), %v; want %s", tc.name, point, index, err, tc.want)
		}
		if !slices.Equal(diverged, tc.wantDiverged) {
			t.Errorf("%s: diverged before it %v, want %v", tc.name, diverged, tc.wantDiverged)
		}
	}
}

// TestProbeStartsAfterDiverged: where a study's first runs diverged, a pair's probes
// start from the next ones, and a reproduction resumed refuses, before any training,
// probes that started from the diverged ones.
func TestProbeStartsAfterDiverged(t *testing.T) {
	ds := separableDataset(60, 20)
	// At this rate (seed 2) the runs of index 0 diverge, those of index 1 do not.
	study := experiment.StudySettings{Run: experiment.Settings{Dataset: ds.Name, Model: "mlp", Epochs: 2, BatchSize: 16,
		ModelConfig: models.Config{Hidden: 16}, Optimizer: experiment.Optimizer{Name: experiment.SGD, LearningRate: 3e10}},
		Runs: 2, Seed: 2, Corruption: corrupt.Settings{Strategy: corrupt.WrongUniform}}
	out := t.TempDir()
	plan := &ScalePlan{Name: "test", Pairs: []string{"rows/mlp"}}
	studyDir, probesDir := pairDirs(out, "rows/mlp")
	studied, err := experiment.RunStudy(context.Background(), ds, study, studyDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range studied.Finished {
		if want := map[bool]string{true: experiment.StatusDiverged, false: experiment.StatusOK}[r.Index == 0]; r.Status != want {
			t.Fatalf("%s ended %q, want %q: the test needs the runs of index 0 to diverge and the others not", r.Name(), r.Status, want)
		}
	}
	starts, err := probeStarts(studied)
	if err != nil {
		t.Fatal(err)
	}
	if starts.normal != runPoint(studyDir, "normal-0001") || starts.corrupted != runPoint(studyDir, "corrupted-0001") || starts.corruptedIndex != 1 ||
		!slices.Equal(starts.diverged, []string{"normal-0000", "corrupted-0000"}) {
		t.Errorf("the probes start from %+v, want the runs of index 1 after those of index 0, which diverged", starts)
	}
	tests := []struct {
		probe, from string
		refused     bool
	}{
		{"sharpness", "corrupted-0001", false},
		{normalSharpnessDir, "normal-0001", false},
		{"restart", "corrupted-0000", true},
		{normalSharpnessDir, "normal-0000", true},
	}
	for _, tc := range tests {
		dir := filepath.Join(probesDir, tc.probe)
		writeProbe(t, dir, filepath.Join(studyDir, "runs", tc.from), nil)
		err := checkProbeStarts(plan, out)
		if refused := errors.Is(err, experiment.ErrStudyMismatch); refused != tc.refused || (refused && !strings.Contains(err.Error(), tc.from)) {
			t.Errorf("a finished %s probe from %s: %v, want refused %v", tc.probe, tc.from, err, tc.refused)
		}
		if tc.refused {
			os.RemoveAll(dir)
		}
	}
	// The point trains on from the run of index 1; one that diverges on the way (here at a
	// rate at which every run does) leaves the probes no point, and says so.
	pointDir := filepath.Join(t.TempDir(), PointDir)
	if point, err := trainPoint(context.Background(), ds, study, 1, 4, pointDir, nil); err != nil || point != runPoint(pointDir, "corrupted-0001") {
		t.Errorf("the point trained on from corrupted-0001: %v, %v", point, err)
	}
	hot := study
	hot.Run.Optimizer.LearningRate = 1e22
	_, err = trainPoint(context.Background(), ds, hot, 1, 4, filepath.Join(t.TempDir(), PointDir), nil)
	if err == nil || !strings.Contains(err.Error(), "corrupted-0001 diverged when trained on to 4 epochs, where its first 2 did not") {
		t.Errorf("a point that diverged: %v", err)
	}
	// With the point trained apart, the extreme point's probes start from that run
	// trained on: the sharpness probe from the study's run is refused.
	plan.PointEpochs = map[string]int{"mlp": 4}
	if err := checkProbeStarts(plan, out); !errors.Is(err, experiment.ErrStudyMismatch) ||
		!strings.Contains(err.Error(), filepath.Join(probesDir, PointDir, "runs", "corrupted-0001")) {
		t.Errorf("probes from the study's run, the point trained apart: %v, want refused, naming the point's run corrupted-0001", err)
	}
}
