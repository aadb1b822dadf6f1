package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
)

// Names of the files of a run directory.
const (
	ConfigFile       = "config.json"
	MetricsFile      = "metrics.jsonl"
	InitWeightsFile  = "init.safetensors"
	FinalWeightsFile = "final.safetensors"
)

// Result is the outcome of Train.
type Result struct {
	// Status is StatusOK or StatusDiverged.
	Status string
	// Epochs is the number of completed epochs; Steps the optimizer steps taken.
	Epochs, Steps int
	// Metrics holds one entry per evaluation, epoch 0 first (as in metrics.jsonl).
	Metrics []EpochMetrics
	// Init and Final are the weights at initialization and at the end.
	Init, Final *Weights
	// Net holds the final weights, ready for probes.
	Net *Net
	// Config is what config.json holds; Dir the run directory ("" if none).
	Config RunConfig
	Dir    string
}

// Last returns the last metrics entry (Train's results always hold epoch 0's), or the zero
// EpochMetrics for a Result without any.
func (r *Result) Last() EpochMetrics {
	if len(r.Metrics) == 0 {
		return EpochMetrics{}
	}
	return r.Metrics[len(r.Metrics)-1]
}

// Train runs one training run of settings on set and returns its result.
//
// backend may be nil: then NewBackend(settings.Backend) is used. If outDir is not
// empty, the run's files (see the package documentation) are written there, creating
// the folder. Progress lines go to progress (nil: none); on a terminal a live status
// line is shown during each epoch.
//
// Until the run finishes, outDir holds a checkpoint of its last epoch. Given an outDir
// with a checkpoint, Train resumes the run there, if settings are the run's (up to
// StepsPerCall); otherwise, or if the checkpoint is damaged, it returns an error wrapping
// ErrBadCheckpoint and changes nothing. An outDir holding a finished run is refused
// (ErrForeignDir), and one another process is training in (it holds the directory's
// lock file while it trains) too (ErrRunBusy).
//
// A non-finite training loss stops the run: the result has Status "diverged" (and so
// has the last metrics line); it is not an error. Errors are returned for invalid
// input, I/O and backend failures, and cancellation of ctx.
func Train(ctx context.Context, backend compute.Backend, set *corrupt.Set, settings Settings, outDir string, progress io.Writer) (result *Result, err error) {
	err = recoverError(func() error {
		result, err = train(ctx, backend, set, settings, outDir, progress)
		return err
	})
	return result, err
}

func train(ctx context.Context, backend compute.Backend, set *corrupt.Set, settings Settings, outDir string, progress io.Writer) (*Result, error) {
	s, err := prepareRun(set, settings)
	if err != nil {
		return nil, err
	}
	if outDir != "" {
		// One process trains in a directory at a time: a second would resume from the
		// first's checkpoints while it writes them, or train again a run just finished.
		release, err := lockRunDir(outDir)
		if err != nil {
			return nil, err
		}
		defer release()
		if _, err := os.Stat(filepath.Join(outDir, FinalWeightsFile)); err == nil {
			return nil, fmt.Errorf("%w: %s holds a finished run (%s): nothing is overwritten; train into a new directory", ErrForeignDir, outDir, FinalWeightsFile)
		}
		if err := removeTempFiles(outDir); err != nil { // a killed process's
			return nil, fmt.Errorf("experiment: %w", err)
		}
	}
	if backend == nil {
		if backend, err = NewBackend(s.Backend); err != nil {
			return nil, err
		}
	}
	t, err := newTrainer(backend, s, set.Dataset.Train)
	if err != nil {
		return nil, err
	}
	res, err := t.train(ctx, set, s, outDir, progress)
	if err != nil || outDir == "" {
		return res, err
	}
	return res, removeCheckpoints(outDir, "")
}

// trainer trains runs of one recipe (settings up to seed and corruption, one image shape)
// one after the other with one Net and one training-step graph, so that a study worker
// compiles its graphs once instead of once per run: a new run only resets the variables,
// the model's to their initialization from the run's seed and the optimizer's to the
// values they started with. What it trains is what a fresh Net would: a run's results
// do not depend on the runs before it (TestTrainerReuse).
type trainer struct {
	recipe Settings // the settings of the first run, defaults filled in
	net    *Net
	step   *gmodel.Exec
	// optimizerStart holds the initial values of the optimizer's variables.
	optimizerStart map[*gmodel.Variable]*tensors.Tensor
	fresh          bool // nothing trained yet: the net holds recipe.Seed's initialization
}

// newTrainer builds the net of s (prepared by prepareRun) for images shaped as split's,
// initialized from s.Seed, and compiles its training step for s's batch size.
func newTrainer(backend compute.Backend, s Settings, split *datasets.Split) (*trainer, error) {
	net, err := NewNet(backend, s.Model, s.ModelConfig, split.Height, split.Width, split.Channels, s.Seed)
	if err != nil {
		return nil, err
	}
	step, err := newTrainStep(net, s)
	if err != nil {
		return nil, err
	}
	// Compiling creates the optimizer's variables; initializing them now, before any
	// step, gives the values a later run starts from.
	bs := min(s.BatchSize, split.Len())
	if _, err := step.Compile(shapes.Make(dtypes.Uint8, bs, split.Height, split.Width, split.Channels), shapes.Make(dtypes.Int32, bs)); err != nil {
		return nil, fmt.Errorf("experiment: compiling the training step: %w", err)
	}
	// Saving a checkpoint creates the global step counter where the optimizer has none
	// (SGD); having it from the start gives a restored run the variables it saved.
	optimizer.GetGlobalStepVar(net.Store)
	start, err := optimizerStart(net.Store, backend, func(v *gmodel.Variable) bool { return strings.HasPrefix(v.Path(), modelPrefix) })
	if err != nil {
		return nil, err
	}
	return &trainer{recipe: s, net: net, step: step, optimizerStart: start, fresh: true}, nil
}

// optimizerStart initializes the variables of store that have no value yet, as the first
// training step would, and returns host copies of the initial values of the optimizer's
// variables: all but the model's (isModel) and the random-number generator's state.
func optimizerStart(store *gmodel.Store, backend compute.Backend, isModel func(*gmodel.Variable) bool) (map[*gmodel.Variable]*tensors.Tensor, error) {
	if err := store.InitializeVariables(backend, nil); err != nil {
		return nil, fmt.Errorf("experiment: initializing the optimizer: %w", err)
	}
	start := map[*gmodel.Variable]*tensors.Tensor{}
	for v := range store.IterVariables() {
		if isModel(v) || v.Name() == gmodel.RNGStateVariableName {
			continue
		}
		value, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("experiment: reading %s: %w", v.Path(), err)
		}
		if start[v], err = value.LocalClone(); err != nil {
			return nil, fmt.Errorf("experiment: copying %s: %w", v.Path(), err)
		}
	}
	return start, nil
}

// restoreVariables sets each variable to a copy of its value in values.
func restoreVariables(values map[*gmodel.Variable]*tensors.Tensor) error {
	for v, value := range values {
		c, err := value.LocalClone()
		if err != nil {
			return fmt.Errorf("experiment: copying %s's initial value: %w", v.Path(), err)
		}
		if err := v.SetValue(c); err != nil {
			return fmt.Errorf("experiment: resetting %s: %w", v.Path(), err)
		}
	}
	return nil
}

// fits reports whether the trainer can train a run of s (prepared) on split.
func (t *trainer) fits(s Settings, split *datasets.Split) bool {
	return t.net.checkSplit(split) == nil && sameRecipe(t.recipe, s) == nil
}

// reset puts the variables where a run with seed starts: the model's initialized from
// seed, the optimizer's at their initial values.
func (t *trainer) reset(seed uint64) error {
	if t.fresh && t.recipe.Seed == seed {
		return nil
	}
	if err := t.net.reinitialize(seed); err != nil {
		return err
	}
	return restoreVariables(t.optimizerStart)
}

// train runs one training run of s (prepared by prepareRun, fitting the trainer: see
// fits) on set; see Train.
func (t *trainer) train(ctx context.Context, set *corrupt.Set, s Settings, outDir string, progress io.Writer) (*Result, error) {
	if err := t.reset(s.Seed); err != nil {
		return nil, err
	}
	t.fresh = false
	net, step := t.net, t.step
	p := newProgress(progress)
	ck, err := latestCheckpoint(outDir)
	if err != nil {
		return nil, err
	}
	var res *Result
	start := time.Now()
	if ck != "" {
		restore := func(ck string) (checkpointState, error) { return restoreCheckpoint(net.Store, ck) }
		if res, err = resumeRun(net, set, s, outDir, ck, restore); err != nil {
			return nil, err
		}
		if err := res.saveConfig(); err != nil {
			return nil, err
		}
		if res.Status == StatusDiverged { // an ensemble member's end: nothing to train
			if res.Final, err = net.Weights(); err != nil {
				return res, err
			}
			fmt.Fprintf(p.w, "%s diverged in epoch %d: its checkpoint is its end\n", outDir, res.Epochs+1)
			return res, res.finish()
		}
		start = res.startedAt(start)
		fmt.Fprintf(p.w, "resuming %s after epoch %d of %d\n", outDir, res.Epochs, s.Epochs)
	} else {
		if outDir != "" {
			if err := checkRestart(net, set, s, outDir); err != nil {
				return nil, err
			}
		}
		if res, err = startRun(net, set, s, outDir, 0); err != nil {
			return nil, err
		}
		m0, err := measure(net, set, s, res.Init)
		if err != nil {
			return nil, err
		}
		if err := res.record(m0, start); err != nil {
			return nil, err
		}
		p.epochLine(s, res.Last(), 0, 0)
	}

	n := set.Len()
	rng := dataOrderAfter(s.Seed, res.Epochs, n)
	bs := min(s.BatchSize, n)
	stepsPerEpoch := (n + bs - 1) / bs
	saver := checkpointer{last: time.Now()}
	for epoch := res.Epochs + 1; epoch <= s.Epochs; epoch++ {
		epochStart := time.Now()
		setRate := func(int) error { return nil }
		if s.Optimizer.Schedule != ScheduleConstant {
			setRate = func(taken int) error {
				return setLearningRate(net.Store, s.Optimizer.learningRateAt(res.Steps+taken, s.Epochs*stepsPerEpoch))
			}
		}
		e, err := trainEpoch(ctx, step, set, rng.Perm(n), s, setRate, func(e *epochSteps) {
			p.stepLine(epoch, s.Epochs, e.steps, stepsPerEpoch, time.Since(epochStart), e.lossSum/float64(e.seen), e.correctSum/float64(e.seen))
		})
		res.Steps += e.steps
		if err != nil {
			p.clear()
			return res, err
		}
		epochSeconds := time.Since(epochStart).Seconds()
		fitLoss, fitAcc := Float(e.lossSum/float64(e.seen)), Float(e.correctSum/float64(e.seen))
		w, err := net.Weights()
		if err != nil {
			return res, err
		}
		res.Final = w
		if e.diverged {
			if err := res.diverge(set, epoch, fitLoss, fitAcc, epochSeconds, start); err != nil {
				return res, err
			}
			p.clear()
			fmt.Fprintf(p.w, "epoch %d: training loss is %v at step %d: diverged, stopping\n", epoch, float64(fitLoss), res.Steps)
			break
		}
		m, err := measure(net, set, s, res.Init, w)
		if err != nil {
			return res, err
		}
		m.Epoch, m.Step, m.EpochSeconds = epoch, res.Steps, epochSeconds
		m.FitLoss, m.FitAcc = &fitLoss, &fitAcc
		if err := res.record(m, start); err != nil {
			return res, err
		}
		res.Epochs = epoch
		if outDir != "" && epoch < s.Epochs && saver.due() {
			st := checkpointState{Epoch: epoch, Steps: res.Steps, Metrics: res.Metrics}
			if err := saver.save(func() error { return saveCheckpoint(net.Store, outDir, st) }); err != nil {
				return res, err
			}
		}
		p.epochLine(s, res.Last(), float64(stepsPerEpoch)/epochSeconds, time.Since(start))
	}
	return res, res.finish()
}

// resumeRun returns the Result of the interrupted run of s on set in outDir, as it was at
// its checkpoint ck, which restore restores into the variables that train it (the net's,
// or an ensemble's). The run's config.json must record the settings and data of s on set.
// The Result's configuration gets a record of the resumption, which saveConfig writes
// once the caller has restored all it resumes.
func resumeRun(net *Net, set *corrupt.Set, s Settings, outDir, ck string, restore func(ck string) (checkpointState, error)) (*Result, error) {
	recorded, err := recordedConfig(outDir)
	if err != nil {
		return nil, err
	}
	res := &Result{Status: StatusOK, Net: net, Dir: outDir, Config: setRunConfig(net, set, s)}
	if diffs := runDiffs(recorded, res.Config); len(diffs) > 0 {
		return nil, fmt.Errorf("%w in %s: it is another run (%s); use a new directory, or delete that one to train this run there",
			ErrBadCheckpoint, outDir, strings.Join(diffs, "; "))
	}
	if res.Init, err = LoadWeights(filepath.Join(outDir, InitWeightsFile)); err != nil {
		if !errors.Is(err, ErrCorruptWeights) && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("experiment: %w", err)
		}
		return nil, fmt.Errorf("%w in %s: %v", ErrBadCheckpoint, outDir, err)
	}
	st, err := restore(ck)
	if err != nil {
		return nil, fmt.Errorf("%w: delete %s to train the run from its start", err, outDir)
	}
	res.Epochs, res.Steps, res.Metrics = st.Epoch, st.Steps, st.Metrics
	if st.Status == StatusDiverged {
		res.Status = StatusDiverged
	}
	resume := ResumeRecord{AfterEpoch: st.Epoch, Settings: res.Config.Settings, Backend: res.Config.Backend,
		BackendDescription: res.Config.BackendDescription, ToolkitVersion: res.Config.ToolkitVersion,
		GoMLXVersion: res.Config.GoMLXVersion, At: res.Config.Started}
	res.Config = recorded
	res.Config.Resumed = append(res.Config.Resumed, resume)
	return res, nil
}

// recordedConfig reads the config.json of the run in outDir. One missing, or not a
// configuration, is an error wrapping ErrBadCheckpoint (the missing one os.ErrNotExist
// too); one that cannot be read is not the checkpoint's fault.
func recordedConfig(outDir string) (RunConfig, error) {
	var recorded RunConfig
	data, err := os.ReadFile(filepath.Join(outDir, ConfigFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return recorded, fmt.Errorf("experiment: %w", err) // not the checkpoint's fault: keep it
	}
	if err == nil {
		err = json.Unmarshal(data, &recorded)
	}
	if err != nil {
		return recorded, fmt.Errorf("%w in %s: its %s: %w (damaged: remove the directory, or train into a new one)", ErrBadCheckpoint, outDir, ConfigFile, err)
	}
	return recorded, recorded.CheckFormat(filepath.Join(outDir, ConfigFile))
}

// runDiffs lists how the run configured now differs from the one recorded. What may
// differ gives the same run: steps per call take the same steps, and the data may be read
// from another folder.
func runDiffs(recorded, now RunConfig) []string {
	recorded.Settings.StepsPerCall, recorded.Dataset.Source = 0, ""
	now.Settings.StepsPerCall, now.Dataset.Source = 0, ""
	return append(jsonDiff(recorded.Settings, now.Settings), jsonDiff(recorded.Dataset, now.Dataset)...)
}

// checkRestart accepts for a new run of s on set the directory outDir unless it holds a
// run that stopped before its first checkpoint (config.json, no checkpoint, no final
// weights) of other settings: the same run starts there again, as nothing of it was kept.
func checkRestart(net *Net, set *corrupt.Set, s Settings, outDir string) error {
	if _, err := os.Stat(filepath.Join(outDir, FinalWeightsFile)); err == nil {
		return nil // a finished run: the caller's to keep (esp train refuses its directory)
	}
	recorded, err := recordedConfig(outDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if diffs := runDiffs(recorded, setRunConfig(net, set, s)); len(diffs) > 0 {
		return fmt.Errorf("%w in %s: it holds another run (%s), stopped before its first checkpoint; use a new directory, or delete that one to train this run there",
			ErrBadCheckpoint, outDir, strings.Join(diffs, "; "))
	}
	return nil
}

// saveConfig writes the run's configuration to its config.json.
func (res *Result) saveConfig() error {
	js, err := json.MarshalIndent(res.Config, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(res.Dir, ConfigFile), append(js, '\n'))
}

// epochSteps adds up the steps of an epoch.
type epochSteps struct {
	steps, seen         int     // steps taken, examples they saw
	lossSum, correctSum float64 // Σ loss·batch size, Σ correct predictions
	diverged            bool    // the last step's loss is not finite
}

// trainEpoch takes one epoch of training steps with step (newTrainStep's) on set's
// examples in the order perm, in batches of s.BatchSize, s.StepsPerCall steps per call
// where they fill it. beforeCall runs before each call with the number of steps taken so
// far (to set the learning rate), afterCall after it (progress). It stops after the
// call in which a loss stops being finite, counting the steps up to that one.
func trainEpoch(ctx context.Context, step *gmodel.Exec, set *corrupt.Set, perm []int, s Settings,
	beforeCall func(taken int) error, afterCall func(*epochSteps)) (epochSteps, error) {
	var e epochSteps
	n := len(perm)
	bs, perCall := min(s.BatchSize, n), max(1, s.StepsPerCall)
	for b := 0; b*bs < n && !e.diverged; {
		if err := ctx.Err(); err != nil {
			return e, err
		}
		steps := 1
		if perCall > 1 && (b+perCall)*bs <= n { // full batches only: one shape per graph
			steps = perCall
		}
		idx := perm[b*bs : min((b+steps)*bs, n)]
		images, labels, err := minibatch(set, idx, steps)
		if err != nil {
			return e, err
		}
		if err := beforeCall(e.steps); err != nil {
			images.FinalizeAll()
			return e, err
		}
		out, err := step.Call(images, labels)
		images.FinalizeAll()
		if err != nil {
			return e, fmt.Errorf("experiment: training step: %w", err)
		}
		losses := tensors.MustCopyFlatData[float32](out[0])
		corrects := tensors.MustCopyFlatData[float32](out[1])
		size := len(idx) / steps
		for j := range steps {
			e.steps++
			e.seen += size
			e.lossSum += float64(losses[j]) * float64(size)
			e.correctSum += float64(corrects[j])
			if !isFinite(float64(losses[j])) {
				e.diverged = true
				break
			}
		}
		b += steps
		if !e.diverged {
			afterCall(&e)
		}
	}
	return e, nil
}

// prepareRun checks a run's settings against its training set and returns them with
// what the dataset decides (its name, the number of classes) and the defaults filled in.
func prepareRun(set *corrupt.Set, settings Settings) (Settings, error) {
	if set == nil || set.Dataset == nil || set.Len() == 0 {
		return settings, fmt.Errorf("experiment: empty training set")
	}
	d := set.Dataset
	if d.Train == nil || d.Test == nil || d.Train.Len() == 0 || d.Test.Len() == 0 {
		return settings, fmt.Errorf("experiment: dataset %q needs non-empty train and test splits", d.Name)
	}
	if err := settings.Validate(); err != nil {
		return settings, err
	}
	if settings.Dataset == "" {
		settings.Dataset = d.Name
	}
	if settings.ModelConfig.Classes == 0 {
		settings.ModelConfig.Classes = d.NumClasses()
	} else if settings.ModelConfig.Classes < d.NumClasses() {
		return settings, fmt.Errorf("experiment: model has %d classes, dataset %s has %d",
			settings.ModelConfig.Classes, d.Name, d.NumClasses())
	}
	return settings.WithDefaults(), nil
}

// startRun returns the Result of a run of s on set whose net holds the initial weights,
// and writes the run's config.json and initial weights to outDir (if not empty).
// ensemble is the number of runs trained with it in one graph (0: alone).
func startRun(net *Net, set *corrupt.Set, s Settings, outDir string, ensemble int) (*Result, error) {
	res := &Result{Status: StatusOK, Net: net, Dir: outDir, Config: setRunConfig(net, set, s)}
	res.Config.Ensemble = ensemble
	var err error
	if res.Init, err = net.Weights(); err != nil {
		return nil, err
	}
	if outDir == "" {
		return res, nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	if err := res.saveConfig(); err != nil {
		return nil, err
	}
	return res, SaveWeights(filepath.Join(outDir, InitWeightsFile), res.Init)
}

// setRunConfig returns the configuration of a run of s on set by net, started now.
func setRunConfig(net *Net, set *corrupt.Set, s Settings) RunConfig {
	c := newRunConfig(net, set.Dataset, s)
	c.Dataset.TrainSet, c.Dataset.Corrupted = set.Len(), set.IsCorrupted()
	return c
}

// newRunConfig returns the configuration of a run of s on d by net, started now, its
// training set d's clean training split.
func newRunConfig(net *Net, d *datasets.Dataset, s Settings) RunConfig {
	split := d.Train
	toolkit, gomlx, goVersion := versions()
	return RunConfig{
		Format:   RunFormat,
		Settings: s,
		Dataset: DatasetInfo{
			Name: d.Name, Classes: d.NumClasses(), Train: d.Train.Len(), Test: d.Test.Len(),
			Height: split.Height, Width: split.Width, Channels: split.Channels, Source: d.Source,
			TrainSet: split.Len(),
		},
		Backend:            net.Backend.String(),
		BackendDescription: net.Backend.Description(),
		ToolkitVersion:     toolkit,
		GoMLXVersion:       gomlx,
		GoVersion:          goVersion,
		Started:            time.Now().UTC().Truncate(time.Second),
	}
}

// record appends m, stamped with the time since start, to the metrics and rewrites
// metrics.jsonl.
func (res *Result) record(m EpochMetrics, start time.Time) error {
	m.Seconds = time.Since(start).Seconds()
	res.Metrics = append(res.Metrics, m)
	if res.Dir == "" {
		return nil
	}
	data, err := EncodeMetrics(res.Metrics)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(res.Dir, MetricsFile), data)
}

// diverge marks the run diverged in epoch and records that epoch's line: the training
// means so far, the weights' norms (res.Final), NaN for what was not evaluated.
func (res *Result) diverge(set *corrupt.Set, epoch int, fitLoss, fitAcc Float, epochSeconds float64, start time.Time) error {
	res.Status = StatusDiverged
	nan := Float(math.NaN())
	m := EpochMetrics{Epoch: epoch, Step: res.Steps, TrainLoss: nan, TrainAcc: nan, TestLoss: nan, TestAcc: nan,
		FitLoss: &fitLoss, FitAcc: &fitAcc, EpochSeconds: epochSeconds, Status: StatusDiverged}
	m.WeightNorm, m.WeightNormSum = Float(res.Final.Norm()), Float(res.Final.NormSum())
	l2, sum, _ := Distance(res.Final, res.Init)
	m.DistFromInit, m.DistFromInitSum = Float(l2), Float(sum)
	if set.IsCorrupted() {
		m.CorruptedAcc = &nan
	}
	return res.record(m, start)
}

// finish saves the final weights (the initial ones if no epoch ran) into the run
// directory. Its checkpoints stay until the caller has what it needs of the run (a study,
// its result.json): the caller removes them (removeCheckpoints).
func (res *Result) finish() error {
	if res.Final == nil {
		res.Final = res.Init.Clone()
	}
	if res.Dir == "" {
		return nil
	}
	return SaveWeights(filepath.Join(res.Dir, FinalWeightsFile), res.Final)
}

// dataOrder is the random stream of a run's example order, seeded by the run's seed:
// Train, TrainEnsemble and Net.Fit draw the same orders from it, so that their runs agree.
func dataOrder(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0xda7a0bde5)) }

// dataOrderAfter is dataOrder drawn on past the orders of the first epochs, of n examples
// each: where a run resumed after those epochs goes on.
func dataOrderAfter(seed uint64, epochs, n int) *rand.Rand {
	rng := dataOrder(seed)
	for range epochs {
		rng.Perm(n)
	}
	return rng
}

// startedAt returns when the run started, as its metrics' seconds count, for a run that
// goes on at now: now, less the seconds a resumed run had trained.
func (res *Result) startedAt(now time.Time) time.Time {
	if res.Epochs == 0 {
		return now
	}
	return now.Add(-time.Duration(res.Last().Seconds * float64(time.Second)))
}

// setLearningRate sets the optimizer's learning rate for the next step. Before the first
// step compiles the graph the variable does not exist yet; it is then created with the
// initial rate, which is the schedule's value at step 0.
func setLearningRate(store *gmodel.Store, lr float64) error {
	v := learningRateVariable(store)
	if v == nil {
		return nil
	}
	if err := v.SetValue(tensors.FromScalar(float32(lr))); err != nil {
		return fmt.Errorf("experiment: setting the learning rate: %w", err)
	}
	return nil
}

// measure evaluates the net on the clean training split and the test split (and the
// test split's assigned labels for corrupted sets) and computes the weight metrics.
// current, if given, is the net's weights (saves a copy).
func measure(net *Net, set *corrupt.Set, s Settings, init *Weights, current ...*Weights) (EpochMetrics, error) {
	train, err := net.Evaluate(set.Dataset.Train, s.EvalBatchSize)
	if err != nil {
		return EpochMetrics{}, err
	}
	test, err := net.Evaluate(set.Dataset.Test, s.EvalBatchSize, testLabels(set)...)
	if err != nil {
		return EpochMetrics{}, err
	}
	w := init
	if len(current) > 0 {
		w = current[0]
	}
	return epochMetrics(set, train, test, init, w)
}

// testLabels are the label sets a run is evaluated against on the test split: the true
// labels, and for a corrupted set the wrong ones it was trained on.
func testLabels(set *corrupt.Set) [][]uint8 {
	labels := [][]uint8{set.Dataset.Test.Labels}
	if set.IsCorrupted() {
		labels = append(labels, set.TestLabels)
	}
	return labels
}

// epochMetrics assembles a metrics line from the evaluations on the training split and
// on the test split (against testLabels(set)) and the weights w.
func epochMetrics(set *corrupt.Set, train, test []Eval, init, w *Weights) (EpochMetrics, error) {
	m := EpochMetrics{Status: StatusOK}
	m.TrainLoss, m.TrainAcc = Float(train[0].Loss), Float(train[0].Accuracy)
	m.TestLoss, m.TestAcc = Float(test[0].Loss), Float(test[0].Accuracy)
	if set.IsCorrupted() {
		acc := Float(test[1].Accuracy)
		m.CorruptedAcc = &acc
	}
	m.WeightNorm, m.WeightNormSum = Float(w.Norm()), Float(w.NormSum())
	l2, sum, err := Distance(w, init)
	if err != nil {
		return m, err
	}
	m.DistFromInit, m.DistFromInitSum = Float(l2), Float(sum)
	return m, nil
}

// newTrainStep returns the executor of the training step: it takes images ([B,H,W,C],
// uint8 or float32, see unitPixels) and labels (int32 [B]), updates the variables, and
// returns the mean loss and the number of correct predictions (float32 scalars). Given
// K batches at once, images [K,B,H,W,C] and labels [K,B], it takes K steps one after the
// other in one graph and returns each step's loss and count ([K] each): see
// Settings.StepsPerCall.
func newTrainStep(net *Net, s Settings) (*gmodel.Exec, error) {
	opt, err := newOptimizer(s.Optimizer)
	if err != nil {
		return nil, err
	}
	return gmodel.NewExec(net.Backend, net.Store, func(scope *gmodel.Scope, images, labels *Node) (*Node, *Node) {
		g := images.Graph()
		readVariablesAtRun(scope, g)
		modelIn := scope.In
		step := func(images, labels *Node) (loss, correct *Node) {
			logits := net.Model.Logits(modelIn(modelScope), unitPixels(images), true)
			modelIn = scope.Shared // the next step's logits reuse the variables
			loss, objective, correct := runObjective(logits, labels, net.modelVariables(), s.WeightDecay)
			// The optimizer reads and sets the variables' current values in the graph:
			// a second step starts from the first one's update.
			opt.UpdateGraph(scope, g, objective)
			return loss, correct
		}
		if images.Rank() == 4 {
			return step(images, labels)
		}
		k := images.Shape().Dim(0)
		losses, corrects := make([]*Node, k), make([]*Node, k)
		for i := range k {
			losses[i], corrects[i] = step(Squeeze(Slice(images, AxisElem(i)), 0), Squeeze(Slice(labels, AxisElem(i)), 0))
		}
		return Stack(losses, 0), Stack(corrects, 0)
	})
}

// runObjective is one run's part of a training step's graph: the mean cross-entropy of
// logits [B, classes] against labels [B]; the objective the optimizer descends, that loss
// plus λ/2·‖v‖² (λ = weightDecay) for each trainable variable of vars the graph uses;
// and the number of correct predictions (float32).
func runObjective(logits, labels *Node, vars []*gmodel.Variable, weightDecay float64) (loss, objective, correct *Node) {
	g := logits.Graph()
	loss = ReduceAllMean(crossEntropy(logits, labels))
	objective = loss
	if weightDecay > 0 {
		for _, v := range vars {
			if v.Trainable && v.InUseByGraph(g) {
				objective = Add(objective, MulScalar(ReduceAllSum(Square(v.NodeValue(g))), weightDecay/2))
			}
		}
	}
	correct = ReduceAllSum(ConvertDType(Equal(ArgMax(logits, -1, dtypes.Int32), labels), dtypes.Float32))
	return loss, objective, correct
}
