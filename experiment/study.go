package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/models"
	"github.com/gomlx/compute"
)

// Kinds of run in a study.
const (
	KindNormal    = "normal"
	KindCorrupted = "corrupted"
)

// StudyFormat tags study.json; a directory of another format is refused.
const StudyFormat = "esp-study/1"

// Files of a study directory.
const (
	StudyFile  = "study.json"
	ResultFile = "result.json"
	RunsDir    = "runs"
)

// Shard selects a deterministic part of a study's runs: run k of the study's fixed order
// (normal runs first, then corrupted, by index) belongs to shard k mod Count.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// ParseShard parses "I/N" with 0 <= I < N.
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	index, err1 := strconv.Atoi(i)
	count, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || count < 1 || index < 0 || index >= count {
		return Shard{}, fmt.Errorf("invalid shard %q: want I/N with 0 <= I < N, e.g. 0/4", s)
	}
	return Shard{Index: index, Count: count}, nil
}

// StudySettings describes N normal and N corrupted runs of one (dataset, model). The zero
// value of every field is its documented default.
type StudySettings struct {
	// Run is the template of every run (model, epochs, optimizer...); its Seed and
	// Corruption are set per run.
	Run Settings `json:"run"`
	// Runs is the number of runs of each kind. Required.
	Runs int `json:"runs"`
	// FirstIndex is the index of the first run of each kind, default 0. A run's seed and
	// name depend on its kind and index only, so a study of one run from FirstIndex k
	// trains run k of the study of the same settings, as that study does (a
	// reproduction trains on this way the run its probes start from).
	FirstIndex int `json:"first_index,omitempty"`
	// Kinds are the kinds of run: "normal" and/or "corrupted". Default both.
	Kinds []string `json:"kinds,omitempty"`
	// Corruption is the template of the corrupted runs' training sets (strategy, fraction,
	// copies); each corrupted run draws its labels with its own seed.
	Corruption corrupt.Settings `json:"corruption"`
	// Seed is the base seed: run seeds derive from it, the kind and the index.
	Seed uint64 `json:"seed"`
	// Workers is the number of runs trained at once, each on its own backend; the data
	// is loaded once and shared. Default DefaultWorkers(backend): on the Go backend, one
	// run per core (each run's backend gets an equal share of the cores). Not part of the
	// study's identity: a study may be resumed with other workers or shards.
	Workers int `json:"-"`
	// Ensemble is the number of runs of one kind a worker trains together, in one
	// compiled graph (see TrainEnsemble); default 1, each run alone. Like Workers, not
	// part of the study's identity: a run's result does not depend on it.
	Ensemble int `json:"-"`
	// Shard selects this process's part of the runs; the zero value means all.
	Shard Shard `json:"-"`
	// Run.StepsPerCall is not part of the study's identity either: it is how the steps
	// are launched, not which steps are taken.
}

func (s StudySettings) kinds() []string {
	if len(s.Kinds) == 0 {
		return []string{KindNormal, KindCorrupted}
	}
	return s.Kinds
}

// MaxStudyRuns bounds a study's runs of each kind (run names have room for 4 digits;
// the paper's protocol has 200).
const MaxStudyRuns = 10000

// Validate reports invalid settings, naming the valid choices.
func (s StudySettings) Validate() error {
	if s.Runs < 1 || s.Runs > MaxStudyRuns {
		return fmt.Errorf("experiment: study needs 1 to %d runs of each kind, got %d", MaxStudyRuns, s.Runs)
	}
	if s.FirstIndex < 0 || s.FirstIndex > MaxStudyRuns-s.Runs { // not FirstIndex+Runs: it could overflow
		return fmt.Errorf("experiment: the first run's index must be 0 or more, with the runs' below %d: got %d for %d runs", MaxStudyRuns, s.FirstIndex, s.Runs)
	}
	for i, k := range s.kinds() {
		if k != KindNormal && k != KindCorrupted {
			return fmt.Errorf("experiment: unknown kind of run %q: valid kinds are %s, %s", k, KindNormal, KindCorrupted)
		}
		if slices.Contains(s.kinds()[:i], k) {
			return fmt.Errorf("experiment: kind of run %q given twice", k)
		}
	}
	if s.Workers < 0 {
		return fmt.Errorf("experiment: negative workers %d", s.Workers)
	}
	if s.Ensemble < 0 {
		return fmt.Errorf("experiment: negative ensemble size %d", s.Ensemble)
	}
	if s.Ensemble > 1 && s.Run.StepsPerCall > 1 {
		return fmt.Errorf("experiment: ensembles of %d runs take one step per call, not %d: choose one of the two", s.Ensemble, s.Run.StepsPerCall)
	}
	if s.Shard.Count < 0 || (s.Shard.Count > 0 && (s.Shard.Index < 0 || s.Shard.Index >= s.Shard.Count)) {
		return fmt.Errorf("experiment: invalid shard %d/%d", s.Shard.Index, s.Shard.Count)
	}
	if err := s.Corruption.Validate(); err != nil {
		return err
	}
	return s.Run.Validate()
}

// StudyRun is one run of a study.
type StudyRun struct {
	Kind  string `json:"kind"`
	Index int    `json:"index"`
	Seed  uint64 `json:"seed"`
}

// Name is the run's directory name, e.g. "corrupted-0007".
func (r StudyRun) Name() string { return fmt.Sprintf("%s-%04d", r.Kind, r.Index) }

// Plan returns every run of the study in its fixed order (all shards).
func (s StudySettings) Plan() []StudyRun {
	var runs []StudyRun
	for _, kind := range s.kinds() {
		h := fnv.New64a()
		h.Write([]byte(kind))
		for i := s.FirstIndex; i < s.FirstIndex+s.Runs; i++ {
			runs = append(runs, StudyRun{Kind: kind, Index: i, Seed: splitmix64(s.Seed ^ h.Sum64() + uint64(i))})
		}
	}
	return runs
}

// splitmix64 scrambles a counter into a well-mixed seed.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// RunResult is a finished run's result.json.
type RunResult struct {
	StudyRun
	Status string `json:"status"`
	Epochs int    `json:"epochs"`
	Steps  int    `json:"steps"`
	// Seconds is the wall time of the run's training in the process that finished it, or
	// of its group's for runs trained as an ensemble (for a resumed run, since it
	// resumed; its metrics' seconds count from its start).
	Seconds float64      `json:"seconds"`
	Final   EpochMetrics `json:"final"`
	// FinalSHA256 is the SHA-256 of the run's final.safetensors, checked when the study
	// is read (absent in results written before it was recorded).
	FinalSHA256 string `json:"final_sha256,omitempty"`

	elsewhere bool // another process put the run in place first (not counted as trained here)
}

// studyFile is the content of study.json.
type studyFile struct {
	Format         string        `json:"format"`
	ToolkitVersion string        `json:"toolkit_version"`
	Settings       StudySettings `json:"settings"`
	Dataset        DatasetInfo   `json:"dataset"`
	// Grown records each time a command asked for more runs than the study had.
	Grown []StudyGrowth `json:"grown,omitempty"`
}

// StudyGrowth records a study grown from From to To runs of each kind, by which toolkit
// version, and when.
type StudyGrowth struct {
	From           int       `json:"from"`
	To             int       `json:"to"`
	ToolkitVersion string    `json:"toolkit_version"`
	Time           time.Time `json:"time"`
}

// StudyResult lists a study's finished runs and the ones still missing.
type StudyResult struct {
	Dir      string
	Settings StudySettings
	// Dataset is the data the study was run on, as study.json records it.
	Dataset  DatasetInfo
	Finished []RunResult
	Missing  []StudyRun
	// Trained counts the runs this call trained and put in place (0 for LoadStudy): not
	// those another process working on the same runs finished first.
	Trained int
}

// LoadStudy reads a study directory: its settings and the results of the finished runs of
// all shards.
func LoadStudy(dir string) (*StudyResult, error) { return loadStudy(dir, nil) }

// loadStudy is LoadStudy, taking the results in read (by run name) as they are: runs this
// process has read and checked already, or finished itself.
func loadStudy(dir string, read map[string]*RunResult) (*StudyResult, error) {
	sf, err := readStudyFile(dir)
	if err != nil {
		return nil, err
	}
	res := &StudyResult{Dir: dir, Settings: sf.Settings, Dataset: sf.Dataset}
	for _, r := range sf.Settings.Plan() {
		if rr, ok := read[r.Name()]; ok {
			res.Finished = append(res.Finished, *rr)
			continue
		}
		rr, err := readRunResult(filepath.Join(dir, RunsDir, r.Name()))
		if errors.Is(err, os.ErrNotExist) {
			res.Missing = append(res.Missing, r)
			continue
		}
		if err != nil {
			return nil, err
		}
		res.Finished = append(res.Finished, *rr)
	}
	return res, nil
}

// ReadStudySettings reads the settings of the study in dir from its study.json alone (no
// run is read): what it plans (StudySettings.Plan) against what is there.
func ReadStudySettings(dir string) (StudySettings, error) {
	sf, err := readStudyFile(dir)
	if err != nil {
		return StudySettings{}, err
	}
	return sf.Settings, nil
}

func readStudyFile(dir string) (*studyFile, error) {
	path := filepath.Join(dir, StudyFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var sf studyFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return nil, fmt.Errorf("%w: %s is not a study file (%v): use a new directory, or restore the file",
			ErrStudyMismatch, path, err)
	}
	if sf.Format != StudyFormat {
		return nil, fmt.Errorf("%w: %s has format %q, this toolkit reads %q: a study directory from another version; use a new directory",
			ErrStudyMismatch, path, sf.Format, StudyFormat)
	}
	return &sf, nil
}

// fileSHA256 hashes a run's final weights: the cost of reading a study grows with its
// runs' sizes (a test counts the calls).
var fileSHA256 = datasets.FileSHA256

// afterClaims is called by a study worker with the runs it took, before it trains them:
// a test holds two callers there together.
var afterClaims = func([]StudyRun) {}

// newStudyBackend makes a study worker's backend (a test counts the calls).
var newStudyBackend = NewBackend

func readRunResult(runDir string) (*RunResult, error) {
	data, err := os.ReadFile(filepath.Join(runDir, ResultFile))
	if errors.Is(err, os.ErrNotExist) {
		if _, statErr := os.Stat(runDir); statErr == nil {
			// A run's directory appears whole (it is renamed into place when finished),
			// so a damaged one was damaged afterwards: say so rather than count or
			// retrain it.
			return nil, fmt.Errorf("%w: %s has no %s: delete %s to train the run again",
				ErrDamagedRun, runDir, ResultFile, runDir)
		}
	}
	if err != nil {
		return nil, err
	}
	var rr RunResult
	if err := json.Unmarshal(data, &rr); err != nil {
		return nil, fmt.Errorf("%w: %s is not a run result (%v): delete %s to train the run again",
			ErrDamagedRun, filepath.Join(runDir, ResultFile), err, runDir)
	}
	for _, file := range []string{FinalWeightsFile, ConfigFile, MetricsFile, InitWeightsFile} {
		if _, err := os.Stat(filepath.Join(runDir, file)); err != nil {
			return nil, fmt.Errorf("%w: %s has a result but no %s: delete %s to train the run again",
				ErrDamagedRun, runDir, file, runDir)
		}
	}
	if err := checkRunMetrics(runDir, &rr); err != nil {
		return nil, err
	}
	weights := filepath.Join(runDir, FinalWeightsFile)
	if rr.FinalSHA256 != "" {
		got, err := fileSHA256(weights)
		if err != nil {
			return nil, fmt.Errorf("experiment: reading %s: %w", weights, err)
		}
		if got != rr.FinalSHA256 {
			return nil, fmt.Errorf("%w: %s changed after the run finished (sha256 %s, %s records %s): delete %s to train the run again",
				ErrDamagedRun, weights, got, ResultFile, rr.FinalSHA256, runDir)
		}
	}
	return &rr, nil
}

// checkRunMetrics refuses a finished run whose metrics.jsonl is not the one it finished
// with: a line per epoch up to its last (and the line of the epoch it diverged in), that
// last line its result's. A file cut short, even at a line's end, made the run look
// stopped early to the report, while the study counted it finished.
func checkRunMetrics(runDir string, rr *RunResult) error {
	path := filepath.Join(runDir, MetricsFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("experiment: reading %s: %w", path, err)
	}
	damaged := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s %s: delete %s to train the run again", ErrDamagedRun, path, fmt.Sprintf(format, args...), runDir)
	}
	var metrics []EpochMetrics
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var m EpochMetrics
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return damaged("line %d is not a metrics line (%v)", i+1, err)
		}
		if m.Epoch != i { // a diverged run's last line is the epoch it diverged in
			return damaged("line %d is epoch %d, want %d", i+1, m.Epoch, i)
		}
		metrics = append(metrics, m)
	}
	want := rr.Epochs + 1
	if rr.Status == StatusDiverged {
		want++
	}
	if len(metrics) != want {
		return damaged("has %d lines, %s records %d epochs (%s): want %d", len(metrics), ResultFile, rr.Epochs, rr.Status, want)
	}
	last, _ := json.Marshal(metrics[len(metrics)-1])
	final, _ := json.Marshal(rr.Final)
	if string(last) != string(final) {
		return damaged("ends with other metrics than %s records", ResultFile)
	}
	return nil
}

// CheckStudyDir accepts a directory that is missing, holds study.json, or holds only
// what a study starting at the same time (another shard) makes before its study.json: an
// empty runs folder and temporary files. A command checks it before loading data: an
// --out that is another kind of directory (a run's, the data cache) is refused with
// ErrForeignDir, and so are runs left without their study.json.
func CheckStudyDir(dir string) error {
	if err := CheckResumableDir(dir, StudyFile, "a study directory", RunsDir); err != nil {
		return err
	}
	return checkOrphanRuns(dir)
}

// checkOrphanRuns refuses runs without a study.json (deleted): their study's settings are
// lost, and resuming would mix two studies. RunStudy checks it (other files may be
// there: a caller's markers, such as a reproduction's point.json).
func checkOrphanRuns(dir string) error {
	// runs/ first: another process on the study writes study.json before any run, so
	// runs read before a missing study.json are orphans, not that process's first.
	runs, err := os.ReadDir(filepath.Join(dir, RunsDir))
	if err != nil {
		return nil // none
	}
	if _, err := os.Stat(filepath.Join(dir, StudyFile)); err == nil {
		return nil
	}
	for _, r := range runs {
		if !strings.HasPrefix(r.Name(), ".") { // not a temporary directory or a claim
			return fmt.Errorf("%w: %s holds runs (%s) but no %s: choose a new directory (nothing there is overwritten)",
				ErrForeignDir, dir, r.Name(), StudyFile)
		}
	}
	return nil
}

// ErrDamagedRun is returned for a finished run whose files were changed after it finished.
var ErrDamagedRun = errors.New("damaged run")

// ErrStudyMismatch is returned when a study directory holds a study with other settings.
var ErrStudyMismatch = errors.New("study directory holds another study")

// checkStudyInput reports a dataset whose images the study's model cannot take.
func checkStudyInput(s Settings, ds *datasets.Dataset) error {
	m, err := models.New(s.Model, s.ModelConfig)
	if err != nil {
		return err
	}
	return m.CheckInput(ds.Train.Height, ds.Train.Width, ds.Train.Channels)
}

// RunStudy trains the runs of a study that this shard owns and that are not finished yet,
// Workers at a time, into dir (see the package documentation for the layout). ds is the
// dataset as the runs see it (the caller applies any subset); it is shared read-only by the
// workers, each of which has its own backend. It resumes: a finished run (its directory with
// result.json) is never trained again, and an interrupted one, left as a temporary
// directory, resumes from its checkpoint (in an ensemble with the runs at the same epoch,
// if Ensemble allows) or, without one, is trained anew. Several processes with different
// shards may share dir.
//
// progress gets a line per finished run (nil: none); the runs' per-epoch lines are not
// shown. Cancelling ctx stops every worker within a training step and returns ctx's error
// with the result so far; the runs it interrupted leave temporary directories with their
// checkpoints.
func RunStudy(ctx context.Context, ds *datasets.Dataset, s StudySettings, dir string, progress io.Writer) (*StudyResult, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if ds == nil {
		return nil, errors.New("experiment: RunStudy needs a dataset, got nil")
	}
	if err := ds.Validate(); err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	s = s.normalized(ds)
	if err := checkStudyInput(s.Run, ds); err != nil {
		return nil, err // before the study's folder is made
	}
	if err := checkOrphanRuns(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, RunsDir), 0o755); err != nil {
		return nil, err
	}
	if err := claimStudyDir(dir, s, ds); err != nil {
		return nil, err
	}
	if progress == nil {
		progress = io.Discard
	}
	progress = &lockedWriter{w: progress} // the workers write their lines to it at once
	plan := s.Plan()
	var pending []StudyRun
	read := map[string]*RunResult{} // this shard's finished runs, each hashed once
	for k, r := range plan {
		if s.Shard.Count > 1 && k%s.Shard.Count != s.Shard.Index {
			continue
		}
		rr, err := readRunResult(filepath.Join(dir, RunsDir, r.Name()))
		if err == nil {
			read[r.Name()] = rr
			continue
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err // a damaged run: before any training, not after
		}
		pending = append(pending, r)
	}
	withTemps, err := runsWithTemps(dir)
	if err != nil {
		return nil, err
	}
	resumeFrom := map[string]string{} // run name -> its checkpoint, in the temporary folder kept
	for _, r := range pending {
		if !withTemps[r.Name()] {
			continue
		}
		ck, err := removeStale(dir, r, true)
		if err != nil {
			return nil, err
		}
		if ck != "" {
			resumeFrom[r.Name()] = ck
		}
	}
	// A finished run's temporary directories are another process's that trained it too
	// and was killed (a job started twice): nothing resumes them, so they go now; so does
	// what a process killed between putting its run in place and tidying up left.
	for name, rr := range read {
		if withTemps[name] {
			if _, err := removeStale(dir, rr.StudyRun, false); err != nil {
				return nil, err
			}
		}
		if err := tidyFinishedRun(dir, rr.StudyRun); err != nil {
			return nil, err
		}
	}
	groups := s.groups(pending, resumeFrom)
	shardNote := ""
	if s.Shard.Count > 1 {
		shardNote = fmt.Sprintf(", shard %d/%d", s.Shard.Index, s.Shard.Count)
	}
	if len(groups) == 0 {
		// Nothing to train: no backend is made, so that a finished study reads back on a
		// machine without the backend it was trained on.
		fmt.Fprintf(progress, "study %s: 0 of %d runs to train%s\n", dir, len(plan), shardNote)
		return loadStudy(dir, read)
	}
	workers := min(s.workers(), len(groups))
	backendName := workerBackend(s.Run.Backend, workers)
	if s.Ensemble > 1 {
		backendName = sequentialOps(backendName) // see goRunsOpsInParallel
	}
	ensembleNote := ""
	if s.Ensemble > 1 {
		ensembleNote = fmt.Sprintf(", ensembles of up to %d runs", s.Ensemble)
	}
	resumeNote := ""
	if len(resumeFrom) > 0 {
		resumeNote = fmt.Sprintf(" (%d with a checkpoint to resume from)", len(resumeFrom))
	}
	fmt.Fprintf(progress, "study %s: %d of %d runs to train%s%s, %d workers on backend %s%s\n",
		dir, len(pending), len(plan), resumeNote, shardNote, workers, backendName, ensembleNote)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan []StudyRun)
	var (
		mu       sync.Mutex
		firstErr error
		done     int // runs put in place, here or by another process
		trained  int // runs put in place here
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		// One backend per worker: the Go backend's worker pool then divides the cores
		// between runs instead of letting every run contend for all of them.
		backend, err := newStudyBackend(backendName)
		if err != nil {
			cancel()
			close(jobs)
			wg.Wait()
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer backend.Finalize()
			w := &studyWorker{backend: backend}
			for group := range jobs {
				results, err := w.trainRuns(ctx, ds, s, dir, group, resumeFrom, progress)
				mu.Lock()
				if err != nil {
					if firstErr == nil && ctx.Err() == nil {
						firstErr = fmt.Errorf("run %s: %w", groupName(group), err)
					}
					cancel()
				}
				if len(results) > 0 { // the group's runs put in place, if an error stopped the rest
					// An ensemble's runs finish together: the ETA counts them all as done.
					before := done
					done += len(results)
					elapsed := time.Since(start)
					eta := time.Duration(float64(elapsed) / float64(done) * float64(len(pending)-done))
					for k, rr := range results {
						read[rr.Name()] = rr
						note := ""
						if rr.elsewhere {
							note = "; another process finished it first: its result kept"
						} else {
							trained++
						}
						fmt.Fprintf(progress, "%s: %s after %d epochs, train_acc %.4f test_acc %.4f, %.1fs (%d/%d, ETA %s%s)\n",
							rr.Name(), rr.Status, rr.Epochs, float64(rr.Final.TrainAcc), float64(rr.Final.TestAcc), rr.Seconds,
							before+k+1, len(pending), eta.Round(time.Second), note)
					}
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, g := range groups {
		select {
		case jobs <- g:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	res, err := loadStudy(dir, read)
	if err != nil {
		return nil, err
	}
	res.Trained = trained
	return res, ctx.Err()
}

// lockedWriter serializes the writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// DefaultWorkers is the number of runs a study trains at once when Workers is 0: on the
// Go backend, two runs with one core each beat one run on two cores (see
// BenchmarkStudyWorkers); on XLA, one run at a time.
func DefaultWorkers(backend string) int {
	if plainGoBackend(backend) {
		return max(1, runtime.GOMAXPROCS(0))
	}
	return 1
}

func (s StudySettings) workers() int {
	if s.Workers > 0 {
		return s.Workers
	}
	return DefaultWorkers(s.Run.WithDefaults().Backend)
}

// workerBackend is the backend each of n workers uses: the plain Go backend is given an
// equal share of the cores; anything else is taken as named.
func workerBackend(name string, n int) string {
	if plainGoBackend(name) && n > 1 {
		return fmt.Sprintf("go:parallelism=%d", max(1, runtime.GOMAXPROCS(0)/n))
	}
	if name == "" {
		return "go"
	}
	return name
}

// normalized fills in defaults so that two spellings of the same study compare equal.
func (s StudySettings) normalized(ds *datasets.Dataset) StudySettings {
	if s.Run.Dataset == "" {
		s.Run.Dataset = ds.Name
	}
	s.Run = s.Run.WithDefaults()
	s.Kinds = s.kinds()
	s.Corruption = s.Corruption.Canonical()
	return s
}

// claimStudyDir creates study.json, or checks that the one there describes the same study.
// The file is created with a hard link, which fails if it exists, so that of two shards
// starting at once exactly one writes it and the other checks it.
func claimStudyDir(dir string, s StudySettings, ds *datasets.Dataset) error {
	s.Run.StepsPerCall = 0 // like Workers and Ensemble, not part of the study's identity
	want := studyFile{Format: StudyFormat, ToolkitVersion: ToolkitVersion(), Settings: s,
		Dataset: DatasetInfo{Name: ds.Name, Classes: ds.NumClasses(), Train: ds.Train.Len(), Test: ds.Test.Len(),
			Height: ds.Train.Height, Width: ds.Train.Width, Channels: ds.Train.Channels}}
	path := filepath.Join(dir, StudyFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		data, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			return err
		}
		tmp, err := os.CreateTemp(dir, ".tmp-study-*.json")
		if err != nil {
			return err
		}
		werr := tmp.Chmod(0o644) // CreateTemp makes it 0600: the directory may be shared
		if werr == nil {
			_, werr = tmp.Write(append(data, '\n'))
		}
		if werr == nil {
			werr = tmp.Sync() // linked in place below: never an empty study.json after a crash
		}
		if cerr := tmp.Close(); werr == nil {
			werr = cerr
		}
		if werr == nil {
			if err := os.Link(tmp.Name(), path); err == nil {
				os.Remove(tmp.Name())
				return nil
			} else if !errors.Is(err, os.ErrExist) {
				werr = err
			}
		}
		os.Remove(tmp.Name())
		if werr != nil {
			return fmt.Errorf("experiment: writing %s: %w", path, werr)
		}
		// Another process created it first: check it like any existing one.
	}
	existing, err := readStudyFile(dir)
	if err != nil {
		return err
	}
	existing.Settings.Corruption = existing.Settings.Corruption.Canonical() // as recorded before Canonical
	recorded := existing.Settings
	recorded.Runs = s.Runs // compared below: a study may grow
	if diffs := jsonDiff(recorded, s); len(diffs) > 0 {
		return fmt.Errorf("%w: %s differs from this command in %s; resume with the same settings (only runs, to grow the study, and workers, ensemble, steps per call and shard may change), or use a new directory",
			ErrStudyMismatch, path, strings.Join(diffs, ", "))
	}
	if diffs := jsonDiff(existing.Dataset, want.Dataset); len(diffs) > 0 {
		return fmt.Errorf("%w: %s was run on other data: %s", ErrStudyMismatch, path, strings.Join(diffs, ", "))
	}
	switch {
	case s.Runs < existing.Settings.Runs:
		return fmt.Errorf("%w: %s has %d runs of each kind, this command %d: a study grows (%d runs or more) but does not shrink; a report reads the runs finished so far",
			ErrStudyMismatch, path, existing.Settings.Runs, s.Runs, existing.Settings.Runs)
	case s.Runs > existing.Settings.Runs:
		return growStudy(path, existing, s.Runs)
	}
	return nil
}

// growStudy rewrites the study file at path (sf, as read) for runs runs of each kind,
// recording the growth. A run's seed and name depend on its kind and index only, so the
// finished runs stay the first runs of the larger study.
func growStudy(path string, sf *studyFile, runs int) error {
	sf.Grown = append(sf.Grown, StudyGrowth{From: sf.Settings.Runs, To: runs, ToolkitVersion: ToolkitVersion(), Time: time.Now().UTC()})
	sf.Settings.Runs = runs
	data, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'))
}

// jsonDiff lists the fields in which a and b differ, as "path: A recorded, B now".
func jsonDiff(recorded, now any) []string {
	flat := func(v any) map[string]string {
		data, _ := json.Marshal(v)
		var tree any
		json.Unmarshal(data, &tree)
		out := map[string]string{}
		var walk func(prefix string, v any)
		walk = func(prefix string, v any) {
			if m, ok := v.(map[string]any); ok && len(m) > 0 {
				for k, x := range m {
					walk(strings.TrimPrefix(prefix+"."+k, "."), x)
				}
				return
			}
			js, _ := json.Marshal(v)
			out[prefix] = string(js)
		}
		walk("", tree)
		return out
	}
	a, b := flat(recorded), flat(now)
	var diffs []string
	for k, va := range a {
		if vb, ok := b[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: %s recorded, unset now", k, va))
		} else if va != vb {
			diffs = append(diffs, fmt.Sprintf("%s: %s recorded, %s now", k, va, vb))
		}
	}
	for k, vb := range b {
		if _, ok := a[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: unset recorded, %s now", k, vb))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// tempPrefix names the temporary directories of a run: ".tmp-NAME-".
func tempPrefix(r StudyRun) string { return ".tmp-" + r.Name() + "-" }

// mkdirRunTemp makes a new temporary directory for run r in the study directory dir,
// readable by all (0755) as the run directory it becomes: MkdirTemp makes it 0700, which
// would keep the finished run from the others sharing the results directory.
func mkdirRunTemp(dir string, r StudyRun) (string, error) {
	tmp, err := os.MkdirTemp(filepath.Join(dir, RunsDir), tempPrefix(r))
	if err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// runsWithTemps returns the names of the runs that have temporary directories in the
// study directory dir: only they need removeStale.
func runsWithTemps(dir string) (map[string]bool, error) {
	entries, err := os.ReadDir(filepath.Join(dir, RunsDir))
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), ".tmp-")
		if i := strings.LastIndex(rest, "-"); ok && e.IsDir() && i > 0 {
			names[rest[:i]] = true // .tmp-NAME-RANDOM (tempPrefix)
		}
	}
	return names, nil
}

// removeStale removes the temporary directories an interrupted process left for run r
// but, with resume, the one holding the latest checkpoint, and returns that checkpoint's
// folder ("" if none): the run resumes there. A directory a live process holds
// (runLockFile: another process on the same shard, or one started twice) is left alone:
// removing it under that process, or taking its checkpoint over, stopped it with an error.
func removeStale(dir string, r StudyRun, resume bool) (checkpoint string, err error) {
	runs := filepath.Join(dir, RunsDir)
	entries, err := os.ReadDir(runs)
	if err != nil {
		return "", err
	}
	var stale []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix(r)) {
			continue
		}
		path := filepath.Join(runs, e.Name())
		lock, err := lockRunTemp(path)
		if errors.Is(err, errTempLost) {
			continue // a live process's
		}
		if err == nil {
			defer lock.Close() // held while it is removed
		}
		stale = append(stale, path)
		if !resume {
			continue
		}
		if ck, err := latestCheckpoint(path); err == nil && ck != "" && (checkpoint == "" || filepath.Base(ck) > filepath.Base(checkpoint)) {
			checkpoint = ck
		}
	}
	for _, path := range stale {
		if path == filepath.Dir(checkpoint) {
			continue
		}
		if err := os.RemoveAll(path); err != nil {
			return "", err
		}
	}
	return checkpoint, nil
}

// claimFile is the file whose lock (flock) the process training run r holds while it
// trains it: runs/.claim-NAME.
func claimFile(dir string, r StudyRun) string {
	return filepath.Join(dir, RunsDir, ".claim-"+r.Name())
}

// claimRun takes run r for this process and returns the file holding its claim (closing
// it releases the claim), or nil if another live process holds it or r is finished. The
// claim is checked and taken at once, so processes started together do not both take a
// run, as two that each looked for the other's temporary directory first could. The
// kernel releases a killed process's claim; one released and removed while this call
// waited for it is not taken (lockFile), so the next process's claim is the only one.
func claimRun(dir string, r StudyRun) (*os.File, error) {
	f, err := lockFile(claimFile(dir, r))
	if errors.Is(err, errTempLost) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("experiment: claiming %s: %w", r.Name(), err)
	}
	if _, err := os.Stat(filepath.Join(dir, RunsDir, r.Name(), ResultFile)); err == nil {
		releaseLock(f) // finished by another process meanwhile
		return nil, nil
	}
	return f, nil
}

// releaseLock removes the lock file f (lockFile's), then releases its lock: a process
// that had opened it and gets the lock then finds it gone from its path (lockFile's
// SameFile check), and takes no lock on a file no longer there.
func releaseLock(f *os.File) {
	os.Remove(f.Name())
	f.Close()
}

// tidyFinishedRun removes what a process killed just after it put the finished run r in
// place left behind: its claim, and the run's checkpoints and lock file (removed last,
// so a lock file there says the checkpoints may be left). A live process's are left to it.
// Tidying is no reason to fail: a study this process may not write to (another user's, a
// read-only copy) is read as it is.
func tidyFinishedRun(dir string, r StudyRun) error {
	if err := removeUnheld(claimFile(dir, r), nil); err != nil && !unwritable(err) {
		return fmt.Errorf("experiment: removing %s's claim: %w", r.Name(), err)
	}
	runDir := filepath.Join(dir, RunsDir, r.Name())
	if err := removeUnheld(filepath.Join(runDir, runLockFile), func() error { return removeCheckpoints(runDir, "") }); err != nil && !unwritable(err) {
		return fmt.Errorf("experiment: tidying %s: %w", r.Name(), err)
	}
	return nil
}

// unwritable reports whether err says a file may not be written or removed here.
func unwritable(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
}

// removeUnheld removes the lock file at path (and first, if not nil, calls before while
// holding it), unless it is missing or a live process holds it.
func removeUnheld(path string, before func() error) error {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil // the usual case: nothing made, nothing locked
	}
	f, err := lockFile(path)
	if errors.Is(err, errTempLost) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if before != nil {
		if err := before(); err != nil {
			return err
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// heldElsewhere reports whether another process holds run r now: a temporary directory of
// r it holds locked (an earlier esp's, which took no claims; claimRun checked the rest).
func heldElsewhere(dir string, r StudyRun) (bool, error) {
	entries, err := os.ReadDir(filepath.Join(dir, RunsDir))
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), tempPrefix(r)) {
			continue
		}
		lock, err := lockRunTemp(filepath.Join(dir, RunsDir, e.Name()))
		switch {
		case errors.Is(err, errTempLost):
			return true, nil
		case err == nil:
			lock.Close() // an interrupted process's: claimRunTemp takes its checkpoint over
		}
	}
	return false, nil
}

// runLockFile is the file of a run's temporary directory that the process training the
// run there holds locked (flock), so that the others sharing the study directory tell
// it from a directory an interrupted process left. It is removed once the run is in place.
const runLockFile = ".lock"

// errTempLost is lockFile's error for a lock file another process holds, or that was
// removed or replaced (its directory removed or renamed) before this one could lock it.
var errTempLost = errors.New("experiment: temporary directory held by another process")

// lockRunTemp locks the temporary run directory tmp for this process (its runLockFile).
func lockRunTemp(tmp string) (*os.File, error) { return lockFile(filepath.Join(tmp, runLockFile)) }

// lockFile locks the file at path (made if missing) for this process and returns it
// (closing it releases the lock), or errTempLost. Where the file system has no locks,
// TryLock takes none and reports success: the processes are then not kept apart.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errTempLost
	}
	if err != nil {
		return nil, err
	}
	locked, err := datasets.TryLock(f) // true without an error where there are no locks
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("experiment: locking %s: %w", path, err)
	}
	if !locked {
		f.Close()
		return nil, errTempLost
	}
	// Still there under that name: not removed or renamed by another process meanwhile.
	held, err1 := f.Stat()
	now, err2 := os.Stat(path)
	if err1 != nil || err2 != nil || !os.SameFile(held, now) {
		f.Close()
		return nil, errTempLost
	}
	return f, nil
}

// claimRunTemp returns run r's temporary directory in the study directory dir, locked
// for this process (lockRunTemp's file): the folder of the checkpoint ck (removeStale's;
// "" for none), renamed to a name of this call's, or a new directory if there is none or
// another process took it first.
func claimRunTemp(dir string, r StudyRun, ck string) (string, *os.File, error) {
	for try := 0; ; try++ {
		tmp, err := mkdirRunTemp(dir, r)
		if err != nil {
			return "", nil, err
		}
		if ck != "" {
			// Renamed to a name of this call's: a second process on the same shard
			// cannot take it over too (one that already did makes the rename fail).
			// os.Rename does not replace a folder: the new name is freed for it first.
			if err := os.Remove(tmp); err != nil {
				return "", nil, err
			}
			if os.Rename(filepath.Dir(ck), tmp) != nil { // taken over already: start afresh
				if err := os.Mkdir(tmp, 0o755); err != nil {
					return "", nil, err
				}
			} else if err := os.Chmod(tmp, 0o755); err != nil { // left 0700 by an older version
				return "", nil, err
			}
			ck = "" // taken over or not, once
		}
		lock, err := lockRunTemp(tmp)
		if errors.Is(err, errTempLost) && try < 10 {
			continue // another process took it before this one locked it: a new one
		}
		if err != nil {
			if !errors.Is(err, errTempLost) {
				os.RemoveAll(tmp)
			}
			return "", nil, err
		}
		return tmp, lock, nil
	}
}

// groups splits runs into the groups a worker trains at once: consecutive runs of one
// kind, up to Ensemble of them (1 by default), that start together (joinStarts): from the
// start, or from checkpoints of one epoch (resumeFrom holds a run's checkpoint folder).
func (s StudySettings) groups(runs []StudyRun, resumeFrom map[string]string) [][]StudyRun {
	size := max(1, s.Ensemble)
	var groups [][]StudyRun
	var starts []string // each group's start
	for _, r := range runs {
		from := startsFrom(resumeFrom[r.Name()])
		if n := len(groups); n > 0 && len(groups[n-1]) < size && groups[n-1][0].Kind == r.Kind {
			if start, ok := joinStarts(starts[n-1], from); ok {
				groups[n-1], starts[n-1] = append(groups[n-1], r), start
				continue
			}
		}
		groups, starts = append(groups, []StudyRun{r}), append(starts, from)
	}
	return groups
}

// groupName names a group of runs in messages: "corrupted-0004" or "corrupted-0004..0007".
func groupName(group []StudyRun) string {
	if len(group) == 1 {
		return group[0].Name()
	}
	return fmt.Sprintf("%s..%04d", group[0].Name(), group[len(group)-1].Index)
}

// studyWorker is one of a study's workers: its backend, the trainer of the last run it
// trained alone and the last ensemble it trained, which the next runs take over if they
// fit (the same recipe, as every run of a study has; for an ensemble, as many runs), so
// that the worker compiles its graphs once.
type studyWorker struct {
	backend  compute.Backend
	trainer  *trainer
	ensemble *ensemble
}

// train trains one run of settings on set alone, as Train does, on the worker's trainer.
func (w *studyWorker) train(ctx context.Context, set *corrupt.Set, settings Settings, outDir string) (res *Result, err error) {
	err = recoverError(func() error {
		s, err := prepareRun(set, settings)
		if err != nil {
			return err
		}
		if w.trainer == nil || !w.trainer.fits(s, set.Dataset.Train) {
			w.trainer = nil
			if w.trainer, err = newTrainer(w.backend, s, set.Dataset.Train); err != nil {
				return err
			}
		}
		res, err = w.trainer.train(ctx, set, s, outDir, nil)
		return err
	})
	if err != nil {
		w.trainer = nil // its variables may be anywhere
	}
	return res, err
}

// trainEnsemble trains runs of settings on sets as one ensemble, as TrainEnsemble does,
// on the worker's ensemble.
func (w *studyWorker) trainEnsemble(ctx context.Context, sets []*corrupt.Set, settings []Settings, outDirs []string) (results []*Result, err error) {
	err = recoverError(func() error {
		prepared, err := prepareEnsemble(sets, settings, outDirs)
		if err != nil {
			return err
		}
		if w.ensemble == nil || !w.ensemble.fits(prepared, sets[0].Dataset.Train) {
			w.ensemble = nil
			if w.ensemble, err = newEnsemble(w.backend, prepared, sets[0].Dataset.Train); err != nil {
				return err
			}
		}
		if err := w.ensemble.start(sets, prepared, outDirs); err != nil {
			return err
		}
		results, err = w.ensemble.train(ctx, nil)
		return err
	})
	if err != nil {
		w.ensemble = nil
	}
	return results, err
}

// trainRuns trains a group of runs, alone or (more than one) as an ensemble, each in a
// temporary directory that is renamed into place when it is finished. A run with a
// checkpoint in resumeFrom (removeStale's) takes over the temporary directory that holds
// it, and resumes there. Runs that start at different epochs (a takeover that failed, a
// checkpoint dropped) train apart, each part as one ensemble. A checkpoint
// that cannot be resumed is dropped, with a line to progress, and its run trained from
// the start.
func (w *studyWorker) trainRuns(ctx context.Context, ds *datasets.Dataset, s StudySettings, dir string, group []StudyRun,
	resumeFrom map[string]string, progress io.Writer) ([]*RunResult, error) {
	// Two processes on one study without shards (a job started twice, or a job's copies
	// started at once) share its runs: a run the other finished, or holds now, is left to it.
	var mine []StudyRun
	var claims []*os.File // mine's claimRun locks, held until their runs are in place
	defer func() {
		for _, c := range claims {
			releaseLock(c)
		}
	}()
	for _, r := range group {
		claim, err := claimRun(dir, r)
		if err != nil {
			return nil, err
		}
		taken := claim == nil
		if !taken {
			if taken, err = heldElsewhere(dir, r); err != nil {
				releaseLock(claim)
				return nil, err
			}
			if taken {
				releaseLock(claim)
			} else {
				claims = append(claims, claim)
			}
		}
		if taken {
			fmt.Fprintf(progress, "%s: another process is training it or has finished it: left to that process\n", r.Name())
			continue
		}
		mine = append(mine, r)
	}
	group = mine
	afterClaims(group)
	settings := make([]Settings, len(group))
	sets := make([]*corrupt.Set, len(group))
	tmps := make([]string, len(group))
	locks := make([]*os.File, len(group)) // holding tmps[i] for this process (lockRunTemp)
	done := make([]bool, len(group))      // trained and put in place (or another process's kept)
	for i, r := range group {
		settings[i] = s.Run
		settings[i].Seed = r.Seed
		sets[i] = corrupt.Clean(ds)
		if r.Kind == KindCorrupted {
			settings[i].Corruption = s.Corruption
			settings[i].Corruption.Seed = r.Seed
			var err error
			if sets[i], err = corrupt.Build(ds, settings[i].Corruption); err != nil {
				return nil, err
			}
		}
		var err error
		if tmps[i], locks[i], err = claimRunTemp(dir, r, resumeFrom[r.Name()]); err != nil {
			return nil, err
		}
		defer func() { // a no-op once renamed; an interrupted run's checkpoint stays
			if done[i] || !HasCheckpoint(tmps[i]) {
				os.RemoveAll(tmps[i])
			}
			locks[i].Close()
		}()
	}
	var finished []*RunResult
	pending := make([]int, len(group)) // positions in group
	for i := range pending {
		pending[i] = i
	}
	for len(pending) > 0 {
		part, rest := sameStart(pending, tmps)
		start := time.Now()
		results, err := w.trainPart(ctx, part, sets, settings, tmps)
		if errors.Is(err, ErrBadCheckpoint) {
			// A checkpoint is only a head start: the one that cannot be resumed (of the
			// part, if the error does not say which) is dropped, and its run trained from
			// its start in a new directory; the others keep theirs.
			bad, cause := part, err
			var member *memberCheckpointError
			if errors.As(err, &member) {
				if k := slices.IndexFunc(part, func(i int) bool { return tmps[i] == member.dir }); k >= 0 {
					bad = part[k : k+1]
				}
			}
			for _, i := range bad {
				fmt.Fprintf(progress, "%s: dropping its checkpoint, training it from the start: %v\n", group[i].Name(), cause)
				os.RemoveAll(tmps[i])
				locks[i].Close()
				if tmps[i], locks[i], err = claimRunTemp(dir, group[i], ""); err != nil {
					return finished, err
				}
			}
			continue
		}
		if err != nil {
			return finished, err
		}
		seconds := time.Since(start).Seconds()
		for k, i := range part {
			r, res := group[i], results[k]
			rr := &RunResult{StudyRun: r, Status: res.Status, Epochs: res.Epochs, Steps: res.Steps,
				Seconds: seconds, Final: res.Last()}
			var err error
			if rr.FinalSHA256, err = fileSHA256(filepath.Join(tmps[i], FinalWeightsFile)); err != nil {
				return finished, fmt.Errorf("experiment: hashing %s's final weights: %w", r.Name(), err)
			}
			data, err := json.MarshalIndent(rr, "", "  ")
			if err != nil {
				return finished, err
			}
			if err := writeFileAtomic(filepath.Join(tmps[i], ResultFile), append(data, '\n')); err != nil {
				return finished, err
			}
			if err := removeTempFiles(tmps[i]); err != nil { // a killed process's, in the folder taken over
				return finished, err
			}
			final := filepath.Join(dir, RunsDir, r.Name())
			if err := os.Rename(tmps[i], final); err != nil {
				if _, statErr := os.Stat(filepath.Join(final, ResultFile)); statErr != nil {
					return finished, err
				}
				// another process finished the same run first: keep its copy, and report it
				if rr, err = readRunResult(final); err != nil {
					return finished, err
				}
				rr.elsewhere = true
			} else if err := removeCheckpoints(final, ""); err != nil {
				return finished, err // only now: until the rename, they are all of the run there is
			} else if err := os.Remove(filepath.Join(final, runLockFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return finished, err
			}
			done[i] = true
			finished = append(finished, rr)
		}
		pending = rest
	}
	return finished, nil
}

// startsFrom says where a run with the checkpoint folder ck ("" for none) starts: "" for
// its start, else the checkpoint's name ("checkpoint-e000012"); anyStart for a run that
// diverged as an ensemble's member (its checkpoint is its end, restored as it was in an
// ensemble of any runs).
func startsFrom(ck string) string {
	switch {
	case ck == "":
		return ""
	case isDivergedCheckpoint(ck):
		return anyStart
	}
	return filepath.Base(ck)
}

// anyStart is startsFrom for a run that has nothing left to train.
const anyStart = "*"

// joinStarts says whether runs that start from a and from b (startsFrom) train together,
// and if so, where they start.
func joinStarts(a, b string) (string, bool) {
	switch {
	case a == anyStart:
		return b, true
	case b == anyStart || a == b:
		return a, true
	}
	return "", false
}

// sameStart splits the runs at positions pending into those that start together with the
// first (joinStarts: from the start, or from a checkpoint of the same epoch in their
// directory tmps[i]) and the rest.
func sameStart(pending []int, tmps []string) (part, rest []int) {
	start := anyStart
	for _, i := range pending {
		ck, _ := latestCheckpoint(tmps[i])
		if joined, ok := joinStarts(start, startsFrom(ck)); ok {
			part, start = append(part, i), joined
		} else {
			rest = append(rest, i)
		}
	}
	return part, rest
}

// trainPart trains the runs at positions part of a group, alone or as an ensemble, and
// returns their results in part's order.
func (w *studyWorker) trainPart(ctx context.Context, part []int, sets []*corrupt.Set, settings []Settings, tmps []string) ([]*Result, error) {
	if len(part) == 1 {
		i := part[0]
		res, err := w.train(ctx, sets[i], settings[i], tmps[i])
		return []*Result{res}, err
	}
	partSets, partSettings, partDirs := make([]*corrupt.Set, len(part)), make([]Settings, len(part)), make([]string, len(part))
	for k, i := range part {
		partSets[k], partSettings[k], partDirs[k] = sets[i], settings[i], tmps[i]
	}
	return w.trainEnsemble(ctx, partSets, partSettings, partDirs)
}

// SortedKinds returns the kinds of a study's finished runs, for summaries.
func (r *StudyResult) SortedKinds() []string {
	var kinds []string
	for _, f := range r.Finished {
		if !slices.Contains(kinds, f.Kind) {
			kinds = append(kinds, f.Kind)
		}
	}
	sort.Strings(kinds)
	return kinds
}
