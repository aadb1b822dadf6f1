package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/gomlx/compute"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/models"
)

// InterpolateSettings configures Interpolate. The zero value of every field is its default.
type InterpolateSettings struct {
	// Range is the interval of α, both ends included. Default [-0.5, 1.5] (the zero
	// value, an empty interval, selects it).
	Range [2]float64 `json:"range"`
	// Points is the number of evenly spaced α values. Default 21 (steps of 0.1 over
	// the default range, 0 and 1 included).
	Points int `json:"points,omitempty"`
	// EvalBatchSize is the batch size of evaluation passes. Default 1000.
	EvalBatchSize int `json:"eval_batch_size,omitempty"`
}

// WithDefaults returns s with every zero field replaced by its default.
func (s InterpolateSettings) WithDefaults() InterpolateSettings {
	if s.Range == [2]float64{} {
		s.Range = [2]float64{-0.5, 1.5}
	}
	if s.Points == 0 {
		s.Points = 21
	}
	if s.EvalBatchSize == 0 {
		s.EvalBatchSize = defaultEvalBatch
	}
	return s
}

// Validate reports invalid settings.
func (s InterpolateSettings) Validate() error {
	s = s.WithDefaults()
	if err := checkCounts("interpolate", count{"evaluation batch size", s.EvalBatchSize}); err != nil {
		return err
	}
	if s.Points < 2 {
		return fmt.Errorf("interpolate: %d points: want at least 2", s.Points)
	}
	if s.Points > MaxProbePoints {
		return fmt.Errorf("interpolate: %d points: at most %d", s.Points, MaxProbePoints)
	}
	return checkProbeRange("interpolate α", s.Range)
}

// InterpolationPoint is one line of interpolate.jsonl: the point w(α) = (1-α)·A + α·B.
type InterpolationPoint struct {
	Alpha float64 `json:"alpha"`
	PointEval
}

// Interpolate evaluates loss and accuracy on the clean training split and the test split
// of ds along the line w(α) = (1-α)·from + α·to, for s.Points values of α over s.Range
// (α = 0 is from, α = 1 is to). The two points must be weights of the same model.
// Batch-norm running statistics are interpolated like the parameters (see Lerp), so
// that each w(α) is a consistent network at both ends of the segment.
//
// backend nil means the Go backend. If outDir is not empty it is created (it must not
// hold files) and receives probe.json (naming both points as "from" and "to") and
// interpolate.jsonl. Progress lines go to progress (nil: none).
func Interpolate(ctx context.Context, backend compute.Backend, from, to Point, ds *datasets.Dataset, s InterpolateSettings, outDir string, progress io.Writer) ([]InterpolationPoint, error) {
	backend, release, err := probeBackend(backend)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.WithDefaults()
	if err := to.validate(); err != nil {
		return nil, err
	}
	a, err := loadPoint(backend, from, ds)
	if err != nil {
		return nil, err
	}
	if _, err := LoadRunConfig(to.Run); err != nil {
		return nil, err
	}
	b, err := loadWeights(to.WeightsPath())
	if err != nil {
		return nil, err
	}
	if err := sameModel(a.start, b); err != nil {
		return nil, fmt.Errorf("interpolate %s and %s: %w", from, to, err)
	}
	info := newProbeInfo("interpolate", a.net.Backend, ds, s)
	info.From, info.To = absDir(from.Run)+":"+from.which(), absDir(to.Run)+":"+to.which()
	info.FromSHA256, info.ToSHA256 = a.start.Metadata[experiment.WeightsChecksumKey], b.Metadata[experiment.WeightsChecksumKey]
	if rel := relativeDir(outDir, from.Run); rel != "" {
		info.FromRelative = rel + ":" + from.which()
	}
	if rel := relativeDir(outDir, to.Run); rel != "" {
		info.ToRelative = rel + ":" + to.which()
	}
	out, err := startOutput(outDir, info)
	if err != nil {
		return nil, err
	}
	progress = orDiscard(progress)
	var lines []InterpolationPoint
	for _, alpha := range linspace(s.Range[0], s.Range[1], s.Points) {
		if err := ctx.Err(); err != nil {
			return lines, err
		}
		w, err := Lerp(a.start, b, alpha)
		if err != nil {
			return lines, err
		}
		e, err := evalWeights(a.net, w, ds, s.EvalBatchSize)
		if err != nil {
			return lines, err
		}
		lines = append(lines, InterpolationPoint{Alpha: alpha, PointEval: e})
		fmt.Fprintf(progress, "interpolate α=%.3f: train_loss %.4f train_acc %.4f test_loss %.4f test_acc %.4f\n",
			alpha, float64(e.TrainLoss), float64(e.TrainAcc), float64(e.TestLoss), float64(e.TestAcc))
		if err := writeProbeLines(out, InterpolateFile, lines); err != nil {
			return lines, err
		}
	}
	return lines, out.finish()
}

// ErrIncompatiblePoints is returned for two points that are not weights of one model
// (architecture, configuration, input shape).
var ErrIncompatiblePoints = errors.New("not points of one model")

// sameModel checks that two weights are of the same model (name, configuration with its
// defaults, input shape) with the same tensors (names and sizes).
func sameModel(a, b *experiment.Weights) error {
	for _, key := range []string{"model", "input_shape"} {
		if a.Metadata[key] != b.Metadata[key] {
			return fmt.Errorf("%w: %s %s and %s", ErrIncompatiblePoints, key, a.Metadata[key], b.Metadata[key])
		}
	}
	var ca, cb models.Config
	if json.Unmarshal([]byte(a.Metadata["model_config"]), &ca) == nil && json.Unmarshal([]byte(b.Metadata["model_config"]), &cb) == nil {
		if ca, cb = ca.WithDefaults(), cb.WithDefaults(); ca != cb {
			return fmt.Errorf("%w: model configurations %+v and %+v", ErrIncompatiblePoints, ca, cb)
		}
	}
	if _, _, err := experiment.Distance(a, b); err != nil {
		return fmt.Errorf("%w: %v", ErrIncompatiblePoints, err)
	}
	return nil
}
