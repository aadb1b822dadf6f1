package experiment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"time"
)

// Float is a float64 that encodes NaN and ±Inf as JSON null (JSON has no such numbers)
// and decodes null as NaN.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	if !isFinite(float64(f)) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	return json.Unmarshal(b, (*float64)(f))
}

// Run statuses.
const (
	StatusOK       = "ok"
	StatusDiverged = "diverged"
)

// EpochMetrics is one line of metrics.jsonl: the state after an epoch (epoch 0 is the
// initialization point). Accuracies are fractions in [0, 1]; losses are mean
// cross-entropies (without the weight decay term); norms are over trainable
// parameters only.
type EpochMetrics struct {
	Epoch int `json:"epoch"`
	// Step is the number of optimizer steps taken so far.
	Step int `json:"step"`
	// TrainLoss and TrainAcc are measured on the clean training split, true labels.
	TrainLoss Float `json:"train_loss"`
	TrainAcc  Float `json:"train_acc"`
	// CorruptedAcc is the accuracy on the test images against their assigned wrong
	// labels (the fit to the corruption); absent for normal runs.
	CorruptedAcc *Float `json:"corrupted_acc,omitempty"`
	TestLoss     Float  `json:"test_loss"`
	TestAcc      Float  `json:"test_acc"`
	// FitLoss and FitAcc are the means over the epoch's minibatches of the training
	// loss and accuracy on the set trained on (copies and assigned labels included),
	// in training mode; absent at epoch 0.
	FitLoss *Float `json:"fit_loss,omitempty"`
	FitAcc  *Float `json:"fit_acc,omitempty"`
	// WeightNorm is the global L2 norm; WeightNormSum the sum of per-tensor Frobenius
	// norms (the authors' "weight norm").
	WeightNorm    Float `json:"weight_norm"`
	WeightNormSum Float `json:"weight_norm_sum"`
	// DistFromInit and DistFromInitSum are the same two norms of w - w0.
	DistFromInit    Float `json:"dist_from_init"`
	DistFromInitSum Float `json:"dist_from_init_sum"`
	// Seconds is the wall time since training started; EpochSeconds that of this
	// epoch's training steps (evaluation excluded).
	Seconds      float64 `json:"seconds"`
	EpochSeconds float64 `json:"epoch_seconds"`
	// Status is "ok" or "diverged" (a non-finite training loss stopped the run).
	Status string `json:"status"`
}

// UnmarshalJSON implements json.Unmarshaler. An optional field written as null (not
// finite: a diverged epoch's) reads back as NaN, as it was, not as absent.
func (m *EpochMetrics) UnmarshalJSON(b []byte) error {
	type fields EpochMetrics // without this method
	if err := json.Unmarshal(b, (*fields)(m)); err != nil {
		return err
	}
	var present struct {
		CorruptedAcc json.RawMessage `json:"corrupted_acc"`
		FitLoss      json.RawMessage `json:"fit_loss"`
		FitAcc       json.RawMessage `json:"fit_acc"`
	}
	if err := json.Unmarshal(b, &present); err != nil {
		return err
	}
	for _, f := range []struct {
		raw json.RawMessage
		ptr **Float
	}{{present.CorruptedAcc, &m.CorruptedAcc}, {present.FitLoss, &m.FitLoss}, {present.FitAcc, &m.FitAcc}} {
		if string(f.raw) == "null" {
			nan := Float(math.NaN())
			*f.ptr = &nan
		}
	}
	return nil
}

// EncodeMetrics returns the metrics as JSON lines.
func EncodeMetrics(metrics []EpochMetrics) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, m := range metrics {
		if err := enc.Encode(m); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// DatasetInfo describes the data of a run.
type DatasetInfo struct {
	Name      string `json:"name"`
	Classes   int    `json:"classes"`
	Train     int    `json:"train"`
	Test      int    `json:"test"`
	Height    int    `json:"height"`
	Width     int    `json:"width"`
	Channels  int    `json:"channels"`
	Source    string `json:"source,omitempty"`
	TrainSet  int    `json:"train_set"` // examples trained on, copies included
	Corrupted bool   `json:"corrupted"`
}

// RunFormat tags config.json. A run directory of another format (a later toolkit's) is
// refused by CheckFormat; one without it was written before the tag and reads as this one.
const RunFormat = "esp-run/1"

// ErrRunFormat is returned for a run directory whose config.json has another format: one
// written by another version of the toolkit, which this one would misread.
var ErrRunFormat = errors.New("run directory of another format")

// RunConfig is the content of config.json: everything needed to rerun a run.
type RunConfig struct {
	// Format is RunFormat (absent in runs written before it was recorded).
	Format             string      `json:"format,omitempty"`
	Settings           Settings    `json:"settings"`
	Dataset            DatasetInfo `json:"dataset"`
	Backend            string      `json:"backend"`
	BackendDescription string      `json:"backend_description"`
	ToolkitVersion     string      `json:"toolkit_version"`
	GoMLXVersion       string      `json:"gomlx_version"`
	GoVersion          string      `json:"go_version"`
	Started            time.Time   `json:"started"`
	// Ensemble is the number of runs trained together with this one in one compiled
	// graph (TrainEnsemble); absent for a run trained alone.
	Ensemble int `json:"ensemble,omitempty"`
	// Resumed lists the times the run, interrupted, was resumed from its checkpoint (see
	// Train), with what resumed it; absent for a run trained in one go. The fields above
	// describe the start.
	Resumed []ResumeRecord `json:"resumed,omitempty"`
	// Imported is set for a run whose weights were trained elsewhere and imported
	// (SaveImportedRun): such a run has final weights only.
	Imported *ImportInfo `json:"imported,omitempty"`
}

// ResumeRecord is one resumption of a run: after which epoch, with what settings (they
// may differ from the start's in steps per call only), backend and versions, when, and
// in how large an ensemble.
type ResumeRecord struct {
	AfterEpoch         int       `json:"after_epoch"`
	Settings           Settings  `json:"settings"`
	Backend            string    `json:"backend"`
	BackendDescription string    `json:"backend_description"`
	ToolkitVersion     string    `json:"toolkit_version"`
	GoMLXVersion       string    `json:"gomlx_version"`
	At                 time.Time `json:"at"`
	// Ensemble is the number of runs resumed together with this one in one compiled
	// graph (TrainEnsemble); absent for a run resumed alone.
	Ensemble int `json:"ensemble,omitempty"`
}

// versions returns the toolkit's version (module version, else VCS revision, else
// "devel"), GoMLX's and Go's, from the binary's build information.
func versions() (toolkit, gomlx, goVersion string) {
	toolkit, gomlx, goVersion = "devel", "unknown", "unknown"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	goVersion = info.GoVersion
	const module = "github.com/extremepoints/esp"
	if info.Main.Path == module && info.Main.Version != "" && info.Main.Version != "(devel)" {
		toolkit = info.Main.Version
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && toolkit == "devel" {
			toolkit = "devel+" + s.Value
		}
	}
	for _, d := range info.Deps {
		switch d.Path {
		case "github.com/gomlx/gomlx":
			gomlx = d.Version
		case module:
			toolkit = d.Version
		}
	}
	return
}

// CheckFormat refuses a configuration, read from path, of another format than RunFormat.
func (c *RunConfig) CheckFormat(path string) error {
	switch {
	case c.Format == "" || c.Format == RunFormat:
		return nil
	case strings.HasPrefix(c.Format, "esp-run/"):
		return fmt.Errorf("%w: %s has format %q, this toolkit reads %q: the run was written by another version of esp; use that version, or train it again",
			ErrRunFormat, path, c.Format, RunFormat)
	}
	return fmt.Errorf("%w: %s: not an esp run configuration of this toolkit's format (format %q, want %q)", ErrRunFormat, path, c.Format, RunFormat)
}
