package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/torchstate"
)

// runImport makes a run directory from a PyTorch state dict, so that probes can start
// from a point trained elsewhere (the authors' published points, a PyTorch peer's).
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", stderr, "import --from STATE_DICT.pt --dataset D --model M --out DIR")
	var data dataFlags
	data.register(fs)
	from := fs.String("from", "", "PyTorch state dict (torch.save(model.state_dict()), legacy or zip format)")
	dataset := fs.String("dataset", "", "dataset the model takes: "+strings.Join(datasets.Names(), ", ")+", or an imported image folder")
	model := fs.String("model", "", "model: "+strings.Join(torchstate.Models(), ", "))
	backendName := fs.String("backend", os.Getenv("GOMLX_BACKEND"), "compute backend of the evaluation: "+strings.Join(experiment.BackendNames, ", ")+" (default $GOMLX_BACKEND, else go)")
	out := fs.String("out", "", "run directory to create (must be new or empty)")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("unexpected arguments %q", rest)
	}
	switch {
	case *from == "":
		return usagef("--from is required: a PyTorch state dict file")
	case *dataset == "":
		return usagef("--dataset is required: %s, or an imported image folder", strings.Join(datasets.Names(), ", "))
	case *model == "":
		return usagef("--model is required: %s", strings.Join(torchstate.Models(), ", "))
	}
	if !slices.Contains(torchstate.Models(), *model) {
		return usagef("cannot import onto model %q: valid models are %s", *model, strings.Join(torchstate.Models(), ", "))
	}
	if err := data.validate(); err != nil {
		return err
	}
	if err := checkOutDir(*out); err != nil {
		return err
	}
	if st, err := os.Stat(*from); err == nil && st.IsDir() {
		return usagef("--from %s is a directory: give the state dict file (torch.save(model.state_dict(), PATH))", *from)
	}
	sd, err := torchstate.Load(*from)
	if err != nil {
		return badInput(err)
	}
	backend, err := experiment.NewBackend(*backendName)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	ds, err := data.load(ctx, *dataset, stderr)
	if err != nil {
		return err
	}
	config, err := torchstate.ModelConfig(*model, sd, ds.NumClasses())
	if err != nil {
		return badInput(err)
	}
	net, err := experiment.NewNet(backend, *model, config, ds.Train.Height, ds.Train.Width, ds.Train.Channels, 0)
	if err != nil {
		return badInput(err)
	}
	template, err := net.Weights()
	if err != nil {
		return err
	}
	w, mapping, err := torchstate.Weights(sd, template)
	if err != nil {
		return badInput(fmt.Errorf("%s does not fit %s on %s: %w%s", *from, *model, ds.Name, err, inputSizeHint(*model, sd, ds)))
	}
	abs, err := filepath.Abs(*from)
	if err != nil {
		return err
	}
	sum, err := datasets.FileSHA256(*from)
	if err != nil {
		return err
	}
	info := experiment.ImportInfo{From: abs, SHA256: sum, Format: sd.Format, Tensors: mapping}
	settings := experiment.Settings{Dataset: *dataset, Subset: data.subset, Model: *model, ModelConfig: config}
	fmt.Fprintf(stderr, "importing %s (%s, %d tensors) as %s on %s -> %s\n", *from, sd.Format, len(sd.Tensors), *model, ds.Name, *out)
	rc, err := experiment.SaveImportedRun(backend, ds, settings, w, info, *out)
	if errors.Is(err, experiment.ErrNonFiniteWeights) {
		return fmt.Errorf("%s: %w", *from, err)
	}
	if err != nil {
		return err
	}
	im := rc.Imported
	fmt.Fprintf(stdout, "imported: train_acc %.4f test_acc %.4f weight_norm %.2f weight_norm_sum %.2f\nrun directory: %s\n",
		im.TrainAcc, im.TestAcc, im.WeightNorm, im.WeightNormSum, *out)
	return nil
}

// inputSizeHint says, for an MLP whose first layer takes another number of inputs than
// the dataset's images have pixels, that the file was trained on images of another size.
func inputSizeHint(model string, sd *torchstate.StateDict, ds *datasets.Dataset) string {
	pixels := ds.Train.Height * ds.Train.Width * ds.Train.Channels
	if model != "mlp" || len(sd.Tensors) == 0 || len(sd.Tensors[0].Shape) != 2 || sd.Tensors[0].Shape[1] == pixels {
		return ""
	}
	return fmt.Sprintf(": its MLP takes %d inputs, and %s's %dx%dx%d images have %d: import it with the dataset it was trained on",
		sd.Tensors[0].Shape[1], ds.Name, ds.Train.Height, ds.Train.Width, ds.Train.Channels, pixels)
}
