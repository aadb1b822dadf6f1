package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
	"github.com/extremepoints/esp/models"
)

// TrainEnsemble trains len(sets) runs at once in one compiled graph: an ensemble whose
// members are independent runs. Member i trains on sets[i] with settings[i]: its own
// variables, initialization (from its seed), order of examples and optimizer state, so
// that its Result and run directory (outDirs[i], if outDirs is not nil) are those Train
// would give for it alone, up to float rounding; config.json records the ensemble's size.
// The summed loss of the members is what the optimizer descends, and a member's
// gradient is that of its own loss.
//
// The settings may differ only in Seed and Corruption, and the sets only in their labels
// (same dataset, same size): every step feeds all members a batch of the same size.
// epoch_seconds is the ensemble's epoch. A member whose loss becomes non-finite is marked
// diverged and no longer evaluated; the others go on.
//
// After its epochs (as Train's, see checkpointCost), each member with a run directory
// saves a checkpoint there until the runs finish: the run's own state, in the form a run
// trained alone has it, so that Train can resume it alone, and TrainEnsemble with any
// runs of the recipe at the same epoch. The members' checkpoints are all written before
// any replaces the one before, so an interrupted ensemble's members are at one epoch. A
// member that diverges saves its end at once, in place of its last checkpoint. Given
// directories that all hold a checkpoint of the same epoch (or the end of a member that
// diverged), TrainEnsemble resumes the members there, those that diverged as they ended.
// Next to ends only (members diverged before the others' first checkpoint), the members
// without a checkpoint start from their start, if they hold no finished run. Otherwise
// some with a checkpoint and some without, or of different epochs, is an error wrapping
// ErrBadCheckpoint, as is a checkpoint Train would refuse; nothing is written then. So a
// resumed ensemble ends where the ensemble trained in one go does, bit for bit on a
// deterministic backend.
//
// One call per training step, and one per evaluation batch, serves all members: on an
// accelerator that replaces K calls of one small model each. On the Go backend it needs
// the option ops_sequential (see goRunsOpsInParallel): with backend nil it is created so;
// see BenchmarkEnsembleStep for what it costs there.
func TrainEnsemble(ctx context.Context, backend compute.Backend, sets []*corrupt.Set, settings []Settings, outDirs []string, progress io.Writer) (results []*Result, err error) {
	err = recoverError(func() error {
		results, err = trainEnsemble(ctx, backend, sets, settings, outDirs, progress)
		return err
	})
	return results, err
}

// ensemble is the state of TrainEnsemble: the store of the joint graphs (training step,
// evaluation) and, per member, a Net (same model, own variables) that gives its initial
// weights and, at the end, holds its final ones.
//
// A study worker keeps its ensemble for the next group of runs of the same recipe
// (start), so that the graphs are compiled once per worker, as a trainer's are.
type ensemble struct {
	backend compute.Backend
	store   *gmodel.Store
	model   *models.Model
	members []*ensembleMember
	recipe  Settings     // member 0's settings when the ensemble was built
	step    *gmodel.Exec // one training step of every member
	predict *gmodel.Exec // every member's log-probabilities for one batch of images
	stacked bool         // build the members' layers stacked (models.EnsembleLogits) where the model can
	batches *batchCache  // the evaluation's images
	// optimizerStart holds the initial values of the optimizer's variables.
	optimizerStart map[*gmodel.Variable]*tensors.Tensor
	fresh          bool // nothing trained yet: the members hold their first seeds' initialization
}

// stackedEnsemble says whether ensembles on backend build the members' layers stacked, one
// batched matmul per layer for all members (the MLP), rather than one subgraph per member.
// Stacked is the form for an accelerator. On the Go backend the batched matmul loses the
// feature-major layouts of the single model: BenchmarkEnsembleStep gave 23-26 ms per
// run-step stacked against 20-21 ms per member.
var stackedEnsemble = func(backend compute.Backend) bool { return !models.IsGoBackend(backend) }

type ensembleMember struct {
	net    *Net
	set    *corrupt.Set
	s      Settings
	res    *Result
	rng    *rand.Rand
	perm   []int
	start  time.Time // when the run started, as its metrics' seconds count
	done   bool      // diverged: no longer evaluated
	prefix string
	vars   []*gmodel.Variable // the member's model variables in the joint store, in Weights order
	// lossSum and correctSum accumulate over the current epoch's steps.
	lossSum, correctSum float64
}

// memberScope is the scope of member i's variables in the joint store (its optimizer
// state lives under the optimizer's scope, by variable path).
func memberScope(i int) string { return fmt.Sprintf("member%03d", i) }

// memberPrefix is the path prefix of member i's model variables in the joint store.
func memberPrefix(i int) string { return "/" + memberScope(i) + "/" + modelScope + "/" }

func trainEnsemble(ctx context.Context, backend compute.Backend, sets []*corrupt.Set, settings []Settings, outDirs []string, progress io.Writer) ([]*Result, error) {
	prepared, err := prepareEnsemble(sets, settings, outDirs)
	if err != nil {
		return nil, err
	}
	if backend == nil {
		if backend, err = NewBackend(sequentialOps(prepared[0].Backend)); err != nil {
			return nil, err
		}
	}
	e, err := newEnsemble(backend, prepared, sets[0].Dataset.Train)
	if err != nil {
		return nil, err
	}
	if err := e.start(sets, prepared, outDirs); err != nil {
		return nil, err
	}
	results, err := e.train(ctx, progress)
	if err != nil {
		return results, err
	}
	for _, dir := range outDirs {
		if dir == "" {
			continue
		}
		if err := removeCheckpoints(dir, ""); err != nil {
			return results, err
		}
	}
	return results, nil
}

// train trains the members from their start to the end of their runs.
func (e *ensemble) train(ctx context.Context, progress io.Writer) ([]*Result, error) {
	s, step := e.members[0].s, e.step
	e.fresh = false
	p := newProgress(progress)
	start := time.Now()
	// lead is a member that trains: start put them all at its epoch and step. (The others
	// had diverged before: a resumed ensemble holds their ends.)
	var lead *ensembleMember
	diverged := 0
	for _, m := range e.members {
		m.start = m.res.startedAt(start) // its own: runs trained apart may join
		if m.done {
			diverged++
		} else if lead == nil {
			lead = m
		}
	}
	if lead == nil {
		fmt.Fprintf(p.w, "every run of the ensemble (%d) had diverged: each one's checkpoint is its end\n", len(e.members))
		return e.finish()
	}
	if resumed := lead.res.Epochs; resumed > 0 {
		start = lead.start
		note := ""
		if diverged > 0 {
			note = fmt.Sprintf(" (%d diverged before)", diverged)
		}
		fmt.Fprintf(p.w, "resuming %d runs of an ensemble after epoch %d of %d%s\n", len(e.members), resumed, s.Epochs, note)
	} else {
		inits := make([]*Weights, len(e.members))
		for i, m := range e.members {
			inits[i] = m.res.Init
		}
		m0, err := e.measure(inits, s)
		if err != nil {
			return nil, err
		}
		for i, m := range e.members {
			if m.done {
				continue
			}
			if err := m.res.record(*m0[i], m.start); err != nil {
				return nil, err
			}
		}
		e.epochLine(p, s, 0, 0, start)
	}

	n := lead.set.Len()
	bs := min(s.BatchSize, n)
	stepsPerEpoch := (n + bs - 1) / bs
	steps := lead.res.Steps
	saver := checkpointer{last: time.Now()}
	for epoch := lead.res.Epochs + 1; epoch <= s.Epochs && !e.allDone(); epoch++ {
		for _, m := range e.members {
			m.perm = m.rng.Perm(n)
			m.lossSum, m.correctSum = 0, 0
		}
		epochStart := time.Now()
		seen := 0
		for b := 0; b < stepsPerEpoch && !e.allDone(); b++ {
			if err := ctx.Err(); err != nil {
				p.clear()
				return e.results(), err
			}
			lo, hi := b*bs, min((b+1)*bs, n)
			images, labels, err := e.minibatch(lo, hi)
			if err != nil {
				return e.results(), err
			}
			if s.Optimizer.Schedule != ScheduleConstant {
				if err := setLearningRate(e.store, s.Optimizer.learningRateAt(steps, s.Epochs*stepsPerEpoch)); err != nil {
					return e.results(), err
				}
			}
			out, err := step.Call(images, labels)
			images.FinalizeAll()
			if err != nil {
				return e.results(), fmt.Errorf("experiment: ensemble training step: %w", err)
			}
			losses := tensors.MustCopyFlatData[float32](out[0])
			corrects := tensors.MustCopyFlatData[float32](out[1])
			steps++
			seen += hi - lo
			var lossMean, accMean float64
			live := 0
			for i, m := range e.members {
				if m.done {
					continue
				}
				m.res.Steps = steps
				m.lossSum += float64(losses[i]) * float64(hi-lo)
				m.correctSum += float64(corrects[i])
				if !isFinite(float64(losses[i])) {
					if err := e.diverge(i, epoch, seen, time.Since(epochStart).Seconds()); err != nil {
						return e.results(), err
					}
					p.clear()
					fmt.Fprintf(p.w, "member %d: training loss is %v at step %d: diverged, stopped\n", i, losses[i], steps)
					continue
				}
				lossMean += m.lossSum / float64(seen)
				accMean += m.correctSum / float64(seen)
				live++
			}
			if live > 0 {
				p.stepLine(epoch, s.Epochs, b+1, stepsPerEpoch, time.Since(epochStart), lossMean/float64(live), accMean/float64(live))
			}
		}
		epochSeconds := time.Since(epochStart).Seconds()
		current := make([]*Weights, len(e.members))
		for i, m := range e.members {
			if m.done {
				continue
			}
			var err error
			if current[i], err = e.weights(m); err != nil {
				return e.results(), err
			}
			m.res.Final = current[i]
		}
		metrics, err := e.measure(current, s)
		if err != nil {
			return e.results(), err
		}
		for i, m := range e.members {
			if m.done {
				continue
			}
			em := *metrics[i]
			fitLoss, fitAcc := Float(m.lossSum/float64(seen)), Float(m.correctSum/float64(seen))
			em.Epoch, em.Step, em.EpochSeconds = epoch, steps, epochSeconds
			em.FitLoss, em.FitAcc = &fitLoss, &fitAcc
			if err := m.res.record(em, m.start); err != nil {
				return e.results(), err
			}
			m.res.Epochs = epoch
		}
		if epoch < s.Epochs && saver.due() {
			if err := saver.save(func() error { return e.saveCheckpoints(epoch, steps) }); err != nil {
				return e.results(), err
			}
		}
		e.epochLine(p, s, epoch, float64(stepsPerEpoch)/epochSeconds, start)
	}
	return e.finish()
}

// finish saves each member's final weights (Result.finish) and puts them in its net.
func (e *ensemble) finish() ([]*Result, error) {
	for _, m := range e.members {
		if err := m.res.finish(); err != nil {
			return e.results(), err
		}
		if err := m.net.SetWeights(m.res.Final); err != nil {
			return e.results(), err
		}
	}
	return e.results(), nil
}

// prepareEnsemble checks the members' settings and sets, and returns the settings with
// what prepareRun fills in.
func prepareEnsemble(sets []*corrupt.Set, settings []Settings, outDirs []string) ([]Settings, error) {
	k := len(sets)
	if k == 0 || len(settings) != k || (outDirs != nil && len(outDirs) != k) {
		return nil, fmt.Errorf("experiment: ensemble of %d sets, %d settings and %d run directories", k, len(settings), len(outDirs))
	}
	prepared := make([]Settings, k)
	for i := range k {
		var err error
		if prepared[i], err = prepareRun(sets[i], settings[i]); err != nil {
			return nil, fmt.Errorf("experiment: ensemble member %d: %w", i, err)
		}
	}
	if prepared[0].StepsPerCall > 1 {
		return nil, fmt.Errorf("experiment: an ensemble takes one step per call, not %d", prepared[0].StepsPerCall)
	}
	for i := 1; i < k; i++ {
		if err := sameRecipe(prepared[0], prepared[i]); err != nil {
			return nil, fmt.Errorf("experiment: ensemble member %d: %w", i, err)
		}
		if sets[i].Dataset.Train != sets[0].Dataset.Train || sets[i].Dataset.Test != sets[0].Dataset.Test || sets[i].Len() != sets[0].Len() {
			return nil, fmt.Errorf("experiment: ensemble member %d trains on %s (%d examples), member 0 on %s (%d examples): members need the same dataset and training-set size",
				i, sets[i].Dataset.Name, sets[i].Len(), sets[0].Dataset.Name, sets[0].Len())
		}
	}
	return prepared, nil
}

// newEnsemble builds an ensemble of len(settings) members (settings prepared by
// prepareEnsemble) for images shaped as split's: each member's Net, initialized from its
// seed; the joint store holding copies of their variables; the training step, compiled
// for the batch size, and the inference graph.
func newEnsemble(backend compute.Backend, settings []Settings, split *datasets.Split) (*ensemble, error) {
	if goRunsOpsInParallel(backend) {
		return nil, fmt.Errorf(`experiment: an ensemble on the Go backend needs its option ops_sequential (backend "go:ops_sequential"): running independent ops at once, GoMLX's Go backend can deadlock on the members' matmuls`)
	}
	k := len(settings)
	e := &ensemble{backend: backend, store: gmodel.NewStore(), recipe: settings[0], stacked: stackedEnsemble(backend),
		batches: newBatchCache(backend), fresh: true}
	for i, s := range settings {
		m := &ensembleMember{s: s, prefix: memberPrefix(i)}
		var err error
		if m.net, err = NewNet(backend, s.Model, s.ModelConfig, split.Height, split.Width, split.Channels, s.Seed); err != nil {
			return nil, err
		}
		init, err := m.net.Weights()
		if err != nil {
			return nil, err
		}
		for _, t := range init.Tensors {
			v, err := e.store.CreateVariable(m.prefix+t.Name, tensors.FromFlatDataAndDimensions(t.Data, t.Shape...))
			if err != nil {
				return nil, fmt.Errorf("experiment: ensemble member %d: %w", i, err)
			}
			m.vars = append(m.vars, v.SetTrainable(t.Trainable))
		}
		e.members = append(e.members, m)
	}
	e.model = e.members[0].net.Model
	var err error
	if e.step, err = e.newTrainStep(settings[0]); err != nil {
		return nil, err
	}
	if e.predict, err = e.newPredict(); err != nil {
		return nil, err
	}
	// Compiling creates the optimizer's variables; initializing them now, before any
	// step, gives the values the next group of runs starts from.
	bs := min(settings[0].BatchSize, split.Len())
	if _, err := e.step.Compile(shapes.Make(dtypes.Uint8, k, bs, split.Height, split.Width, split.Channels), shapes.Make(dtypes.Int32, k, bs)); err != nil {
		return nil, fmt.Errorf("experiment: compiling the ensemble's training step: %w", err)
	}
	optimizer.GetGlobalStepVar(e.store) // as newTrainer has it: a member's checkpoint is a run's

	if e.optimizerStart, err = optimizerStart(e.store, backend, func(v *gmodel.Variable) bool { return strings.HasPrefix(v.Path(), "/member") }); err != nil {
		return nil, err
	}
	return e, nil
}

// fits reports whether the ensemble can train runs of settings (prepared) on split: as
// many as it has members, of its recipe.
func (e *ensemble) fits(settings []Settings, split *datasets.Split) bool {
	return len(settings) == len(e.members) && e.members[0].net.checkSplit(split) == nil &&
		sameRecipe(e.recipe, settings[0]) == nil
}

// start gives member i the run of settings[i] (prepared by prepareEnsemble, fitting the
// ensemble: see fits) on sets[i]: its initial weights from its seed, the optimizer's state
// at its start, its order of examples, and its run directory outDirs[i] (if outDirs is not
// nil).
//
// If the run directories hold checkpoints, the members resume there instead (see
// TrainEnsemble).
func (e *ensemble) start(sets []*corrupt.Set, settings []Settings, outDirs []string) error {
	k := len(e.members)
	if !e.fresh {
		if err := restoreVariables(e.optimizerStart); err != nil {
			return err
		}
	}
	dirs := make([]string, k)
	if outDirs != nil {
		copy(dirs, outDirs)
	}
	checkpoints, err := memberCheckpoints(dirs)
	if err != nil {
		return err
	}
	// The variables the members share come from the first checkpoint of a member that
	// goes on (none: they start as the optimizer's).
	sharedFrom := slices.IndexFunc(checkpoints, func(ck string) bool { return ck != "" && !isDivergedCheckpoint(ck) })
	states := make([]checkpointState, k)
	var fresh []int // members without a checkpoint: started once every restore has worked
	for i, m := range e.members {
		// A trained member's net holds its final weights; a fresh one its first seed's.
		if !e.fresh || m.s.Seed != settings[i].Seed {
			if err := m.net.reinitialize(settings[i].Seed); err != nil {
				return err
			}
		}
		m.set, m.s, m.done, m.perm = sets[i], settings[i], false, nil
		if checkpoints[i] == "" {
			fresh = append(fresh, i)
			continue
		}
		restore := func(ck string) (st checkpointState, err error) {
			states[i], err = e.restoreMember(i, ck, i == sharedFrom)
			return states[i], err
		}
		if m.res, err = resumeRun(m.net, m.set, m.s, dirs[i], checkpoints[i], restore); err != nil {
			if errors.Is(err, ErrBadCheckpoint) {
				return &memberCheckpointError{dir: dirs[i], err: err}
			}
			return err
		}
		if m.res.Status == StatusDiverged { // its end, as when it diverged
			m.done = true
			if m.res.Final, err = e.weights(m); err != nil {
				return err
			}
		}
		m.rng = dataOrderAfter(m.s.Seed, m.res.Epochs, m.set.Len())
	}
	if err := e.checkShared(dirs, checkpoints, states, sharedFrom); err != nil {
		return err
	}
	for i, m := range e.members {
		if checkpoints[i] == "" {
			continue
		}
		m.res.Config.Resumed[len(m.res.Config.Resumed)-1].Ensemble = k
		if err := m.res.saveConfig(); err != nil {
			return err
		}
	}
	for _, i := range fresh {
		m := e.members[i]
		m.rng = dataOrder(m.s.Seed)
		if m.res, err = startRun(m.net, m.set, m.s, dirs[i], k); err != nil {
			return err
		}
		for j, t := range m.res.Init.Tensors {
			if err := m.vars[j].SetValue(tensors.FromFlatDataAndDimensions(t.Data, t.Shape...)); err != nil {
				return fmt.Errorf("experiment: ensemble member %d: %w", i, err)
			}
		}
	}
	return nil
}

// checkShared checks that the members resumed from checkpoints that go on held the
// values of the variables the members share that member sharedFrom's checkpoint gave them
// all (as runs at one epoch of one recipe do, whether saved in one ensemble or apart);
// states are what their checkpoints held.
func (e *ensemble) checkShared(dirs, checkpoints []string, states []checkpointState, sharedFrom int) error {
	if sharedFrom < 0 {
		return nil
	}
	shared := slices.Sorted(maps.Keys(e.sharedVariables()))
	for i, m := range e.members {
		if i == sharedFrom || checkpoints[i] == "" || m.done {
			continue
		}
		differs := ""
		if states[i].Steps != states[sharedFrom].Steps {
			differs = "steps"
		}
		for _, path := range shared {
			if states[i].Variables[path] != states[sharedFrom].Variables[path] {
				differs = path
				break
			}
		}
		if differs != "" {
			return fmt.Errorf("%w: the checkpoints of %s and %s are not of one step of training (%s differs): delete them to train the runs from their start",
				ErrBadCheckpoint, dirs[sharedFrom], dirs[i], differs)
		}
	}
	return nil
}

// memberCheckpointError is an ErrBadCheckpoint of one member: which run directory holds
// the checkpoint that cannot be resumed (a study drops that one and keeps the others).
type memberCheckpointError struct {
	dir string
	err error
}

func (e *memberCheckpointError) Error() string { return e.err.Error() }
func (e *memberCheckpointError) Unwrap() error { return e.err }

// memberCheckpoints returns the latest checkpoint of each of dirs ("" for none). Members resume together: those that go on must all have a checkpoint of
// the same epoch, or none have one (and then hold no finished run: they start again). A
// diverged member's checkpoint, its end, goes with any.
func memberCheckpoints(dirs []string) ([]string, error) {
	checkpoints := make([]string, len(dirs))
	found, goOn := -1, -1 // the first member with a checkpoint; with one to go on from
	for i, dir := range dirs {
		if dir == "" {
			continue
		}
		var err error
		if checkpoints[i], err = latestCheckpoint(dir); err != nil {
			return nil, fmt.Errorf("experiment: %w", err)
		}
		if checkpoints[i] != "" && found < 0 {
			found = i
		}
		if checkpoints[i] != "" && goOn < 0 && !isDivergedCheckpoint(checkpoints[i]) {
			goOn = i
		}
	}
	if found < 0 {
		return checkpoints, nil
	}
	member := func(i int) string {
		if dirs[i] == "" {
			return fmt.Sprintf("member %d (no run directory)", i)
		}
		return dirs[i]
	}
	for i, ck := range checkpoints {
		switch {
		case isDivergedCheckpoint(ck):
		case ck == "" && goOn >= 0:
			return nil, fmt.Errorf("%w: the runs of an ensemble resume together, and %s has no checkpoint while %s has one: resume those with one (TrainEnsemble of them, or Train of each), or delete their checkpoints to train them all from the start",
				ErrBadCheckpoint, member(i), dirs[goOn])
		case ck == "":
			// It starts again, next to members that diverged: unless it is a finished run.
			if _, err := os.Stat(filepath.Join(dirs[i], FinalWeightsFile)); dirs[i] != "" && err == nil {
				return nil, fmt.Errorf("%w: %s holds a finished run (%s), which an ensemble with %s (the end of a run that diverged) would train again: give it a new directory",
					ErrBadCheckpoint, dirs[i], FinalWeightsFile, dirs[found])
			}
		case filepath.Base(ck) != filepath.Base(checkpoints[goOn]):
			return nil, fmt.Errorf("%w: the runs of an ensemble resume together from one epoch, and the checkpoints are %s and %s: resume the runs of each epoch apart",
				ErrBadCheckpoint, checkpoints[goOn], ck)
		}
	}
	return checkpoints, nil
}

// memberVariables returns the variables that hold member i's state, by the path the
// variable has in a run trained alone (Train's store): the member's model and optimizer
// variables, without the member's scope in their paths; the variables the members share
// (step counts, learning rate); and its net's random-number state.
func (e *ensemble) memberVariables(i int) map[string]*gmodel.Variable {
	vars := e.sharedVariables()
	own := "/" + memberScope(i) + "/"
	for v := range e.store.IterVariables() {
		if path := v.Path(); strings.Contains(path, own) {
			vars[strings.Replace(path, own, "/", 1)] = v
		}
	}
	for v := range e.members[i].net.Store.IterVariables() {
		if v.Name() == gmodel.RNGStateVariableName {
			vars[v.Path()] = v
		}
	}
	return vars
}

// memberPath matches the scope of a member in a variable's path.
var memberPath = regexp.MustCompile(`/member\d+/`)

// sharedVariables returns the variables of the joint store that are no member's, by path.
func (e *ensemble) sharedVariables() map[string]*gmodel.Variable {
	vars := map[string]*gmodel.Variable{}
	for v := range e.store.IterVariables() {
		if !memberPath.MatchString(v.Path()) {
			vars[v.Path()] = v
		}
	}
	return vars
}

// saveCheckpoints saves into the run directory of each member that is still training the
// checkpoint a run trained alone would save after epoch (saveCheckpoint): its state
// (memberVariables), copied into a store of its own. Every member's checkpoint is written
// before any is put in place, so that an error or a kill while they are written leaves
// the members at one epoch still. (A diverged member keeps the checkpoint of its end.)
func (e *ensemble) saveCheckpoints(epoch, steps int) (err error) {
	written := map[int]string{} // member -> its checkpoint's temporary folder
	defer func() {
		for _, tmp := range written { // on error: not put in place
			os.RemoveAll(tmp)
		}
	}()
	st := checkpointState{Epoch: epoch, Steps: steps}
	for i, m := range e.members {
		if m.done || m.res.Dir == "" {
			continue
		}
		st.Metrics = m.res.Metrics
		store, err := e.memberStore(i)
		if err != nil {
			return err
		}
		if written[i], err = writeCheckpoint(store, m.res.Dir, st); err != nil {
			delete(written, i)
			return err
		}
	}
	for i, m := range e.members {
		if tmp, ok := written[i]; ok {
			delete(written, i)
			if err := commitCheckpoint(m.res.Dir, tmp, st); err != nil {
				return err
			}
		}
	}
	return nil
}

// memberStore returns a store of its own holding a copy of member i's state
// (memberVariables), as a run trained alone has it: what the member's checkpoints save.
func (e *ensemble) memberStore(i int) (*gmodel.Store, error) {
	store := gmodel.NewStore()
	for path, v := range e.memberVariables(i) {
		value, err := v.Value()
		if err == nil {
			value, err = value.LocalClone()
		}
		if err == nil {
			_, err = store.CreateVariable(path, value)
		}
		if err != nil {
			return nil, fmt.Errorf("experiment: checkpoint of ensemble member %d: %s: %w", i, path, err)
		}
	}
	return store, nil
}

// restoreMember sets member i's variables (memberVariables; those the members share only
// if withShared) to the values saved in the checkpoint folder ck, which a run saved,
// alone or as a member, and returns its progress (see restoreCheckpoint).
func (e *ensemble) restoreMember(i int, ck string, withShared bool) (checkpointState, error) {
	vars := e.memberVariables(i)
	shared := e.sharedVariables()
	store := gmodel.NewStore()
	for path, v := range vars {
		if _, err := store.CreateVariable(path, tensors.FromShape(v.Shape())); err != nil {
			return checkpointState{}, fmt.Errorf("experiment: restoring ensemble member %d: %s: %w", i, path, err)
		}
	}
	st, err := restoreCheckpoint(store, ck)
	if err != nil {
		return st, err
	}
	for v := range store.IterVariables() {
		if _, ok := shared[v.Path()]; ok && !withShared {
			continue
		}
		value, err := v.Value()
		if err == nil {
			err = vars[v.Path()].SetValue(value)
		}
		if err != nil {
			return st, fmt.Errorf("experiment: restoring ensemble member %d: %s: %w", i, v.Path(), err)
		}
	}
	return st, nil
}

// sameRecipe reports how b's settings differ from a's beyond the seed and the corruption,
// which are a member's own.
func sameRecipe(a, b Settings) error {
	a.Seed, b.Seed = 0, 0
	a.Corruption, b.Corruption = corrupt.Settings{}, corrupt.Settings{}
	ja, err := json.Marshal(a)
	if err != nil {
		return err
	}
	jb, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if string(ja) != string(jb) {
		return fmt.Errorf("settings differ from member 0's beyond seed and corruption: %s", strings.Join(jsonDiff(a, b), "; "))
	}
	return nil
}

// newTrainStep compiles one step of every member: it takes images [K,B,H,W,C] and labels
// [K,B], updates all members' variables, and returns each member's mean loss and count of
// correct predictions ([K] each).
func (e *ensemble) newTrainStep(s Settings) (*gmodel.Exec, error) {
	opt, err := newOptimizer(s.Optimizer)
	if err != nil {
		return nil, err
	}
	return gmodel.NewExec(e.backend, e.store, func(scope *gmodel.Scope, images, labels *Node) (*Node, *Node) {
		g := images.Graph()
		readVariablesAtRun(scope, g)
		var total *Node
		losses := make([]*Node, len(e.members))
		corrects := make([]*Node, len(e.members))
		memberLogits := e.logits(scope, unitPixels(images), false, true)
		for i, m := range e.members {
			var objective *Node
			losses[i], objective, corrects[i] = runObjective(memberLogits[i], Squeeze(Slice(labels, AxisElem(i)), 0), m.vars, s.WeightDecay)
			if total == nil {
				total = objective
			} else {
				total = Add(total, objective)
			}
		}
		opt.UpdateGraph(scope, g, total)
		return Stack(losses, 0), Stack(corrects, 0)
	})
}

// newPredict compiles the members' inference graph: images [B,H,W,C], the same for all,
// to log-probabilities [K,B,classes].
func (e *ensemble) newPredict() (*gmodel.Exec, error) {
	return gmodel.NewExec(e.backend, e.store, func(scope *gmodel.Scope, images *Node) *Node {
		readVariablesAtRun(scope, images.Graph())
		return LogSoftmax(Stack(e.logits(scope, unitPixels(images), true, false), 0), -1)
	})
}

// logits builds every member's logits [B, classes]: stacked (models.EnsembleLogits) if
// e.stacked and the model has that form, otherwise one subgraph per member. images is
// [K, B, H, W, C], member i's being images[i], or, if shared, [B, H, W, C] for all
// members (copied K times only for the stacked form).
func (e *ensemble) logits(scope *gmodel.Scope, images *Node, shared, training bool) []*Node {
	scopes := make([]*gmodel.Scope, len(e.members))
	for i := range e.members {
		scopes[i] = scope.In("%s", memberScope(i)).In(modelScope)
	}
	out := make([]*Node, len(e.members))
	var stacked *Node
	ok := false
	if e.stacked {
		all := images
		if shared {
			all = BroadcastPrefix(images, len(e.members))
		}
		stacked, ok = e.model.EnsembleLogits(scopes, all, training)
	}
	for i := range e.members {
		switch {
		case ok:
			out[i] = Squeeze(Slice(stacked, AxisElem(i)), 0)
		case shared:
			out[i] = e.model.Logits(scopes[i], images, training)
		default:
			out[i] = e.model.Logits(scopes[i], Squeeze(Slice(images, AxisElem(i)), 0), training)
		}
	}
	return out
}

// measure evaluates the members that are not done, with one call per batch for all of
// them, and returns their metrics lines (nil for the others); weights[i] is member i's.
func (e *ensemble) measure(weights []*Weights, s Settings) ([]*EpochMetrics, error) {
	d := e.members[0].set.Dataset
	batch := e.members[0].net.passBatch(s.EvalBatchSize)
	if batch < s.EvalBatchSize { // capped for memory: the members share it
		batch = max(1, batch/len(e.members))
	}
	train, err := e.evaluate(d.Train, batch, func(*corrupt.Set) [][]uint8 { return [][]uint8{d.Train.Labels} })
	if err != nil {
		return nil, err
	}
	test, err := e.evaluate(d.Test, batch, testLabels)
	if err != nil {
		return nil, err
	}
	metrics := make([]*EpochMetrics, len(e.members))
	for i, m := range e.members {
		if m.done {
			continue
		}
		em, err := epochMetrics(m.set, train[i], test[i], m.res.Init, weights[i])
		if err != nil {
			return nil, err
		}
		metrics[i] = &em
	}
	return metrics, nil
}

// evaluate is Net.Evaluate for every member that is not done, against the label sets
// labelsOf gives for its training set.
func (e *ensemble) evaluate(split *datasets.Split, batchSize int, labelsOf func(*corrupt.Set) [][]uint8) ([][]Eval, error) {
	labels := make([][][]uint8, len(e.members))
	sums := make([][]Eval, len(e.members))
	for i, m := range e.members {
		labels[i] = labelsOf(m.set)
		sums[i] = make([]Eval, len(labels[i]))
	}
	err := e.batches.forEach(split, batchSize, func(images *tensors.Tensor, start, count int) error {
		out, err := e.predict.Call(images)
		if err != nil {
			return err
		}
		logp := out[0]
		defer logp.FinalizeAll()
		rows, classes := logp.Shape().Dim(1), logp.Shape().Dim(2)
		return tensors.ConstFlatData(logp, func(flat []float32) {
			for i, m := range e.members {
				if !m.done {
					accumulate(sums[i], flat[i*rows*classes:(i+1)*rows*classes], classes, start, count, labels[i])
				}
			}
		})
	})
	if err != nil {
		return nil, fmt.Errorf("experiment: evaluating the ensemble: %w", err)
	}
	for i := range sums {
		averaged(sums[i], split.Len())
	}
	return sums, nil
}

// minibatch gathers positions [lo, hi) of every member's order of examples: images
// [K, hi-lo, H, W, C] and labels [K, hi-lo].
func (e *ensemble) minibatch(lo, hi int) (images, labels *tensors.Tensor, err error) {
	split := e.members[0].set.Dataset.Train
	k, b, size := len(e.members), hi-lo, split.ImageSize()
	images = tensors.FromShape(shapes.Make(dtypes.Uint8, k, b, split.Height, split.Width, split.Channels))
	assigned := make([]int32, k*b)
	if err := tensors.MutableFlatData(images, func(flat []uint8) {
		for i, m := range e.members {
			gather(m.set, m.perm[lo:hi], flat[i*b*size:(i+1)*b*size], assigned[i*b:(i+1)*b])
		}
	}); err != nil {
		return nil, nil, err
	}
	return images, tensors.FromFlatDataAndDimensions(assigned, k, b), nil
}

// weights returns a host copy of member m's variables, named as in a single run.
func (e *ensemble) weights(m *ensembleMember) (*Weights, error) {
	return readWeights(m.vars, m.prefix, m.net.metadata())
}

// diverge stops member i: its weights after the step that diverged become its final
// ones. Its run directory gets the checkpoint of that end at once, in place of its last
// one: the other members go on, and an ensemble resumed later must have it as it was.
func (e *ensemble) diverge(i, epoch, seen int, epochSeconds float64) error {
	m := e.members[i]
	m.done = true
	w, err := e.weights(m)
	if err != nil {
		return err
	}
	m.res.Final = w
	if err := m.res.diverge(m.set, epoch, Float(m.lossSum/float64(seen)), Float(m.correctSum/float64(seen)), epochSeconds, m.start); err != nil {
		return err
	}
	if m.res.Dir == "" {
		return nil
	}
	store, err := e.memberStore(i)
	if err != nil {
		return err
	}
	return saveCheckpoint(store, m.res.Dir, checkpointState{Epoch: m.res.Epochs, Steps: m.res.Steps, Metrics: m.res.Metrics, Status: StatusDiverged})
}

func (e *ensemble) allDone() bool {
	for _, m := range e.members {
		if !m.done {
			return false
		}
	}
	return true
}

func (e *ensemble) results() []*Result {
	res := make([]*Result, len(e.members))
	for i, m := range e.members {
		res[i] = m.res
	}
	return res
}

// epochLine prints one line per epoch for the whole ensemble: the range of the members'
// accuracies.
func (e *ensemble) epochLine(p *progress, s Settings, epoch int, stepsPerSecond float64, start time.Time) {
	p.clear()
	var train, test []float64
	for _, m := range e.members {
		if last := m.res.Last(); last.Epoch == epoch && last.Status == StatusOK {
			train, test = append(train, float64(last.TrainAcc)), append(test, float64(last.TestAcc))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "epoch %d/%d, %d of %d runs", epoch, s.Epochs, len(train), len(e.members))
	if epoch > 0 {
		elapsed := time.Since(start)
		eta := time.Duration(float64(elapsed) / float64(epoch) * float64(s.Epochs-epoch))
		fmt.Fprintf(&b, " %.1f steps/s ETA %s", stepsPerSecond, eta.Round(time.Second))
	}
	if len(train) > 0 {
		fmt.Fprintf(&b, " train_acc %.4f-%.4f test_acc %.4f-%.4f", slices.Min(train), slices.Max(train), slices.Min(test), slices.Max(test))
	}
	fmt.Fprintln(p.w, b.String())
}
