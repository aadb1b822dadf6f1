package experiment

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/models"
	"github.com/gomlx/gomlx/core/tensors"
)

func readMetrics(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

// TestTrain trains small models on a separable synthetic dataset and checks that
// accuracy rises well above chance (1/3), the run directory's files, and the
// metrics' consistency with the returned weights.
func TestTrain(t *testing.T) {
	d := synthDataset(300, 150, 8, 8, 1, 3, 1)
	small := d.Head(0)
	small.Test = d.Test.Head(30) // 11 corrupted copies of 30 test images
	tests := []struct {
		name     string
		settings Settings
		corrupt  bool
	}{
		{"mlp adam", Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 32}, Epochs: 3, BatchSize: 32, EvalBatchSize: 64}, false},
		{"lenet sgd momentum", Settings{Model: "lenet", Epochs: 3, BatchSize: 32, WeightDecay: 1e-4,
			Optimizer: Optimizer{Name: SGD, LearningRate: 0.05, Momentum: 0.9}}, false},
		// Batch-norm running statistics need a few epochs of 10 steps to catch up.
		{"resnet", Settings{Model: "resnet", ModelConfig: models.Config{Blocks: 1}, Epochs: 4, BatchSize: 32}, false},
		{"mlp corrupted", Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 128}, Epochs: 8, BatchSize: 32,
			Optimizer: Optimizer{LearningRate: 3e-3}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := corrupt.Clean(d)
			if tc.corrupt {
				var err error
				set, err = corrupt.Build(small, corrupt.Settings{Seed: 3})
				if err != nil {
					t.Fatal(err)
				}
				tc.settings.Corruption = corrupt.Settings{Seed: 3}
			}
			dir := t.TempDir()
			var log strings.Builder
			res, err := Train(context.Background(), nil, set, tc.settings, dir, &log)
			if err != nil {
				t.Fatal(err)
			}
			t.Log("\n" + log.String())
			if res.Status != StatusOK || res.Epochs != tc.settings.Epochs {
				t.Fatalf("status %s after %d epochs", res.Status, res.Epochs)
			}
			last := res.Last()
			if tc.corrupt {
				if *last.CorruptedAcc < 0.8 || last.TestAcc > 0.2 || last.TrainAcc < 0.8 {
					t.Errorf("corrupted run: train %.3f, test %.3f, corrupted %.3f; want >= 0.8, <= 0.2, >= 0.8",
						last.TrainAcc, last.TestAcc, *last.CorruptedAcc)
				}
			} else if last.TestAcc < 0.8 || last.CorruptedAcc != nil {
				t.Errorf("test accuracy %.3f, want >= 0.8 (chance 0.33); corrupted_acc %v", last.TestAcc, last.CorruptedAcc)
			}
			for _, f := range []string{ConfigFile, MetricsFile, InitWeightsFile, FinalWeightsFile} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Error(err)
				}
			}
			lines := readMetrics(t, filepath.Join(dir, MetricsFile))
			if len(lines) != tc.settings.Epochs+1 {
				t.Fatalf("%d metrics lines, want %d", len(lines), tc.settings.Epochs+1)
			}
			for _, key := range []string{"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "weight_norm",
				"weight_norm_sum", "dist_from_init", "dist_from_init_sum", "seconds", "status"} {
				if _, ok := lines[len(lines)-1][key]; !ok {
					t.Errorf("metrics lack %q", key)
				}
			}
			if _, ok := lines[1]["corrupted_acc"]; ok != tc.corrupt {
				t.Errorf("corrupted_acc present = %v, want %v", ok, tc.corrupt)
			}
			if lines[0]["dist_from_init"].(float64) != 0 {
				t.Errorf("epoch 0 distance from init %v, want 0", lines[0]["dist_from_init"])
			}
			// Metrics must match the saved weights: norms recomputed from final.safetensors.
			final, err := LoadWeights(filepath.Join(dir, FinalWeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			init, _ := LoadWeights(filepath.Join(dir, InitWeightsFile))
			dist, distSum, _ := Distance(final, init)
			for _, c := range []struct {
				key  string
				want float64
			}{{"weight_norm", final.Norm()}, {"weight_norm_sum", final.NormSum()}, {"dist_from_init", dist}, {"dist_from_init_sum", distSum}} {
				if got := lines[len(lines)-1][c.key].(float64); math.Abs(got-c.want) > 1e-9*max(1, c.want) {
					t.Errorf("%s = %v, recomputed %v", c.key, got, c.want)
				}
			}
			var cfg RunConfig
			data, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
			if err := json.Unmarshal(data, &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.Settings.Model != tc.settings.Model || cfg.Backend != "go" || cfg.Dataset.TrainSet != set.Len() ||
				cfg.Settings.Optimizer.Name == "" || cfg.Settings.ModelConfig.Classes != 3 {
				t.Errorf("config.json: %s", data)
			}
		})
	}
}

// TestTrainDeterministic checks that the seed fixes initialization and data order:
// two runs with the same seed give identical metrics; another seed differs.
func TestTrainDeterministic(t *testing.T) {
	d := synthDataset(100, 50, 6, 6, 1, 3, 2)
	s := Settings{ModelConfig: models.Config{Hidden: 16}, Epochs: 2, BatchSize: 16, Seed: 5}
	run := func(s Settings) []EpochMetrics {
		res, err := Train(context.Background(), nil, corrupt.Clean(d), s, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Metrics
	}
	a, b := run(s), run(s)
	s.Seed = 6
	c := run(s)
	for i := range a {
		if a[i].TrainLoss != b[i].TrainLoss || a[i].WeightNorm != b[i].WeightNorm || a[i].DistFromInit != b[i].DistFromInit {
			t.Errorf("epoch %d differs between identical runs: %+v vs %+v", i, a[i], b[i])
		}
	}
	if a[2].TrainLoss == c[2].TrainLoss {
		t.Error("different seeds gave the same training loss")
	}
}

// TestDivergence trains with an absurd learning rate: the run must stop with status
// "diverged", recorded in the metrics, and no error.
func TestDivergence(t *testing.T) {
	d := synthDataset(64, 32, 6, 6, 1, 3, 3)
	dir := t.TempDir()
	s := Settings{ModelConfig: models.Config{Hidden: 16}, Epochs: 5, BatchSize: 8,
		Optimizer: Optimizer{Name: SGD, LearningRate: 1e30}}
	res, err := Train(context.Background(), nil, corrupt.Clean(d), s, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusDiverged || res.Last().Status != StatusDiverged {
		t.Fatalf("status %q, last metrics status %q; want diverged", res.Status, res.Last().Status)
	}
	lines := readMetrics(t, filepath.Join(dir, MetricsFile))
	if got := lines[len(lines)-1]["status"]; got != StatusDiverged {
		t.Errorf("metrics.jsonl last status %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, FinalWeightsFile)); err != nil {
		t.Error(err)
	}
}

// TestEpochMetricsJSON: a metrics line reads back as it was written. An optional field
// absent stays absent; one not finite (written as null, as a diverged epoch's) comes
// back as NaN, not as absent.
func TestEpochMetricsJSON(t *testing.T) {
	nan, half := Float(math.NaN()), Float(0.5)
	tests := []struct {
		name string
		m    EpochMetrics
	}{
		{"epoch 0 of a normal run", EpochMetrics{TrainAcc: 0.1, Status: StatusOK}},
		{"corrupted", EpochMetrics{Epoch: 2, CorruptedAcc: &half, FitLoss: &half, FitAcc: &half, Status: StatusOK}},
		{"diverged", EpochMetrics{Epoch: 3, TrainLoss: nan, CorruptedAcc: &nan, FitLoss: &nan, FitAcc: &half, Status: StatusDiverged}},
	}
	for _, tc := range tests {
		data, err := json.Marshal(tc.m)
		if err != nil {
			t.Fatal(err)
		}
		var back EpochMetrics
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		again, _ := json.Marshal(back)
		if string(again) != string(data) {
			t.Errorf("%s: written %s, read back and written again %s", tc.name, data, again)
		}
		for _, f := range []struct {
			name       string
			want, back *Float
		}{{"corrupted_acc", tc.m.CorruptedAcc, back.CorruptedAcc}, {"fit_loss", tc.m.FitLoss, back.FitLoss}, {"fit_acc", tc.m.FitAcc, back.FitAcc}} {
			if (f.want == nil) != (f.back == nil) || (f.want != nil && !sameBits(float32(*f.want), float32(*f.back))) {
				t.Errorf("%s: %s written %s, read back %s", tc.name, f.name, optional(f.want), optional(f.back))
			}
		}
	}
	if err := json.Unmarshal([]byte(`{"epoch": "one"}`), new(EpochMetrics)); err == nil {
		t.Error("a line whose epoch is not a number: no error")
	}
}

// optional shows an optional metric: its value, or "absent".
func optional(f *Float) string {
	if f == nil {
		return "absent"
	}
	return fmt.Sprint(float64(*f))
}

func TestTrainErrors(t *testing.T) {
	d := synthDataset(10, 10, 4, 4, 1, 3, 4)
	for _, s := range []Settings{
		{Model: "vgg"},
		{Optimizer: Optimizer{Name: "lbfgs"}},
		{Backend: "tpu"},
		{Epochs: -1},
		{ModelConfig: models.Config{Classes: 2}},
	} {
		if _, err := Train(context.Background(), nil, corrupt.Clean(d), s, "", nil); err == nil {
			t.Errorf("settings %+v: no error", s)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Train(ctx, nil, corrupt.Clean(d), Settings{Epochs: 1}, "", nil); err == nil {
		t.Error("cancelled context: no error")
	}
}

// TestPassBatch checks the batch caps of Evaluate and Gradient: convolutional models on the
// Go backend are held to convPassBatch; the MLP keeps what it is asked for. The result of a
// pass does not depend on its batch size (TestGradient and the acceptance tests check values).
func TestPassBatch(t *testing.T) {
	backend, _ := NewBackend("go")
	for _, c := range []struct {
		model     string
		ask, want int
	}{
		{"mlp", 0, 1000},
		{"mlp", 4000, 4000},
		{"lenet", 0, convPassBatch},
		{"lenet", 1000, convPassBatch},
		{"lenet", 100, 100},
	} {
		net, err := NewNet(backend, c.model, models.Config{Classes: 3}, 28, 28, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := net.passBatch(c.ask); got != c.want {
			t.Errorf("%s: passBatch(%d) = %d, want %d", c.model, c.ask, got, c.want)
		}
	}
}

// TestGradient checks Net.Gradient: a small step against the gradient lowers the
// loss, and the gradient matches a central finite difference along its own direction
// (directional derivative = |g|²) within 5% (float32 loss, step 1e-3 relative), and
// the means over one batch agree with those summed over three (float32 rounding).
func TestGradient(t *testing.T) {
	d := synthDataset(40, 10, 6, 6, 1, 3, 5)
	backend, _ := NewBackend("go")
	net, err := NewNet(backend, "mlp", models.Config{Classes: 3, Hidden: 16}, 6, 6, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	grad, loss, err := net.Gradient(d.Train, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := net.Evaluate(d.Train, 16)
	if math.Abs(ev[0].Loss-loss) > 1e-5 {
		t.Errorf("Gradient's loss %v, Evaluate's %v", loss, ev[0].Loss)
	}
	whole, wholeLoss, err := net.Gradient(d.Train, d.Train.Len(), nil)
	if err != nil {
		t.Fatal(err)
	}
	diff := whole.Clone()
	if err := diff.Axpy(-1, grad); err != nil {
		t.Fatal(err)
	}
	if d := diff.Norm(); d > 1e-5*grad.Norm() || math.Abs(wholeLoss-loss) > 1e-6 {
		t.Errorf("one batch: gradient %v from the three batches' (norm %v), loss %v against %v", d, grad.Norm(), wholeLoss, loss)
	}
	w0, _ := net.Weights()
	gnorm := grad.Norm()
	h := 1e-3 / gnorm
	lossAt := func(scale float64) float64 {
		w := w0.Clone()
		for i := range w.Tensors {
			for j := range w.Tensors[i].Data {
				w.Tensors[i].Data[j] += float32(scale * float64(grad.Tensors[i].Data[j]))
			}
		}
		if err := net.SetWeights(w); err != nil {
			t.Fatal(err)
		}
		e, err := net.Evaluate(d.Train, 16)
		if err != nil {
			t.Fatal(err)
		}
		return e[0].Loss
	}
	up, down := lossAt(h), lossAt(-h)
	numeric := (up - down) / (2 * h)
	if down >= loss || math.Abs(numeric-gnorm*gnorm) > 0.05*gnorm*gnorm {
		t.Errorf("loss %v, after descent step %v; directional derivative %v, |g|² %v", loss, down, numeric, gnorm*gnorm)
	}
}

func TestNewBackend(t *testing.T) {
	if b, err := NewBackend(""); err != nil || b.String() != "go" {
		t.Errorf("NewBackend(\"\") = %v, %v", b, err)
	}
	if _, err := NewBackend("nope"); err == nil || !strings.Contains(err.Error(), "xla:cuda") || !errors.Is(err, ErrBackend) {
		t.Errorf("unknown backend error %v should list valid names and match ErrBackend", err)
	}
	for name, valid := range map[string]bool{"": true, "go": true, "go:parallelism=1": true, "xla": true, "xla:cuda": true, "tpu": false, "golang": false} {
		if err := CheckBackendName(name); (err == nil) != valid || (err != nil && !errors.Is(err, ErrBackend)) {
			t.Errorf("CheckBackendName(%q) = %v, want valid: %v", name, err, valid)
		}
	}
	if _, err := NewBackend("go:parallelism=-5"); !errors.Is(err, ErrBackend) {
		t.Errorf("bad Go backend option: error %v, want ErrBackend", err)
	}
	// Without the xla build tag any XLA backend fails; with it, a missing plugin fails
	// (and is never downloaded). Either way the message says how to get one.
	t.Setenv(PJRTPluginPathEnv, t.TempDir())
	for _, name := range []string{"xla:cuda", "xla:no-such-plugin"} {
		_, err := NewBackend(name)
		if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "PJRT_PLUGIN_LIBRARY_PATH") {
			t.Errorf("NewBackend(%q) error %v should mention PJRT_PLUGIN_LIBRARY_PATH", name, err)
		}
		if name == "xla:cuda" && (err == nil || !strings.Contains(err.Error(), "esp setup-gpu")) {
			t.Errorf("NewBackend(%q) error %v should mention esp setup-gpu", name, err)
		}
	}
}

func TestFindJAXPlugin(t *testing.T) {
	root := t.TempDir()
	write := func(rel string) string {
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("ELF"), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	plugin := write("site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so")
	write("other/pjrt_c_api_cpu_plugin.so")
	for _, c := range []struct {
		name    string
		entries []string
		want    string
	}{
		{"the file", []string{plugin}, plugin},
		{"its folder", []string{filepath.Dir(plugin)}, plugin},
		{"site-packages", []string{filepath.Join(root, "site-packages")}, plugin},
		{"after a folder without it", []string{filepath.Join(root, "other"), filepath.Dir(plugin)}, plugin},
		{"not there", []string{filepath.Join(root, "other")}, ""},
		{"missing folder", []string{filepath.Join(root, "nope")}, ""},
		{"empty", nil, ""},
	} {
		if got := findJAXPlugin("cuda", c.entries); got != c.want {
			t.Errorf("%s: findJAXPlugin = %q, want %q", c.name, got, c.want)
		}
	}
	if got := findJAXPlugin("rocm", []string{filepath.Join(root, "site-packages")}); got != "" {
		t.Errorf("findJAXPlugin(rocm) = %q, want none", got)
	}

	// The CUDA toolkit of the pip packages beside the plugin, for XLA's ptxas and libdevice.
	if got := jaxCUDADataDir(plugin); got != "" {
		t.Errorf("jaxCUDADataDir without nvidia packages = %q", got)
	}
	cu13 := filepath.Join(root, "site-packages", "nvidia", "cu13")
	write("site-packages/nvidia/cu13/nvvm/libdevice/libdevice.10.bc")
	if got := jaxCUDADataDir(plugin); got != cu13 {
		t.Errorf("jaxCUDADataDir = %q, want %q", got, cu13)
	}
	t.Setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
	setXLACUDADataDir(cu13)
	setXLACUDADataDir("/elsewhere") // an existing setting wins
	if got, want := os.Getenv("XLA_FLAGS"), "--xla_dump_to=/tmp/x --xla_gpu_cuda_data_dir="+cu13; got != want {
		t.Errorf("XLA_FLAGS = %q, want %q", got, want)
	}
}

func TestLearningRateAt(t *testing.T) {
	cosine := Optimizer{LearningRate: 0.1, Schedule: ScheduleCosine}
	tests := []struct {
		o           Optimizer
		step, total int
		want        float64
	}{
		{Optimizer{LearningRate: 0.1, Schedule: ScheduleConstant}, 7, 10, 0.1},
		{cosine, 0, 11, 0.1},
		{cosine, 5, 11, 0.05}, // halfway: (1 + cos(pi/2)) / 2
		{cosine, 10, 11, 0},   // the last step
		{cosine, 0, 1, 0.1},   // a single step keeps the base rate
	}
	for _, tc := range tests {
		if got := tc.o.learningRateAt(tc.step, tc.total); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: step %d of %d: %v, want %v", tc.o.Schedule, tc.step, tc.total, got, tc.want)
		}
	}
}

// TestCosineSchedule checks that the schedule reaches the optimizer: with plain SGD and the
// same seed, a cosine run moves less far from its init than a constant one, and the rate
// left in the optimizer is the last step's (0).
func TestCosineSchedule(t *testing.T) {
	d := synthDataset(64, 32, 6, 6, 1, 3, 4)
	dist := map[string]float64{}
	for _, schedule := range []string{ScheduleConstant, ScheduleCosine} {
		s := Settings{ModelConfig: models.Config{Hidden: 16}, Epochs: 2, BatchSize: 16, Seed: 9,
			Optimizer: Optimizer{Name: SGD, LearningRate: 0.5, Schedule: schedule}}
		res, err := Train(context.Background(), nil, corrupt.Clean(d), s, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		dist[schedule] = float64(res.Last().DistFromInit)
		lr, err := learningRateVariable(res.Net.Store).Value()
		if err != nil {
			t.Fatal(err)
		}
		want := 0.5
		if schedule == ScheduleCosine {
			want = 0
		}
		if got := tensors.MustCopyFlatData[float32](lr)[0]; math.Abs(float64(got)-want) > 1e-7 {
			t.Errorf("%s: learning rate after the run %v, want %v", schedule, got, want)
		}
	}
	if !(dist[ScheduleCosine] > 0 && dist[ScheduleCosine] < dist[ScheduleConstant]) {
		t.Errorf("distance from init: cosine %v, constant %v; want 0 < cosine < constant", dist[ScheduleCosine], dist[ScheduleConstant])
	}
	if err := (Settings{Optimizer: Optimizer{Schedule: "linear"}}).Validate(); err == nil || !strings.Contains(err.Error(), `want "constant" or "cosine"`) {
		t.Errorf("unknown schedule: %v", err)
	}
}

// TestGraphsReadNewWeights checks that compiled graphs read the variables when they run,
// not the values they held when the graph was compiled: with every weight set to zero
// after a first evaluation, the loss must be ln(classes).
func TestGraphsReadNewWeights(t *testing.T) {
	backend, err := NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		model string
		size  int
	}{{"mlp", 6}, {"lenet", 28}} {
		t.Run(tc.model, func(t *testing.T) {
			d := synthDataset(40, 10, tc.size, tc.size, 1, 3, 5)
			net, err := NewNet(backend, tc.model, models.Config{Classes: 3, Hidden: 16, FCHidden: 8}, tc.size, tc.size, 1, 1)
			if err != nil {
				t.Fatal(err)
			}
			losses := func() (eval, grad float64) {
				ev, err := net.Evaluate(d.Train, 16)
				if err != nil {
					t.Fatal(err)
				}
				_, loss, err := net.Gradient(d.Train, 16, nil)
				if err != nil {
					t.Fatal(err)
				}
				return ev[0].Loss, loss
			}
			eval0, grad0 := losses()
			w, err := net.Weights()
			if err != nil {
				t.Fatal(err)
			}
			for _, tensor := range w.Tensors {
				clear(tensor.Data)
			}
			if err := net.SetWeights(w); err != nil {
				t.Fatal(err)
			}
			eval1, grad1 := losses()
			want := math.Log(3)
			if math.Abs(eval1-want) > 1e-6 || math.Abs(grad1-want) > 1e-6 {
				t.Errorf("with zero weights: Evaluate's loss %v, Gradient's %v, want ln 3 = %v (before: %v, %v)", eval1, grad1, want, eval0, grad0)
			}
		})
	}
}

// TestCheckBackend: the check passes on the Go backend, in either formulation, and fails, saying so, when the checked network is not the reference's.
func TestCheckBackend(t *testing.T) {
	tests := []struct {
		name              string
		backend           string
		config, refConfig models.Config
		wantErr           string
	}{
		{"go", "go", models.Config{}, models.Config{}, ""},
		{"one core", "go:parallelism=1", models.Config{}, models.Config{}, ""},
		{"native formulation, as on XLA", "go", models.Config{Formulation: models.Native}, models.Config{}, ""},
		{"another network", "go", models.Config{FCReLU: true}, models.Config{}, "computes wrong results"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			backend, err := NewBackend(tc.backend)
			if err != nil {
				t.Fatal(err)
			}
			defer backend.Finalize()
			check, err := checkBackend(backend, tc.config, tc.refConfig)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				t.Log(check)
				if check.LossDiff > 1e-5 || check.GradientDiff > 1e-4 || check.Loss < 0.5 || len(check.Devices) == 0 {
					t.Errorf("check on the Go backend: %s, devices %q", check, check.Devices)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}

// TestSyntheticSplit: CheckBackend's images keep their label's bright row and a flat
// bottom quarter, where max pooling ties.
func TestSyntheticSplit(t *testing.T) {
	tests := []struct{ height, width, channels int }{{28, 28, 1}, {32, 32, 3}, {8, 8, 1}}
	for _, tc := range tests {
		s := syntheticSplit(rand.New(rand.NewPCG(3, 4)), 20, tc.height, tc.width, tc.channels, 5)
		rowSize := tc.width * tc.channels
		for i := range s.Len() {
			img, label := s.Image(i), int(s.Labels[i])
			for p, v := range img {
				row := p / rowSize
				switch {
				case row == label:
					if v < 150 {
						t.Fatalf("%dx%dx%d image %d: label row %d has %d, want >= 150", tc.height, tc.width, tc.channels, i, row, v)
					}
				case row >= tc.height-tc.height/4:
					if v != syntheticMargin {
						t.Fatalf("%dx%dx%d image %d: margin row %d has %d, want %d", tc.height, tc.width, tc.channels, i, row, v, syntheticMargin)
					}
				case v >= 100:
					t.Fatalf("%dx%dx%d image %d: background row %d has %d, want < 100", tc.height, tc.width, tc.channels, i, row, v)
				}
			}
		}
	}
}

// TestValidateRefusesNonFinite: a NaN or infinite number in the settings is refused by
// Validate, naming it, and Train makes nothing: it used to accept them and fail writing
// config.json ("json: unsupported value: NaN") after making the run's folder.
func TestValidateRefusesNonFinite(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name     string
		settings Settings
		want     string
	}{
		{"lr NaN", Settings{Optimizer: Optimizer{LearningRate: nan}}, "learning rate"},
		{"lr +Inf", Settings{Optimizer: Optimizer{LearningRate: inf}}, "learning rate"},
		{"epsilon NaN", Settings{Optimizer: Optimizer{Epsilon: nan}}, "epsilon"},
		{"beta1 NaN", Settings{Optimizer: Optimizer{Beta1: nan}}, "beta1"},
		{"beta2 NaN", Settings{Optimizer: Optimizer{Beta2: nan}}, "beta2"},
		{"momentum NaN", Settings{Optimizer: Optimizer{Name: SGD, Momentum: nan}}, "momentum"},
		{"weight decay NaN", Settings{WeightDecay: nan}, "weight decay"},
		{"weight decay +Inf", Settings{WeightDecay: inf}, "weight decay"},
		{"batch norm momentum NaN", Settings{Model: "resnet", ModelConfig: models.Config{BatchNormMomentum: nan}}, "batch norm momentum"},
		{"batch norm epsilon +Inf", Settings{Model: "resnet", ModelConfig: models.Config{BatchNormEpsilon: inf}}, "batch norm epsilon"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.settings.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate: %v, want an error naming %q", err, tc.want)
			}
			tc.settings.Epochs = 1
			out := filepath.Join(t.TempDir(), "run")
			if _, err := Train(context.Background(), nil, corrupt.Clean(d), tc.settings, out, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Train: %v, want an error naming %q", err, tc.want)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Train left %s (%v)", out, err)
			}
		})
	}
}

// TestRecordedConfigFormat: an interrupted run is resumed only from a config.json of this
// toolkit's format, or of one written before the format was recorded.
func TestRecordedConfigFormat(t *testing.T) {
	tests := []struct {
		name, config string
		wantErr      error
	}{
		{"this format", `{"format": "` + RunFormat + `", "settings": {"model": "mlp"}}`, nil},
		{"before the format was recorded", `{"settings": {"model": "mlp"}}`, nil},
		{"a later toolkit's", `{"format": "esp-run/9", "settings": {"model": "mlp"}}`, ErrRunFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := recordedConfig(dir)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("recordedConfig: %v, want %v", err, tc.wantErr)
			}
		})
	}
}
