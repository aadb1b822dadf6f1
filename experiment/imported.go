package experiment

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/compute"

	"github.com/extremepoints/esp/datasets"
)

// ImportInfo records, in an imported run's config.json, where its weights came from
// and how they scored when imported.
type ImportInfo struct {
	// From is the source file (absolute path), SHA256 its checksum, Format its format
	// (such as "pytorch-legacy").
	From   string `json:"from"`
	SHA256 string `json:"sha256"`
	Format string `json:"format"`
	// Tensors says which source tensor became which model variable.
	Tensors []TensorSource `json:"tensors"`
	// The point's accuracies on the clean training split and the test split, and its
	// norms, measured by esp when imported.
	TrainAcc      float64 `json:"train_acc"`
	TestAcc       float64 `json:"test_acc"`
	WeightNorm    float64 `json:"weight_norm"`
	WeightNormSum float64 `json:"weight_norm_sum"`
}

// TensorSource names the source tensor of a model variable.
type TensorSource struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// SaveImportedRun makes outDir a run directory for weights trained elsewhere:
// config.json, whose Imported field is info, and final.safetensors. It has no
// init.safetensors and no metrics.jsonl: the initialization and the training are not
// known. The weights are loaded into a net for settings' model on backend (nil: the Go
// backend), which checks that they fit it, and evaluated on d's clean training and test
// splits; info's accuracies and norms are filled from that. settings needs only the
// model and its configuration (classes default to d's). outDir is created and must not
// hold a run.
func SaveImportedRun(backend compute.Backend, d *datasets.Dataset, settings Settings, w *Weights, info ImportInfo, outDir string) (*RunConfig, error) {
	if err := w.CheckFinite(); err != nil {
		return nil, err
	}
	if backend == nil {
		var err error
		if backend, err = NewBackend(""); err != nil {
			return nil, err
		}
		defer backend.Finalize()
	}
	if settings.ModelConfig.Classes == 0 {
		settings.ModelConfig.Classes = d.NumClasses()
	}
	split := d.Train
	net, err := NewNet(backend, settings.Model, settings.ModelConfig, split.Height, split.Width, split.Channels, 0)
	if err != nil {
		return nil, err
	}
	if err := net.SetWeights(w); err != nil {
		return nil, err
	}
	train, test, err := net.EvaluateDataset(d, DefaultEvalBatchSize)
	if err != nil {
		return nil, fmt.Errorf("evaluating the imported weights: %w", err)
	}
	info.TrainAcc, info.TestAcc = train.Accuracy, test.Accuracy
	final, err := net.Weights()
	if err != nil {
		return nil, err
	}
	info.WeightNorm, info.WeightNormSum = final.Norm(), final.NormSum()
	settings.ModelConfig = net.Model.Config()
	settings.Dataset = d.Name
	config := newRunConfig(net, d, settings)
	config.Imported = &info
	if _, err := os.Stat(filepath.Join(outDir, ConfigFile)); err == nil {
		return nil, fmt.Errorf("%s already holds a run (%s): nothing is overwritten", outDir, ConfigFile)
	}
	js, err := json.MarshalIndent(config, "", "  ") // before writing anything
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", ConfigFile, err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	if err := SaveWeights(filepath.Join(outDir, FinalWeightsFile), final); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(outDir, ConfigFile), append(js, '\n')); err != nil {
		return nil, err
	}
	return &config, nil
}
