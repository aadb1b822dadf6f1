package analysis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/gomlx/compute"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/models"
)

// ProbeFormat is the "format" value of the probe.json files this package writes.
const ProbeFormat = "esp-probe/1"

// Names of the files of a probe directory (part of the contract: the report reads them).
const (
	ProbeInfoFile      = "probe.json"
	RestartFile        = "restart.jsonl"
	FullBatchFile      = "fullbatch.jsonl"
	InterpolateFile    = "interpolate.jsonl"
	Surface1DFile      = "surface1d.jsonl"
	Surface2DFile      = "surface2d.json"
	SharpnessFile      = "sharpness.json"
	defaultEvalBatch   = experiment.DefaultEvalBatchSize
	weightsFinal       = "final"
	weightsInit        = "init"
	runningVarianceTag = "running_var"
)

// Bounds on the probes' counts, far beyond any study (the authors took 300 full-batch
// steps; a 1,000 x 1,000 surface is a million evaluations) and small enough that what a
// probe allocates for them at its start (its α values, its grid, its trace samples) fits
// in memory: a mistyped count is refused before any work, not met by a crash or a probe
// that never ends (a surface grid of 2e9 per axis asked for tens of GB at once).
const (
	// MaxProbePoints bounds the points of a line: interpolate's and surface's 1D slice.
	MaxProbePoints = 100_000
	// MaxSurfaceGrid bounds the points per axis of the 2D surface (its square is evaluated).
	MaxSurfaceGrid = 1_000
	// MaxProbeSteps bounds full-batch steps per method, power iterations and trace samples.
	// (Lanczos steps keep a vector each: MaxLanczosSteps bounds them.)
	MaxProbeSteps = 1_000_000
)

// ErrOutputNotEmpty is returned (wrapped) when a probe's output directory already holds
// files: nothing saved is ever overwritten.
var ErrOutputNotEmpty = errors.New("output directory is not empty")

// Point names the weights a probe starts from: the final (default) or initial weights of
// a run directory written by experiment.Train, or the final weights of one written by
// experiment.SaveImportedRun.
type Point struct {
	// Run is the run directory: config.json, init.safetensors, final.safetensors.
	Run string
	// Weights is "final" (default) or "init".
	Weights string
}

// ParsePoint parses "DIR", "DIR:final" or "DIR:init".
func ParsePoint(s string) (Point, error) {
	p := Point{Run: s}
	if i := strings.LastIndex(s, ":"); i >= 0 {
		switch w := s[i+1:]; w {
		case weightsFinal, weightsInit:
			p = Point{Run: s[:i], Weights: w}
		default:
			if _, err := os.Stat(s); err != nil { // not a directory with ":" in its name
				return p, fmt.Errorf("%q: unknown weights %q of run %s: valid: init, final", s, w, s[:i])
			}
		}
	}
	if p.Run == "" {
		return p, fmt.Errorf("empty run directory in %q: want DIR[:init|final]", s)
	}
	return p, p.validate()
}

func (p Point) which() string {
	if p.Weights == "" {
		return weightsFinal
	}
	return p.Weights
}

func (p Point) validate() error {
	if w := p.which(); w != weightsFinal && w != weightsInit {
		return fmt.Errorf("invalid weights %q of run %s: valid: init, final", p.Weights, p.Run)
	}
	return nil
}

// String returns "DIR:final" or "DIR:init".
func (p Point) String() string { return p.Run + ":" + p.which() }

// WeightsPath returns the weights file the point names.
func (p Point) WeightsPath() string {
	if p.which() == weightsInit {
		return filepath.Join(p.Run, experiment.InitWeightsFile)
	}
	return filepath.Join(p.Run, experiment.FinalWeightsFile)
}

// otherDirHint says, for a directory given as a run's that is not one, what it is and
// where its runs are: a study's, a reproduction's or a probe's output ("" if none).
func otherDirHint(dir string) string {
	has := func(name string) bool { _, err := os.Stat(filepath.Join(dir, name)); return err == nil }
	switch {
	case has(experiment.StudyFile):
		return fmt.Sprintf("; it is a study directory: give one of its runs (%s), or measure them all with esp probe sharpness --study %s",
			filepath.Join(dir, experiment.RunsDir, "NAME"), dir)
	case has(StudiesDir):
		return fmt.Sprintf("; it is a reproduction's directory: its runs are in %s", filepath.Join(dir, StudiesDir, "DATASET-MODEL", experiment.RunsDir, "NAME"))
	case has(ProbeInfoFile):
		return "; it is a probe's output: give the run it probed (its probe.json names it)"
	}
	return ""
}

// LoadRunConfig reads and checks a run directory's config.json. The error names the
// file when it is missing, unreadable, or not a configuration of this toolkit's format.
func LoadRunConfig(dir string) (*experiment.RunConfig, error) {
	path := filepath.Join(dir, experiment.ConfigFile)
	if st, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("run directory %s does not exist: %w", dir, err)
	} else if err != nil {
		return nil, fmt.Errorf("run directory %s: %w", dir, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("%s is a file, not a run directory (config.json, init and final weights)", dir)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a run directory: %s is missing%s", dir, path, otherDirHint(dir))
		}
		return nil, err
	}
	var c experiment.RunConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: not an esp run configuration (damaged?): %w", path, err)
	}
	if err := c.CheckFormat(path); err != nil {
		return nil, err
	}
	var missing []string
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"settings.model", c.Settings.Model != ""}, {"dataset.name", c.Dataset.Name != ""},
		{"dataset.height/width/channels", c.Dataset.Height > 0 && c.Dataset.Width > 0 && c.Dataset.Channels > 0},
		{"toolkit_version", c.ToolkitVersion != ""},
	} {
		if !f.ok {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: not an esp run configuration of this toolkit's format (no %s): a run directory from another version or tool?",
			path, strings.Join(missing, ", "))
	}
	if err := c.Settings.Validate(); err != nil { // an unknown model, a negative subset: edited, or another version's
		return nil, fmt.Errorf("%s: invalid run settings: %w", path, err)
	}
	return &c, nil
}

// CheckPoint checks that p names a readable run configuration and weights files of this
// toolkit's format, and returns the run's configuration. Errors name the file.
func CheckPoint(p Point) (*experiment.RunConfig, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	config, err := LoadRunConfig(p.Run)
	if err != nil {
		return nil, err
	}
	if err := checkImported(p, config); err != nil {
		return nil, err
	}
	paths := []string{p.WeightsPath()}
	if config.Imported == nil {
		paths = append(paths, filepath.Join(p.Run, experiment.InitWeightsFile))
	}
	for _, path := range paths {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && path == p.WeightsPath() && p.which() == weightsFinal {
			return nil, fmt.Errorf("run %s has no %s: its training did not finish", p.Run, experiment.FinalWeightsFile)
		}
		w, err := loadWeights(path)
		if err != nil {
			return nil, err
		}
		if err := checkWeightsOf(path, w.Metadata, p.Run, config); err != nil {
			return nil, err
		}
	}
	return config, nil
}

// checkWeightsOf refuses the weights at path (meta their metadata) if they are not of the
// model the run's config.json describes (config.json edited, or files of two runs put
// together): a probe would study one model and the report file it as another. Weights
// without the model in their metadata pass.
func checkWeightsOf(path string, meta map[string]string, run string, config *experiment.RunConfig) error {
	model, raw := meta["model"], meta["model_config"]
	var mc models.Config
	if model == "" || raw == "" || json.Unmarshal([]byte(raw), &mc) != nil {
		return nil
	}
	if model != config.Settings.Model || !reflect.DeepEqual(mc, config.Settings.ModelConfig) {
		described, _ := json.Marshal(config.Settings.ModelConfig)
		return fmt.Errorf("%w: %s holds the weights of a %s %s, but %s describes a %s %s: the run's files do not belong together",
			experiment.ErrDamagedRun, path, model, raw, filepath.Join(run, experiment.ConfigFile), config.Settings.Model, described)
	}
	return nil
}

// checkImported refuses the initial weights of an imported run, which has none.
func checkImported(p Point, config *experiment.RunConfig) error {
	if config.Imported != nil && p.which() == weightsInit {
		return fmt.Errorf("%s is a run imported from %s: it has final weights only, not initial ones", p.Run, config.Imported.From)
	}
	return nil
}

// loadedPoint is a point ready to probe: a net holding its weights, and the run's
// initial weights.
type loadedPoint struct {
	point  Point
	config *experiment.RunConfig
	net    *experiment.Net
	start  *experiment.Weights // the point's weights
	init   *experiment.Weights // the run's initial weights; nil for an imported run
}

// loadWeights reads a weights file written by experiment and checks its format.
func loadWeights(path string) (*experiment.Weights, error) {
	w, err := experiment.LoadWeights(path)
	if err != nil {
		return nil, err
	}
	if f := w.Metadata["format"]; f != experiment.WeightsFormat {
		return nil, fmt.Errorf("%s: weights format %q, this toolkit reads %q", path, f, experiment.WeightsFormat)
	}
	return w, nil
}

// loadPoint reads the point's run configuration and weights and builds a net on backend
// (see probeBackend) holding them, checking that ds fits it.
func loadPoint(backend compute.Backend, p Point, ds *datasets.Dataset) (*loadedPoint, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	config, err := LoadRunConfig(p.Run)
	if err != nil {
		return nil, err
	}
	if err := checkImported(p, config); err != nil {
		return nil, err
	}
	lp := &loadedPoint{point: p, config: config}
	if lp.start, err = loadWeights(p.WeightsPath()); err != nil {
		return nil, err
	}
	if err := checkWeightsOf(p.WeightsPath(), lp.start.Metadata, p.Run, config); err != nil {
		return nil, err
	}
	if err := lp.start.CheckFinite(); err != nil {
		return nil, fmt.Errorf("%s (did the run diverge?): %w", p.WeightsPath(), err)
	}
	if lp.net, err = experiment.NetFromWeights(backend, lp.start); err != nil { // not read a second time
		return nil, fmt.Errorf("%s: %w", p.WeightsPath(), err)
	}
	if config.Imported == nil {
		if lp.init, err = loadWeights(filepath.Join(p.Run, experiment.InitWeightsFile)); err != nil {
			return nil, err
		}
		if _, _, err := experiment.Distance(lp.start, lp.init); err != nil {
			return nil, fmt.Errorf("%s: initial and final weights differ in shape: %w", p.Run, err)
		}
	}
	if err := checkProbeData(ds, lp.net); err != nil {
		return nil, fmt.Errorf("run %s: %w", p.Run, err)
	}
	return lp, nil
}

func checkProbeData(ds *datasets.Dataset, net *experiment.Net) error {
	if ds == nil || ds.Train == nil || ds.Test == nil || ds.Train.Len() == 0 || ds.Test.Len() == 0 {
		return fmt.Errorf("the dataset needs non-empty train and test splits")
	}
	if s := ds.Train; s.Height != net.Height || s.Width != net.Width || s.Channels != net.Channels {
		return fmt.Errorf("dataset %s has %dx%dx%d images, the model takes %dx%dx%d",
			ds.Name, s.Height, s.Width, s.Channels, net.Height, net.Width, net.Channels)
	}
	return nil
}

// ProbeInfo is the content of probe.json: what was probed, from where, how.
type ProbeInfo struct {
	// Probe is "restart", "fullbatch", "interpolate", "surface" or "sharpness".
	Probe  string `json:"probe"`
	Format string `json:"format"`
	// Run and Weights name the point probed (absolute run directory; "final" or "init");
	// interpolate sets From and To ("DIR:final" or "DIR:init") instead.
	Run     string `json:"run,omitempty"`
	Weights string `json:"weights,omitempty"`
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
	// RunRelative, FromRelative and ToRelative name the same directories relative to the
	// probe's own, so that a tree moved or copied as a whole still links its probes to
	// their runs.
	RunRelative  string `json:"run_relative,omitempty"`
	FromRelative string `json:"from_relative,omitempty"`
	ToRelative   string `json:"to_relative,omitempty"`
	// RunSHA256, FromSHA256 and ToSHA256 are the checksums the weights files probed
	// recorded (experiment.WeightsChecksumKey), so that a run trained again in the same
	// directory, or another run of the same name, is not taken for the probe's.
	RunSHA256  string `json:"run_sha256,omitempty"`
	FromSHA256 string `json:"from_sha256,omitempty"`
	ToSHA256   string `json:"to_sha256,omitempty"`
	// Dataset is the data probed on (after any subset).
	Dataset ProbeDataset `json:"dataset"`
	Backend string       `json:"backend"`
	// Settings are the probe's settings with defaults filled in.
	Settings       any       `json:"settings"`
	ToolkitVersion string    `json:"toolkit_version"`
	Started        time.Time `json:"started"`
	// Finished is set when the probe completed; a probe directory without it was
	// interrupted, and reports leave it out.
	Finished *time.Time `json:"finished,omitempty"`
}

// StartedFrom reports whether the probe in probeDir, whose probe.json is info, started
// from the run directory run: by the path it recorded or, the tree moved since, by the
// path it recorded relative to probeDir.
func (info *ProbeInfo) StartedFrom(probeDir, run string) bool {
	abs := absDir(run)
	if info.Run == abs || strings.HasPrefix(info.From, abs+":") {
		return true
	}
	rel := relativeDir(probeDir, run)
	return rel != "" && (info.RunRelative == rel || strings.HasPrefix(info.FromRelative, rel+":"))
}

// ProbeDataset describes the data of a probe.
type ProbeDataset struct {
	Name  string `json:"name"`
	Train int    `json:"train"`
	Test  int    `json:"test"`
}

// probeBackend returns the backend a probe runs on: backend, or for nil a Go backend of
// the probe's own, which release frees (release does nothing for a given backend).
func probeBackend(backend compute.Backend) (_ compute.Backend, release func(), err error) {
	if backend != nil {
		return backend, func() {}, nil
	}
	if backend, err = experiment.NewBackend(""); err != nil {
		return nil, nil, err
	}
	return backend, backend.Finalize, nil
}

// startPointProbe loads the point a probe starts from and starts its output directory with
// probe.json naming the point (startPointOutput).
func startPointProbe(kind string, backend compute.Backend, point Point, ds *datasets.Dataset, settings any, outDir string) (*loadedPoint, probeOutput, error) {
	lp, err := loadPoint(backend, point, ds)
	if err != nil {
		return nil, probeOutput{}, err
	}
	out, err := startPointOutput(kind, lp, ds, settings, outDir)
	if err != nil {
		return nil, probeOutput{}, err
	}
	return lp, out, nil
}

// startPointOutput starts the output directory of a probe from the loaded point lp, with
// probe.json naming the point and recording settings.
func startPointOutput(kind string, lp *loadedPoint, ds *datasets.Dataset, settings any, outDir string) (probeOutput, error) {
	info := newProbeInfo(kind, lp.net.Backend, ds, settings)
	info.Run, info.Weights = absDir(lp.point.Run), lp.point.which()
	info.RunRelative = relativeDir(outDir, lp.point.Run)
	info.RunSHA256 = lp.start.Metadata[experiment.WeightsChecksumKey]
	return startOutput(outDir, info)
}

func newProbeInfo(kind string, backend compute.Backend, ds *datasets.Dataset, settings any) ProbeInfo {
	name := "go"
	if backend != nil {
		name = backend.String()
	}
	return ProbeInfo{
		Probe: kind, Format: ProbeFormat, Backend: name, Settings: settings,
		Dataset:        ProbeDataset{Name: ds.Name, Train: ds.Train.Len(), Test: ds.Test.Len()},
		ToolkitVersion: experiment.ToolkitVersion(), Started: time.Now().UTC().Truncate(time.Second),
	}
}

func absDir(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// relativeDir returns dir relative to the probe directory probeDir, or "" when there is
// no probe directory or no relative path (another volume).
func relativeDir(probeDir, dir string) string {
	if probeDir == "" {
		return ""
	}
	rel, err := filepath.Rel(absDir(probeDir), absDir(dir))
	if err != nil {
		return ""
	}
	return filepath.ToSlash(rel)
}

// CheckOutputDir returns an error wrapping ErrOutputNotEmpty if dir holds files.
// A missing directory is fine.
func CheckOutputDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return experiment.ReadDirError(dir, err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s: %w: choose a new directory (nothing there is overwritten)", dir, ErrOutputNotEmpty)
	}
	return nil
}

// probeOutput writes a probe directory: probe.json first, then data files, each atomically,
// then probe.json again with its finishing time. A zero probeOutput (no directory) writes
// nothing.
type probeOutput struct {
	dir  string
	info ProbeInfo
}

func startOutput(dir string, info ProbeInfo) (probeOutput, error) {
	if dir == "" {
		return probeOutput{}, nil
	}
	if err := CheckOutputDir(dir); err != nil {
		return probeOutput{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return probeOutput{}, err
	}
	out := probeOutput{dir: dir, info: info}
	return out, out.writeJSON(ProbeInfoFile, info)
}

// finish marks the probe complete in probe.json: its data files are whole.
func (o probeOutput) finish() error {
	now := time.Now().UTC().Truncate(time.Second)
	o.info.Finished = &now
	return o.writeJSON(ProbeInfoFile, o.info)
}

func (o probeOutput) writeJSON(name string, v any) error {
	if o.dir == "" {
		return nil
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return datasets.WriteFileAtomic(filepath.Join(o.dir, name), append(data, '\n'))
}

// writeProbeLines rewrites a JSON-lines file whole with lines.
func writeProbeLines[T any](o probeOutput, name string, lines []T) error {
	if o.dir == "" {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	return datasets.WriteFileAtomic(filepath.Join(o.dir, name), buf.Bytes())
}

// PointEval is the mean cross-entropy and accuracy (inference mode) of a point on the
// clean training split (true labels) and on the test split.
type PointEval struct {
	TrainLoss experiment.Float `json:"train_loss"`
	TrainAcc  experiment.Float `json:"train_acc"`
	TestLoss  experiment.Float `json:"test_loss"`
	TestAcc   experiment.Float `json:"test_acc"`
}

// evalPoint evaluates net on ds's clean training and test splits.
func evalPoint(net *experiment.Net, ds *datasets.Dataset, batchSize int) (PointEval, error) {
	train, test, err := net.EvaluateDataset(ds, batchSize)
	if err != nil {
		return PointEval{}, err
	}
	return PointEval{experiment.Float(train.Loss), experiment.Float(train.Accuracy),
		experiment.Float(test.Loss), experiment.Float(test.Accuracy)}, nil
}

// evalWeights loads w into net and evaluates it.
func evalWeights(net *experiment.Net, w *experiment.Weights, ds *datasets.Dataset, batchSize int) (PointEval, error) {
	if err := net.SetWeights(w); err != nil {
		return PointEval{}, err
	}
	return evalPoint(net, ds, batchSize)
}

// Lerp returns (1-α)·a + α·b over all tensors, computed in float64 (so α = 0 and α = 1
// give a and b exactly). Non-trainable tensors (batch-norm running statistics) are
// interpolated too, the running variances clamped at 0 where extrapolation (α outside
// [0, 1]) would make them negative. a and b must hold the same tensors; the result has
// a's metadata.
func Lerp(a, b *experiment.Weights, alpha float64) (*experiment.Weights, error) {
	if err := experiment.CheckSameTensors(a, b); err != nil {
		return nil, fmt.Errorf("interpolating: %w", err)
	}
	out := a.Clone()
	for i := range out.Tensors {
		t := &out.Tensors[i]
		tb := b.Tensors[i]
		variance := !t.Trainable && strings.HasSuffix(t.Name, runningVarianceTag)
		for j, va := range t.Data {
			v := (1-alpha)*float64(va) + alpha*float64(tb.Data[j])
			if variance {
				v = math.Max(v, 0)
			}
			t.Data[j] = float32(v)
		}
	}
	return out, nil
}

// linspace returns count evenly spaced values from lo to hi (both included); computed as
// lo + (hi-lo)·i/(count-1) so that 0 and 1 come out exactly when they are on the grid.
func linspace(lo, hi float64, count int) []float64 {
	if count == 1 {
		return []float64{lo}
	}
	out := make([]float64, count)
	for i := range out {
		out[i] = lo + (hi-lo)*float64(i)/float64(count-1)
	}
	return out
}

func checkProbeRange(name string, r [2]float64) error {
	// Beyond ±1e6 steps along a normalized direction, float32 weights lose the point.
	if !finiteValue(r[0]) || !finiteValue(r[1]) || r[0] >= r[1] || math.Abs(r[0]) > 1e6 || math.Abs(r[1]) > 1e6 {
		return fmt.Errorf("invalid %s range [%v, %v]: want two finite numbers within ±1e6, the first below the second", name, r[0], r[1])
	}
	return nil
}

// count is a probe setting that counts something, by the name a message gives it.
type count struct {
	name  string
	value int
}

// checkCounts refuses the first negative count of a probe's settings, by name (0 stands for
// its default).
func checkCounts(probe string, counts ...count) error {
	for _, c := range counts {
		if c.value < 0 {
			return fmt.Errorf("%s: %s %d: want a positive count (0: the default)", probe, c.name, c.value)
		}
	}
	return nil
}

func finiteValue(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
