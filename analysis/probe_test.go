package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/models"
)

// probeDataset is a small separable 3-class dataset of 4x4 gray images: class c lights
// up row c over a noise background.
func probeDataset(trainLen, testLen int) *datasets.Dataset {
	rng := rand.New(rand.NewPCG(3, 9))
	split := func(n int) *datasets.Split {
		s := &datasets.Split{Images: make([]uint8, n*16), Labels: make([]uint8, n), Height: 4, Width: 4, Channels: 1}
		for i := range n {
			c := rng.IntN(3)
			s.Labels[i] = uint8(c)
			img := s.Image(i)
			for p := range img {
				img[p] = uint8(rng.IntN(100))
			}
			for x := range 4 {
				img[c*4+x] += 150
			}
		}
		return s
	}
	return &datasets.Dataset{Name: "rows", Classes: []string{"a", "b", "c"}, Train: split(trainLen), Test: split(testLen)}
}

// trainProbeRun trains a tiny MLP run (normal, or on the corrupted set: an extreme
// point) into a new directory and returns it with its last metrics.
func trainProbeRun(t *testing.T, ds *datasets.Dataset, corrupted bool) (string, experiment.EpochMetrics) {
	t.Helper()
	set := corrupt.Clean(ds)
	if corrupted {
		var err error
		if set, err = corrupt.Build(ds, corrupt.Settings{Seed: 1}); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "run")
	s := experiment.Settings{ModelConfig: models.Config{Hidden: 64}, Epochs: 60, BatchSize: 16, Seed: 1,
		Optimizer: experiment.Optimizer{LearningRate: 0.01}}
	res, err := experiment.Train(context.Background(), nil, set, s, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return dir, res.Last()
}

func readProbeInfo(t *testing.T, dir string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, ProbeInfoFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"probe", "format", "settings", "toolkit_version", "dataset", "backend"} {
		if _, ok := m[key]; !ok {
			t.Errorf("%s lacks %q: %s", ProbeInfoFile, key, data)
		}
	}
	return m
}

// readLines decodes a JSON-lines file into maps, so that the test sees the file's field names.
func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, m)
	}
	return out
}

func hasFields(t *testing.T, name string, m map[string]any, fields ...string) {
	t.Helper()
	for _, f := range fields {
		if _, ok := m[f]; !ok {
			t.Errorf("%s: no field %q in %v", name, f, m)
		}
	}
}

func TestParsePoint(t *testing.T) {
	colonDir := filepath.Join(t.TempDir(), "y:z")
	if err := os.Mkdir(colonDir, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, run, weights string
		wantErr          bool
	}{
		{"runs/a", "runs/a", "", false},
		{"runs/a:final", "runs/a", "final", false},
		{"runs/a:init", "runs/a", "init", false},
		{colonDir, colonDir, "", false}, // an existing directory: ":z" is part of its name
		{"runs/a:middle", "", "", true}, // no such directory: unknown weights
		{":init", "", "", true},
		{"", "", "", true},
	}
	for _, tc := range tests {
		p, err := ParsePoint(tc.in)
		if (err != nil) != tc.wantErr || (!tc.wantErr && (p.Run != tc.run || p.Weights != tc.weights)) {
			t.Errorf("ParsePoint(%q) = %+v, %v; want {%s %s}, error %v", tc.in, p, err, tc.run, tc.weights, tc.wantErr)
		}
	}
	if s := (Point{Run: "r"}).String(); s != "r:final" {
		t.Errorf("String = %q", s)
	}
	if err := (Point{Run: "r", Weights: "best"}).validate(); err == nil || !strings.Contains(err.Error(), "valid: init, final") {
		t.Errorf("invalid weights: %v", err)
	}
}

// TestProbeInputErrors checks that bad run directories and output directories give
// errors naming the file, before any work is done.
func TestProbeInputErrors(t *testing.T) {
	ds := probeDataset(30, 15)
	run, _ := trainProbeRun(t, ds, false)
	tmp := t.TempDir()
	write := func(name, content string) string {
		dir := filepath.Join(tmp, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if content != "" {
			if err := os.WriteFile(filepath.Join(dir, experiment.ConfigFile), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	// withFile puts an empty file named name in dir, and returns dir.
	withFile := func(dir, name string) string {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	noWeights := write("noweights", mustRead(t, filepath.Join(run, experiment.ConfigFile)))
	badWeights := write("badweights", mustRead(t, filepath.Join(run, experiment.ConfigFile)))
	if err := os.WriteFile(filepath.Join(badWeights, experiment.FinalWeightsFile), []byte("garbage!"), 0o644); err != nil {
		t.Fatal(err)
	}
	notEmpty := filepath.Join(tmp, "out")
	if err := os.MkdirAll(notEmpty, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(notEmpty, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		point   Point
		out     string
		wantErr string
	}{
		{"missing dir", Point{Run: filepath.Join(tmp, "nope")}, "", "nope does not exist"},
		{"a file", Point{Run: filepath.Join(withFile(write("holder", ""), "file"), "file")}, "", "is a file, not a run directory"},
		{"a study", Point{Run: withFile(write("study", ""), experiment.StudyFile)}, "", "it is a study directory: give one of its runs"},
		{"a reproduction", Point{Run: withFile(write("reproduction", ""), StudiesDir)}, "", "it is a reproduction's directory: its runs are in"},
		{"a probe's output", Point{Run: withFile(write("probe", ""), ProbeInfoFile)}, "", "it is a probe's output"},
		{"no config", Point{Run: write("empty", "")}, "", "config.json is missing"},
		{"corrupt config", Point{Run: write("corrupt", "{not json")}, "", "config.json: not an esp run configuration"},
		{"other format", Point{Run: write("other", `{"model": "resnet", "version": 3}`)}, "", "not an esp run configuration of this toolkit's format (no settings.model"},
		{"a later toolkit's run", Point{Run: write("later", `{"format": "esp-run/9", "settings": {"model": "mlp"}}`)}, "", `has format "esp-run/9", this toolkit reads "esp-run/1"`},
		{"no weights", Point{Run: noWeights}, "", "final.safetensors"},
		{"bad weights", Point{Run: badWeights}, "", "final.safetensors"},
		{"output not empty", Point{Run: run}, notEmpty, "not empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Restart(context.Background(), nil, tc.point, ds, RestartSettings{Epochs: 1}, tc.out, nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(notEmpty, ProbeInfoFile)); err == nil {
		t.Error("wrote into a non-empty output directory")
	}
	_, err := Restart(context.Background(), nil, Point{Run: run}, ds, RestartSettings{}, notEmpty, nil)
	if !errors.Is(err, ErrOutputNotEmpty) {
		t.Errorf("non-empty output: %v, want ErrOutputNotEmpty", err)
	}
	other := probeDataset(10, 10)
	other.Train.Height, other.Train.Width = 2, 8
	if _, err := Restart(context.Background(), nil, Point{Run: run}, other, RestartSettings{}, "", nil); err == nil || !strings.Contains(err.Error(), "the model takes 4x4x1") {
		t.Errorf("mismatched images: %v", err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestProbeSettingsValidate checks that bad settings are refused with the valid choices named.
func TestProbeSettingsValidate(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		wantErr string
	}{
		{"restart optimizer", RestartSettings{Optimizer: experiment.Optimizer{Name: "lbfgs"}}.Validate(), `unknown optimizer "lbfgs"`},
		{"restart epochs", RestartSettings{Epochs: -1}.Validate(), "positive"},
		{"fullbatch method", FullBatchSettings{Method: "newton"}.Validate(), "valid: adam, gd, both"},
		{"fullbatch lr", FullBatchSettings{GDLearningRate: math.Inf(1)}.Validate(), "invalid learning rate"},
		{"interpolate range", InterpolateSettings{Range: [2]float64{1, 0}}.Validate(), "invalid interpolate α range"},
		{"interpolate points", InterpolateSettings{Points: 1}.Validate(), "at least 2"},
		{"surface grid", SurfaceSettings{Grid: 1}.Validate(), "at least 2"},
		{"surface grid too large", SurfaceSettings{Grid: MaxSurfaceGrid + 1}.Validate(), "at most 1000 per axis"},
		{"surface points too many", SurfaceSettings{Points: MaxProbePoints + 1}.Validate(), "at most 100000"},
		{"interpolate points too many", InterpolateSettings{Points: MaxProbePoints + 1}.Validate(), "at most 100000"},
		{"fullbatch steps too many", FullBatchSettings{Steps: MaxProbeSteps + 1}.Validate(), "at most 1000000 per method"},
		{"fullbatch sharpness-every", FullBatchSettings{SharpnessEvery: -1}.Validate(), "sharpness-every"},
		{"fullbatch adaptive step unmeasured", FullBatchSettings{Method: MethodGD, GDAdaptiveLearningRate: true}.Validate(), "give --sharpness-every N (SharpnessEvery) too"},
		{"sharpness iterations too many", SharpnessSettings{Solver: SolverPower, Iterations: MaxProbeSteps + 1}.Validate(), "iterations: at most"},
		{"sharpness Lanczos steps too many", SharpnessSettings{Iterations: MaxLanczosSteps + 1}.Validate(), "at most 500 Lanczos steps"},
		{"sharpness solver", SharpnessSettings{Solver: "arnoldi"}.Validate(), `unknown solver "arnoldi": valid are lanczos, power`},
		{"sharpness top by power iteration", SharpnessSettings{Solver: SolverPower, Top: 2}.Validate(), "only the lanczos solver finds more than the largest eigenvalue"},
		{"sharpness top beyond its steps", SharpnessSettings{Top: 9, Iterations: 8}.Validate(), "top 9 in 8 iterations"},
		{"sharpness samples too many", SharpnessSettings{TraceSamples: MaxProbeSteps + 1}.Validate(), "trace samples: at most"},
		{"restart epochs too many", RestartSettings{Epochs: experiment.MaxEpochs + 1}.Validate(), "epochs: at most"},
		{"bounds themselves fine", errors.Join(SurfaceSettings{Grid: MaxSurfaceGrid, Points: MaxProbePoints}.Validate(),
			InterpolateSettings{Points: MaxProbePoints}.Validate(), FullBatchSettings{Steps: MaxProbeSteps}.Validate(),
			SharpnessSettings{Solver: SolverPower, Iterations: MaxProbeSteps, TraceSamples: MaxProbeSteps}.Validate(),
			SharpnessSettings{Iterations: MaxLanczosSteps}.Validate(),
			RestartSettings{Epochs: experiment.MaxEpochs}.Validate()), ""},
		{"sharpness epsilon", SharpnessSettings{Epsilon: -1}.Validate(), "epsilon"},
		{"defaults fine", errors.Join(RestartSettings{}.Validate(), FullBatchSettings{}.Validate(), InterpolateSettings{}.Validate(),
			SurfaceSettings{}.Validate(), SharpnessSettings{}.Validate()), ""},
	}
	for _, tc := range tests {
		if tc.wantErr == "" {
			if tc.err != nil {
				t.Errorf("%s: %v", tc.name, tc.err)
			}
			continue
		}
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want %q", tc.name, tc.err, tc.wantErr)
		}
	}
}

// TestRestart restarts minibatch Adam on clean data from an extreme point of a separable
// problem: epoch 0 is the point itself (its run's final metrics, distance 0 from the
// start), the weights move away, and the test accuracy rises (C5 at toy scale).
func TestRestart(t *testing.T) {
	ds := probeDataset(60, 30)
	run, last := trainProbeRun(t, ds, true)
	if last.TestAcc > 0.2 {
		t.Fatalf("the corrupted run has test accuracy %v: not an extreme point, the test proves nothing", last.TestAcc)
	}
	out := filepath.Join(t.TempDir(), "restart")
	s := RestartSettings{Epochs: 10, BatchSize: 16, Optimizer: experiment.Optimizer{LearningRate: 0.01}}
	lines, err := Restart(context.Background(), nil, Point{Run: run}, ds, s, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	info := readProbeInfo(t, out)
	if info["probe"] != "restart" || info["run"] != absDir(run) || info["weights"] != "final" || info["finished"] == nil {
		t.Errorf("probe.json: %v", info)
	}
	checkUnfinishedLeftOut(t, filepath.Dir(out), out)
	file := readLines(t, filepath.Join(out, RestartFile))
	if len(file) != 11 || len(lines) != 11 {
		t.Fatalf("%d lines in the file, %d returned; want 11 (epochs 0..10)", len(file), len(lines))
	}
	for _, l := range file {
		hasFields(t, RestartFile, l, "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "dist_from_start", "dist_from_init")
	}
	first, end := lines[0], lines[10]
	// Tolerances: the same weights evaluated the same way give the same numbers up to
	// float32 reduction order (1e-6); accuracies are exact counts.
	if first.DistFromStart != 0 || math.Abs(float64(first.DistFromInit-last.DistFromInit)) > 1e-4 ||
		first.TestAcc != last.TestAcc || math.Abs(float64(first.TrainLoss-last.TrainLoss)) > 1e-5 {
		t.Errorf("epoch 0 %+v does not match the run's final metrics %+v", first, last)
	}
	if end.DistFromStart <= 0 || end.Epoch != 10 || end.FitLoss == nil {
		t.Errorf("last epoch %+v: the weights did not move", end)
	}
	if end.TestAcc < first.TestAcc+0.3 {
		t.Errorf("test accuracy %v -> %v: the restart did not escape the extreme point", first.TestAcc, end.TestAcc)
	}
}

// TestProbeLinksMovedTree: a run and its probes moved together to a folder of another
// depth (no three trailing folders in common with the recorded paths) are still linked,
// by the paths probe.json records relative to the probe; without them they are not.
func TestProbeLinksMovedTree(t *testing.T) {
	ds := probeDataset(30, 15)
	root := t.TempDir()
	old := filepath.Join(root, "experiments")
	run := filepath.Join(old, "extreme")
	s := experiment.Settings{ModelConfig: models.Config{Hidden: 8}, Epochs: 1, BatchSize: 16, Seed: 1}
	if _, err := experiment.Train(context.Background(), nil, corrupt.Clean(ds), s, run, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := Restart(ctx, nil, Point{Run: run}, ds, RestartSettings{Epochs: 1, BatchSize: 16}, filepath.Join(old, "probes", "restart"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Interpolate(ctx, nil, Point{Run: run, Weights: "init"}, Point{Run: run}, ds, InterpolateSettings{Points: 3}, filepath.Join(old, "probes", "interp"), nil); err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(root, "archive", "2026", "experiments-moved")
	if err := os.MkdirAll(filepath.Dir(moved), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(old, moved); err != nil {
		t.Fatal(err)
	}
	sources := func() map[string]string {
		in, err := LoadInputs(moved)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, p := range in.Probes {
			got[p.Kind] = ""
			if p.Source != nil {
				got[p.Kind] = p.Source.Dir
			}
		}
		return got
	}
	want := filepath.Join(moved, "extreme")
	if got := sources(); got["restart"] != want || got["interpolate"] != want {
		t.Errorf("probes of the moved tree link to %v, want both to %s", got, want)
	}
	for _, probe := range []string{"restart", "interp"} {
		path := filepath.Join(moved, "probes", probe, ProbeInfoFile)
		info := readProbeInfo(t, filepath.Dir(path))
		delete(info, "run_relative")
		delete(info, "from_relative")
		delete(info, "to_relative")
		data, err := json.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := sources(); got["restart"] != "" || got["interpolate"] != "" {
		t.Errorf("without the relative paths the probes link to %v: the test shows nothing", got)
	}
}

// TestProbeRunTrainedAgain: a run trained again in its directory after it was probed is
// not taken for the probe's source (the weights' checksums differ), and the report says
// which run changed; a probe.json without checksums (an older probe) still links by path.
func TestProbeRunTrainedAgain(t *testing.T) {
	ds := probeDataset(30, 15)
	root := t.TempDir()
	run := filepath.Join(root, "run")
	train := func(seed uint64) {
		s := experiment.Settings{ModelConfig: models.Config{Hidden: 8}, Epochs: 1, BatchSize: 16, Seed: seed}
		if _, err := experiment.Train(context.Background(), nil, corrupt.Clean(ds), s, run, nil); err != nil {
			t.Fatal(err)
		}
	}
	train(1)
	ctx := context.Background()
	restart, interp := filepath.Join(root, "restart"), filepath.Join(root, "interp")
	if _, err := Restart(ctx, nil, Point{Run: run, Weights: "init"}, ds, RestartSettings{Epochs: 1, BatchSize: 16}, restart, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Interpolate(ctx, nil, Point{Run: run}, Point{Run: run, Weights: "init"}, ds, InterpolateSettings{Points: 3}, interp, nil); err != nil {
		t.Fatal(err)
	}
	sources := func() (linked, changed map[string]string) {
		in, err := LoadInputs(root)
		if err != nil {
			t.Fatal(err)
		}
		linked, changed = map[string]string{}, map[string]string{}
		for _, p := range in.Probes {
			if p.Source != nil {
				linked[p.Kind] = p.Source.Dir
			}
			changed[p.Kind] = p.SourceChanged
		}
		return linked, changed
	}
	if linked, _ := sources(); linked["restart"] != run || linked["interpolate"] != run {
		t.Fatalf("probes link to %v, want both to %s", linked, run)
	}
	if err := os.RemoveAll(run); err != nil {
		t.Fatal(err)
	}
	train(2)
	if linked, changed := sources(); len(linked) != 0 || changed["restart"] != run || changed["interpolate"] != run {
		t.Errorf("after the run was trained again: probes link to %v, changed %v; want none linked, %s changed for both", linked, changed, run)
	}
	for _, dir := range []string{restart, interp} {
		info := readProbeInfo(t, dir)
		for _, field := range []string{"run_sha256", "from_sha256", "to_sha256"} {
			delete(info, field)
		}
		data, err := json.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ProbeInfoFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if linked, _ := sources(); linked["restart"] != run || linked["interpolate"] != run {
		t.Errorf("probes without checksums link to %v, want both to %s by path", linked, run)
	}
}

// checkUnfinishedLeftOut checks that LoadInputs reads the finished probe in dir, and
// leaves it out, listed as unfinished, once probe.json no longer says it finished (as
// after an interrupted probe).
func checkUnfinishedLeftOut(t *testing.T, root, dir string) {
	t.Helper()
	in, err := LoadInputs(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Probes) != 1 || len(in.Unfinished) != 0 {
		t.Fatalf("finished probe: %d probes, unfinished %v", len(in.Probes), in.Unfinished)
	}
	info := readProbeInfo(t, dir)
	delete(info, "finished")
	data, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ProbeInfoFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if in, err = LoadInputs(root); err != nil {
		t.Fatal(err)
	}
	if len(in.Probes) != 0 || len(in.Unfinished) != 1 || in.Unfinished[0] != dir {
		t.Errorf("unfinished probe: %d probes, unfinished %v", len(in.Probes), in.Unfinished)
	}
	if finishedProbe(dir) != nil {
		t.Error("finishedProbe says an unfinished probe finished")
	}
}

// TestHostAdam checks the first Adam step against its closed form: with zero moments,
// bias correction makes m̂ = g and v̂ = g², so every weight moves by lr·g/(|g|+eps).
func TestHostAdam(t *testing.T) {
	w := &experiment.Weights{Tensors: []experiment.Tensor{
		{Name: "a", Shape: []int{3}, Data: []float32{1, 2, 3}, Trainable: true},
		{Name: "s", Shape: []int{1}, Data: []float32{5}},
	}}
	g := &experiment.Weights{Tensors: []experiment.Tensor{
		{Name: "a", Shape: []int{3}, Data: []float32{0.5, -2, 0}, Trainable: true},
		{Name: "s", Shape: []int{1}, Data: []float32{0}},
	}}
	a := newHostAdam(w, 0.1)
	if err := a.step(w, g); err != nil {
		t.Fatal(err)
	}
	want := []float64{0.9, 2.1, 3}
	for i, v := range w.Tensors[0].Data {
		if math.Abs(float64(v)-want[i]) > 1e-6 {
			t.Errorf("after one step: %v, want %v", w.Tensors[0].Data, want)
		}
	}
	if w.Tensors[1].Data[0] != 5 {
		t.Error("Adam changed a non-trainable tensor")
	}
}

// TestFullBatch runs both methods from a run's initialization: plain GD on the clean
// loss of a separable problem lowers the loss and the gradient norm; both methods start
// from the same point; accuracies are measured at step 0, every EvalEvery steps and
// at the last step, null in between.
func TestFullBatch(t *testing.T) {
	ds := probeDataset(60, 30)
	run, _ := trainProbeRun(t, ds, false)
	out := filepath.Join(t.TempDir(), "fullbatch")
	s := FullBatchSettings{Method: MethodBoth, Steps: 200, GDLearningRate: 0.5, AdamLearningRate: 0.01, EvalEvery: 50}
	lines, err := FullBatch(context.Background(), nil, Point{Run: run, Weights: "init"}, ds, s, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	info := readProbeInfo(t, out)
	if info["probe"] != "fullbatch" || info["weights"] != "init" {
		t.Errorf("probe.json: %v", info)
	}
	file := readLines(t, filepath.Join(out, FullBatchFile))
	if len(file) != 2*201 || len(lines) != 2*201 {
		t.Fatalf("%d lines, want 402 (2 methods x steps 0..200)", len(file))
	}
	byMethod := map[string][]FullBatchStep{}
	for i, l := range file {
		hasFields(t, FullBatchFile, l, "method", "step", "loss", "train_acc", "test_acc", "grad_norm")
		step := int(l["step"].(float64))
		measured := step == 0 || step%50 == 0 || step == 200
		if (l["test_acc"] != nil) != measured || (l["train_acc"] != nil) != measured {
			t.Errorf("line %d (step %d): train_acc %v, test_acc %v; measured should be %v", i, step, l["train_acc"], l["test_acc"], measured)
		}
		byMethod[lines[i].Method] = append(byMethod[lines[i].Method], lines[i])
	}
	gd, adam := byMethod[MethodGD], byMethod[MethodAdam]
	if len(gd) != 201 || len(adam) != 201 || gd[0].Loss != adam[0].Loss || gd[0].GradNorm != adam[0].GradNorm {
		t.Fatalf("methods do not start from the same point: %+v %+v", gd[0], adam[0])
	}
	g0, g1 := gd[0], gd[200]
	if !(g1.Loss < 0.5*g0.Loss) || !(g1.GradNorm < g0.GradNorm) || !(g1.TrainAcc >= 0.9) {
		t.Errorf("GD: loss %v -> %v, grad norm %v -> %v, train acc %v -> %v", g0.Loss, g1.Loss, g0.GradNorm, g1.GradNorm, g0.TrainAcc, g1.TrainAcc)
	}
	for i := 1; i < len(gd); i++ {
		if gd[i].Loss > gd[i-1].Loss+1e-6 {
			t.Errorf("GD loss rose at step %d: %v -> %v", i, gd[i-1].Loss, gd[i].Loss)
			break
		}
	}
	if a1 := adam[200]; !(a1.Loss < adam[0].Loss) || a1.DistFromStart <= 0 {
		t.Errorf("Adam: loss %v -> %v, moved %v", adam[0].Loss, a1.Loss, a1.DistFromStart)
	}
}

// TestFullBatchAutoStep takes GD's step from the curvature at an extreme point: the λ_max
// of its Lanczos steps agrees with a long power iteration's (the Hessian eigenvalue of
// largest magnitude, positive at this point) within 0.1%; the step is 1/λ_max, in
// probe.json and on every line; GD with it lowers the loss at every step.
func TestFullBatchAutoStep(t *testing.T) {
	ds := probeDataset(60, 30)
	run, _ := trainProbeRun(t, ds, true)
	point := Point{Run: run}
	out := filepath.Join(t.TempDir(), "fullbatch")
	lines, err := FullBatch(context.Background(), nil, point, ds, FullBatchSettings{Method: MethodGD, Steps: 20, GDAutoLearningRate: true}, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	settings := readProbeInfo(t, out)["settings"].(map[string]any)
	lambda, _ := settings["gd_top_eigenvalue"].(float64)
	rate, _ := settings["gd_learning_rate"].(float64)
	if settings["gd_auto_learning_rate"] != true || lambda <= 0 || math.Abs(rate*lambda-1) > 1e-9 {
		t.Fatalf("probe.json settings: %v", settings)
	}
	if from, _ := settings["gd_learning_rate_from"].(string); !strings.Contains(from, "converged") || strings.Contains(from, "NOT") {
		t.Errorf("gd_learning_rate_from: %q", from)
	}
	power, err := Sharpness(context.Background(), nil, point, ds, SharpnessSettings{Solver: SolverPower, Iterations: 500, Tolerance: 1e-7, TraceSamples: 1}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if top := float64(power.TopEigenvalue); !power.Converged || math.Abs(lambda-top) > 1e-3*top {
		t.Errorf("λ_max: Lanczos %v, power iteration %v (converged %v after %d)", lambda, top, power.Converged, power.Iterations)
	}
	for i, l := range lines {
		if l.LearningRate != rate {
			t.Fatalf("line %d: lr %v, want %v", i, l.LearningRate, rate)
		}
		if i > 0 && !(l.Loss < lines[i-1].Loss) {
			t.Errorf("GD at 1/λ_max: the loss rose at step %d: %v -> %v", i, lines[i-1].Loss, l.Loss)
		}
	}
}

// TestFullBatchSharpnessEvery measures λ_max along both descents: at step 0, every
// SharpnessEvery steps and at the last; absent elsewhere. At the start it is the sharpness
// probe's λ_max (same solver, seed and examples), measured once for both methods and GD's step.
func TestFullBatchSharpnessEvery(t *testing.T) {
	ds := probeDataset(60, 30)
	run, _ := trainProbeRun(t, ds, true)
	point := Point{Run: run}
	out := filepath.Join(t.TempDir(), "fullbatch")
	lines, err := FullBatch(context.Background(), nil, point, ds,
		FullBatchSettings{Method: MethodBoth, Steps: 5, SharpnessEvery: 2, GDAutoLearningRate: true}, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	sharpness, err := Sharpness(context.Background(), nil, point, ds, SharpnessSettings{TraceSamples: 1}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := float64(sharpness.TopEigenvalue)
	settings := readProbeInfo(t, out)["settings"].(map[string]any)
	if settings["sharpness_every"] != 2.0 || settings["gd_top_eigenvalue"] != start {
		t.Errorf("probe.json settings %v: want sharpness_every 2 and GD's λ_max %v", settings, start)
	}
	if len(lines) != 12 {
		t.Fatalf("%d lines, want 12 (2 methods x steps 0..5)", len(lines))
	}
	for _, l := range lines {
		measured := l.Step%2 == 0 || l.Step == 5
		switch {
		case measured != (l.TopEigenvalue != 0):
			t.Errorf("%s step %d: λ_max %v, measured should be %v", l.Method, l.Step, l.TopEigenvalue, measured)
		case l.Step == 0 && float64(l.TopEigenvalue) != start:
			t.Errorf("%s step 0: λ_max %v, the sharpness probe's %v", l.Method, l.TopEigenvalue, start)
		case measured && !(l.TopEigenvalue > 0):
			t.Errorf("%s step %d: λ_max %v", l.Method, l.Step, l.TopEigenvalue)
		}
	}
	data := mustRead(t, filepath.Join(out, FullBatchFile))
	if n := strings.Count(data, `"top_eigenvalue":`); n != 8 {
		t.Errorf("fullbatch.jsonl names top_eigenvalue on %d lines, want 8:\n%s", n, data)
	}
}

// TestFullBatchAdaptiveStep lets GD's step follow the curvature: 1/λ_max at the point,
// then 1/λ_max wherever λ_max is measured along the way (not at the last step, which
// takes no step). Until the first new measurement the descent is the fixed automatic
// step's; the step after it is the new one.
func TestFullBatchAdaptiveStep(t *testing.T) {
	ds := probeDataset(60, 30)
	run, _ := trainProbeRun(t, ds, true)
	point := Point{Run: run}
	descend := func(s FullBatchSettings) ([]FullBatchStep, map[string]any) {
		out := filepath.Join(t.TempDir(), "fullbatch")
		lines, err := FullBatch(context.Background(), nil, point, ds, s, out, nil)
		if err != nil {
			t.Fatal(err)
		}
		return lines, readProbeInfo(t, out)["settings"].(map[string]any)
	}
	fixed, _ := descend(FullBatchSettings{Method: MethodGD, Steps: 6, GDAutoLearningRate: true})
	adaptive, settings := descend(FullBatchSettings{Method: MethodGD, Steps: 6, SharpnessEvery: 3, GDAdaptiveLearningRate: true})
	if settings["gd_adaptive_learning_rate"] != true || settings["gd_auto_learning_rate"] != true ||
		!strings.HasSuffix(settings["gd_learning_rate_from"].(string), "; then 1/λ_max again every 3 steps along the descent") {
		t.Errorf("probe.json settings: %v", settings)
	}
	if len(adaptive) != 7 || len(fixed) != 7 {
		t.Fatalf("%d and %d lines, want 7 (steps 0..6)", len(adaptive), len(fixed))
	}
	first, again := float64(adaptive[0].TopEigenvalue), float64(adaptive[3].TopEigenvalue)
	if first <= 0 || again <= 0 || math.Abs(again-first) < 1e-6*first {
		t.Fatalf("λ_max %v at the point and %v at step 3: the test needs them apart", first, again)
	}
	for _, l := range adaptive {
		want := 1 / first
		if l.Step >= 3 {
			want = 1 / again
		}
		if math.Abs(l.LearningRate-want) > 1e-12*want {
			t.Errorf("step %d: lr %v, want %v", l.Step, l.LearningRate, want)
		}
		if sameAsFixed := l.Loss == fixed[l.Step].Loss; sameAsFixed != (l.Step <= 3) {
			t.Errorf("step %d: loss %v, the fixed step's %v: the same should be %v", l.Step, l.Loss, fixed[l.Step].Loss, l.Step <= 3)
		}
	}
}

// TestInterpolate interpolates between a normal and an extreme final point: α = 0 and
// α = 1 reproduce the two runs' final accuracies exactly (the same weights) and their
// losses up to float32 reduction order.
func TestInterpolate(t *testing.T) {
	ds := probeDataset(60, 30)
	normal, lastA := trainProbeRun(t, ds, false)
	extreme, lastB := trainProbeRun(t, ds, true)
	out := filepath.Join(t.TempDir(), "interp")
	lines, err := Interpolate(context.Background(), nil, Point{Run: normal}, Point{Run: extreme}, ds, InterpolateSettings{Points: 5}, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	info := readProbeInfo(t, out)
	if info["from"] != absDir(normal)+":final" || info["to"] != absDir(extreme)+":final" {
		t.Errorf("probe.json from/to: %v %v", info["from"], info["to"])
	}
	file := readLines(t, filepath.Join(out, InterpolateFile))
	wantAlphas := []float64{-0.5, 0, 0.5, 1, 1.5}
	if len(file) != len(wantAlphas) {
		t.Fatalf("%d lines, want %d", len(file), len(wantAlphas))
	}
	for i, l := range file {
		hasFields(t, InterpolateFile, l, "alpha", "train_loss", "train_acc", "test_loss", "test_acc")
		if l["alpha"] != wantAlphas[i] {
			t.Errorf("alpha %v, want %v", l["alpha"], wantAlphas[i])
		}
	}
	for _, c := range []struct {
		at   InterpolationPoint
		want experiment.EpochMetrics
	}{{lines[1], lastA}, {lines[3], lastB}} {
		if c.at.TrainAcc != c.want.TrainAcc || c.at.TestAcc != c.want.TestAcc || math.Abs(float64(c.at.TestLoss-c.want.TestLoss)) > 1e-5 {
			t.Errorf("α=%v: %+v, want the run's final %+v", c.at.Alpha, c.at.PointEval, c.want)
		}
	}
	if lastA.TestAcc < lastB.TestAcc+0.5 {
		t.Errorf("the normal run (%v) should generalize far better than the extreme one (%v)", lastA.TestAcc, lastB.TestAcc)
	}
	// init ↔ final of one run: mismatched models are refused.
	other := filepath.Join(t.TempDir(), "other")
	s := experiment.Settings{ModelConfig: models.Config{Hidden: 8}, Epochs: 1}
	if _, err := experiment.Train(context.Background(), nil, corrupt.Clean(ds), s, other, nil); err != nil {
		t.Fatal(err)
	}
	_, err = Interpolate(context.Background(), nil, Point{Run: normal}, Point{Run: other}, ds, InterpolateSettings{}, "", nil)
	if !errors.Is(err, ErrIncompatiblePoints) || !strings.Contains(err.Error(), "model configurations") {
		t.Errorf("interpolating between different architectures: %v, want %v naming the configurations", err, ErrIncompatiblePoints)
	}
}

// TestLerp checks the ends, the midpoint, and the clamping of extrapolated batch-norm
// running variances at 0.
func TestLerp(t *testing.T) {
	a := &experiment.Weights{Tensors: []experiment.Tensor{
		{Name: "w", Shape: []int{2}, Data: []float32{0, 1}, Trainable: true},
		{Name: "bn/running_var", Shape: []int{1}, Data: []float32{1}},
	}}
	b := &experiment.Weights{Tensors: []experiment.Tensor{
		{Name: "w", Shape: []int{2}, Data: []float32{2, 3}, Trainable: true},
		{Name: "bn/running_var", Shape: []int{1}, Data: []float32{4}},
	}}
	for _, c := range []struct {
		alpha  float64
		w      []float32
		runVar float32
	}{{0, []float32{0, 1}, 1}, {1, []float32{2, 3}, 4}, {0.5, []float32{1, 2}, 2.5}, {-0.5, []float32{-1, 0}, 0}} {
		got, err := Lerp(a, b, c.alpha)
		if err != nil {
			t.Fatal(err)
		}
		if d := got.Tensors[0].Data; d[0] != c.w[0] || d[1] != c.w[1] || got.Tensors[1].Data[0] != c.runVar {
			t.Errorf("α=%v: %v %v, want %v %v", c.alpha, d, got.Tensors[1].Data, c.w, c.runVar)
		}
	}
}

// TestFilterNormalizedDirection checks Li et al.'s normalization: each filter (first-axis
// slice) of the direction has the norm of the weights' filter (relative tolerance 1e-5,
// float32), 1-D and non-trainable tensors get zeros, and the seed fixes the direction.
func TestFilterNormalizedDirection(t *testing.T) {
	w := &experiment.Weights{Tensors: []experiment.Tensor{
		{Name: "conv/weights", Shape: []int{2, 1, 1, 3}, Data: []float32{1, 2, 2, 0, 0, 5}, Trainable: true},
		{Name: "conv/biases", Shape: []int{2}, Data: []float32{1, 1}, Trainable: true},
		{Name: "dense/weights", Shape: []int{2, 2}, Data: []float32{3, 4, 0, 0}, Trainable: true},
		{Name: "bn/running_mean", Shape: []int{2, 2}, Data: []float32{1, 1, 1, 1}},
	}}
	d := FilterNormalizedDirection(w, rand.New(rand.NewPCG(1, 2)))
	norm := func(v []float32) float64 {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		return math.Sqrt(s)
	}
	for _, c := range []struct {
		tensor, size int
		want         []float64
	}{{0, 3, []float64{3, 5}}, {2, 2, []float64{5, 0}}} {
		data := d.Tensors[c.tensor].Data
		for f, want := range c.want {
			if got := norm(data[f*c.size : (f+1)*c.size]); math.Abs(got-want) > 1e-5*want {
				t.Errorf("%s filter %d: norm %v, want %v", d.Tensors[c.tensor].Name, f, got, want)
			}
		}
	}
	if norm(d.Tensors[1].Data) != 0 || norm(d.Tensors[3].Data) != 0 {
		t.Errorf("biases and running statistics should have a zero direction: %v %v", d.Tensors[1].Data, d.Tensors[3].Data)
	}
	again := FilterNormalizedDirection(w, rand.New(rand.NewPCG(1, 2)))
	if l2, _, _ := experiment.Distance(d, again); l2 != 0 {
		t.Error("the same seed gave different directions")
	}
}

// TestSurface checks the file contract and that the centre of both slices is the point
// itself: its loss and accuracies equal the run's final metrics.
func TestSurface(t *testing.T) {
	ds := probeDataset(60, 30)
	run, last := trainProbeRun(t, ds, false)
	out := filepath.Join(t.TempDir(), "surface")
	res, err := Surface(context.Background(), nil, Point{Run: run}, ds, SurfaceSettings{Points: 5, Grid: 5, Seed: 4}, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	readProbeInfo(t, out)
	file := readLines(t, filepath.Join(out, Surface1DFile))
	if len(file) != 5 {
		t.Fatalf("%d lines in %s, want 5", len(file), Surface1DFile)
	}
	for _, l := range file {
		hasFields(t, Surface1DFile, l, "alpha", "train_loss", "train_acc", "test_loss", "test_acc")
	}
	var grid map[string]any
	if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(out, Surface2DFile))), &grid); err != nil {
		t.Fatal(err)
	}
	hasFields(t, Surface2DFile, grid, "alphas", "betas", "train_loss", "test_loss", "train_acc", "test_acc")
	if rows := grid["train_loss"].([]any); len(rows) != 5 || len(rows[0].([]any)) != 5 {
		t.Errorf("train_loss is not 5x5: %v", rows)
	}
	centre := []PointEval{res.Line[2].PointEval, {TrainLoss: res.Grid.TrainLoss[2][2], TrainAcc: res.Grid.TrainAcc[2][2],
		TestLoss: res.Grid.TestLoss[2][2], TestAcc: res.Grid.TestAcc[2][2]}}
	for _, c := range centre {
		if c.TrainAcc != last.TrainAcc || c.TestAcc != last.TestAcc || math.Abs(float64(c.TrainLoss-last.TrainLoss)) > 1e-5 {
			t.Errorf("centre %+v, want the point's %+v", c, last)
		}
	}
	if res.Line[0].TrainLoss <= res.Line[2].TrainLoss || res.Line[4].TrainLoss <= res.Line[2].TrainLoss {
		t.Errorf("a trained point should be a local minimum of the training loss along the slice: %+v", res.Line)
	}
}

// TestSurfaceHessianDirections slices along the top two Hessian eigenvectors: the largest
// eigenvalue is the sharpness probe's λ_max, and the loss curves along each direction as
// its eigenvalue says (second differences over ±0.01 within 2%).
func TestSurfaceHessianDirections(t *testing.T) {
	ds := probeDataset(60, 30)
	run, _ := trainProbeRun(t, ds, true)
	point := Point{Run: run}
	out := filepath.Join(t.TempDir(), "surface")
	const h = 0.01
	res, err := Surface(context.Background(), nil, point, ds, SurfaceSettings{Directions: DirectionsHessian, Points: 3, Grid: 3, Range: [2]float64{-h, h}}, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	settings := readProbeInfo(t, out)["settings"].(map[string]any)
	eigenvalues, _ := settings["direction_eigenvalues"].([]any)
	if settings["directions"] != DirectionsHessian || len(eigenvalues) != 2 || !strings.Contains(settings["directions_from"].(string), "(converged)") {
		t.Fatalf("probe.json settings: %v", settings)
	}
	top, second := eigenvalues[0].(float64), eigenvalues[1].(float64)
	if got := res.Settings.DirectionEigenvalues; len(got) != 2 || float64(got[0]) != top || float64(got[1]) != second {
		t.Errorf("the result's settings name eigenvalues %v, probe.json %v", got, eigenvalues)
	}
	sharpness, err := Sharpness(context.Background(), nil, point, ds, SharpnessSettings{TraceSamples: 1}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if lambda := float64(sharpness.TopEigenvalue); math.Abs(top-lambda) > 1e-3*lambda || !(second < top) || second <= 0 {
		t.Errorf("eigenvalues of the directions %v, %v; the sharpness probe's λ_max %v", top, second, lambda)
	}
	curvature := func(minus, centre, plus experiment.Float) float64 {
		return float64(minus-2*centre+plus) / (h * h)
	}
	along := curvature(res.Line[0].TrainLoss, res.Line[1].TrainLoss, res.Line[2].TrainLoss)
	across := curvature(res.Grid.TrainLoss[1][0], res.Grid.TrainLoss[1][1], res.Grid.TrainLoss[1][2])
	if math.Abs(along-top) > 0.02*top || math.Abs(across-second) > 0.02*second {
		t.Errorf("second differences of the loss: %v along the first direction (eigenvalue %v), %v along the second (%v)", along, top, across, second)
	}
}

// TestSharpnessTop finds the 3 largest Hessian eigenvalues: largest first, the first the
// single λ_max's, the second that of the surface's second Hessian direction.
func TestSharpnessTop(t *testing.T) {
	ds := probeDataset(60, 30)
	run, _ := trainProbeRun(t, ds, true)
	point := Point{Run: run}
	one, err := Sharpness(context.Background(), nil, point, ds, SharpnessSettings{TraceSamples: 1}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	three, err := Sharpness(context.Background(), nil, point, ds, SharpnessSettings{Top: 3, TraceSamples: 1}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	surface, err := Surface(context.Background(), nil, point, ds, SurfaceSettings{Directions: DirectionsHessian, Points: 2, Grid: 2}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	top := three.TopEigenvalues
	if !three.Converged || len(top) != 3 || top[0] != three.TopEigenvalue || !(top[0] >= top[1] && top[1] >= top[2]) {
		t.Fatalf("top 3: %v (λ_max %v, converged %v)", top, three.TopEigenvalue, three.Converged)
	}
	second := float64(surface.Settings.DirectionEigenvalues[1])
	if math.Abs(float64(top[0]-one.TopEigenvalue)) > 1e-3*float64(one.TopEigenvalue) || math.Abs(float64(top[1])-second) > 1e-3*second {
		t.Errorf("top 3 %v: want λ_max %v first and the second Hessian direction's %v second", top, one.TopEigenvalue, second)
	}
	if len(one.TopEigenvalues) != 0 {
		t.Errorf("λ_max alone also wrote top_eigenvalues %v", one.TopEigenvalues)
	}
}

// TestProbeNonFiniteWeights: a point whose weights hold NaN (a diverged run) is refused
// before the probe writes anything, naming the file.
func TestProbeNonFiniteWeights(t *testing.T) {
	ds := probeDataset(40, 10)
	run := filepath.Join(t.TempDir(), "run")
	s := experiment.Settings{ModelConfig: models.Config{Hidden: 8}, Epochs: 1, BatchSize: 16}
	res, err := experiment.Train(context.Background(), nil, corrupt.Clean(ds), s, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Final.Tensors[0].Data[0] = float32(math.NaN())
	if err := experiment.SaveWeights(filepath.Join(run, experiment.FinalWeightsFile), res.Final); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "restart")
	_, err = Restart(context.Background(), nil, Point{Run: run}, ds, RestartSettings{Epochs: 1}, out, nil)
	if !errors.Is(err, experiment.ErrNonFiniteWeights) || !strings.Contains(err.Error(), "final.safetensors (did the run diverge?)") {
		t.Errorf("error %v, want %v naming the file", err, experiment.ErrNonFiniteWeights)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the refused probe made %s (%v)", out, err)
	}
}

// TestLoadRunConfigInvalidSettings: a run's config.json with settings no run has (edited
// by hand, or another version's) is refused, naming the file and the setting.
func TestLoadRunConfigInvalidSettings(t *testing.T) {
	ds := probeDataset(40, 10)
	run := filepath.Join(t.TempDir(), "run")
	s := experiment.Settings{ModelConfig: models.Config{Hidden: 8}, Epochs: 1, BatchSize: 16}
	if _, err := experiment.Train(context.Background(), nil, corrupt.Clean(ds), s, run, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(run, experiment.ConfigFile)
	original, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key   string
		value any
		want  string
	}{
		{"model", "transformer", `unknown model "transformer"`},
		{"subset", -5, "subset"},
	}
	for _, tc := range tests {
		var config map[string]any
		if err := json.Unmarshal(original, &config); err != nil {
			t.Fatal(err)
		}
		config["settings"].(map[string]any)[tc.key] = tc.value
		edited, _ := json.Marshal(config)
		os.WriteFile(path, edited, 0o644)
		_, err := LoadRunConfig(run)
		if err == nil || !strings.Contains(err.Error(), "config.json: invalid run settings") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("settings.%s = %v: error %v, want one naming the file and %q", tc.key, tc.value, err, tc.want)
		}
	}
}
