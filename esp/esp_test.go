package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/extremepoints/esp/analysis"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/models"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	if os.Getenv("ESP_TEST_AS_COMMAND") == "1" { // tests that start esp as a real process
		ctx, stop := interruptible()
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	testscript.Main(m, map[string]func(){
		"esp": func() {
			code := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
			if code != exitOK {
				fmt.Fprintf(os.Stderr, "[exit %d]\n", code) // for scripts: stderr '\[exit 2\]'
			}
			os.Exit(code)
		},
	})
}

// flipByte is the script command "flipbyte FILE OFFSET": it inverts the byte at OFFSET
// of FILE (from its end when negative), as a disk or a copy gone wrong would.
func flipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET")
	}
	path := ts.MkAbs(args[0])
	data, err := os.ReadFile(path)
	ts.Check(err)
	offset, err := strconv.Atoi(args[1])
	ts.Check(err)
	if offset < 0 {
		offset += len(data)
	}
	if offset < 0 || offset >= len(data) {
		ts.Fatalf("offset %s outside the %d bytes of %s", args[1], len(data), args[0])
	}
	data[offset] ^= 0xff
	ts.Check(os.WriteFile(path, data, 0o644))
}

// TestScripts runs the command-line scripts in testdata/script. Each starts with
// $WORK/pets, a small image folder of two classes, PyTorch state dicts from
// torchstate's fixtures ($WORK/mlp_legacy.pt and resnet_zip_f16.pt fit pets) and
// ESP_DATA_DIR=$WORK/cache.
// Condition [realdata:NAME] holds when the user's cache has NAME verified; $REALDATA
// names that cache.
func TestScripts(t *testing.T) {
	realDir := datasets.DefaultDataDir()
	testscript.Run(t, testscript.Params{
		Dir:  "testdata/script",
		Cmds: map[string]func(*testscript.TestScript, bool, []string){"flipbyte": flipByte, "imagefolder": imageFolder},
		Setup: func(env *testscript.Env) error {
			env.Setenv("ESP_DATA_DIR", filepath.Join(env.WorkDir, "cache"))
			env.Setenv("REALDATA", realDir)
			for _, f := range []string{"mlp_legacy.pt", "lenet_zip.pt", "resnet_zip_f16.pt"} { // PyTorch state dicts for import.txtar
				data, err := os.ReadFile(filepath.Join("..", "torchstate", "testdata", f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(env.WorkDir, f), data, 0o644); err != nil {
					return err
				}
			}
			return writePetsFolder(filepath.Join(env.WorkDir, "pets"))
		},
		Condition: func(cond string) (bool, error) {
			name, ok := strings.CutPrefix(cond, "realdata:")
			if !ok {
				return false, nil
			}
			return datasets.CacheStatus(name, datasets.Options{DataDir: realDir}).Verified(), nil
		},
	})
}

// imageFolder is the script command "imagefolder DIR SIDE": it writes into DIR an image
// folder as $WORK/pets, of SIDE x SIDE images.
func imageFolder(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: imagefolder DIR SIDE")
	}
	side, err := strconv.Atoi(args[1])
	ts.Check(err)
	ts.Check(writeImageFolder(ts.MkAbs(args[0]), side))
}

// writePetsFolder writes train/{cat,dog}/ with 3 images each and test/{cat,dog}/ with 2,
// of 6x6 pixels.
func writePetsFolder(root string) error { return writeImageFolder(root, 6) }

// writeImageFolder writes the pets folder with images of side x side pixels.
func writeImageFolder(root string, side int) error {
	for c, class := range []string{"cat", "dog"} {
		for split, n := range map[string]int{"train": 3, "test": 2} {
			dir := filepath.Join(root, split, class)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for i := range n {
				img := image.NewGray(image.Rect(0, 0, side, side))
				for p := range img.Pix {
					img.Pix[p] = uint8(40*c + 10*i + p)
				}
				var buf bytes.Buffer
				if err := png.Encode(&buf, img); err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, string(rune('a'+i))+".png"), buf.Bytes(), 0o644); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// TestExitCodes checks that every kind of bad input exits with 2 and names the valid choices.
func TestExitCodes(t *testing.T) {
	t.Setenv("ESP_DATA_DIR", t.TempDir())
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{nil, exitUsage, "Usage: esp COMMAND"},
		{[]string{"bogus"}, exitUsage, "valid commands are data, import, models, probe, report, reproduce, run, setup-gpu, train, version"},
		{[]string{"data"}, exitUsage, "valid subcommands are fetch, list, show"},
		{[]string{"data", "-h"}, exitOK, "Usage: esp data list|fetch|show"},
		{[]string{"help", "train"}, exitOK, "Usage: esp train --dataset D"},
		{[]string{"help", "data", "fetch"}, exitOK, "Usage: esp data fetch DATASET..."}, // printed esp's own usage
		{[]string{"help", "probe", "restart"}, exitOK, "Usage: esp probe restart --run DIR"},
		{[]string{"version", "extra"}, exitUsage, "version takes no arguments"},
		{[]string{"probe", "restart", "--run", "x", "--momentum", "0.9", "--out", "y"}, exitUsage, "--momentum is SGD's"},
		{[]string{"probe", "fullbatch", "--run", "x", "--lr", "0.5", "--out", "y"}, exitUsage, "give the one of --method adam"},
		{[]string{"probe", "fullbatch", "--run", "x", "--method", "gd", "--adam-lr", "0.01", "--out", "y"}, exitUsage, "give the one of --method gd"},
		{[]string{"train", "--dataset", "mnist", "--model", "lenet", "--hidden", "64", "--out", "x"}, exitUsage, "--hidden is a flag of --model mlp, not of lenet"},
		{[]string{"train", "--dataset", "mnist", "--model", "mlp", "--shortcut-3x3", "--out", "x"}, exitUsage, "--shortcut-3x3 is a flag of --model resnet"},
		{[]string{"train", "--dataset", "mnist", "--model", "mlp", "--momentum", "0.9", "--out", "x"}, exitUsage, "--momentum is SGD's (--optimizer sgd), not adam's"},
		{[]string{"train", "--dataset", "mnist", "--model", "mlp", "--corrupt-seed", "3", "--out", "x"}, exitUsage, "--corrupt-seed needs --corrupt"},
		{[]string{"run", "--dataset", "mnist", "--model", "mlp", "--runs", "2", "--kinds", "normal", "--corrupt", "random", "--out", "x"}, exitUsage, "--corrupt is for corrupted runs, but --kinds is normal"},
		{[]string{"run", "--dataset", "mnist", "--model", "mlp", "--runs", "2", "--corrupt-seed", "4", "--out", "x"}, exitUsage, "a study derives each run's corruption seed from --seed"},
		{[]string{"run", "--dataset", "mnist", "--model", "mlp", "--runs", "100000000000", "--out", "x"}, exitUsage, "at most 10000 runs of each kind"},
		{[]string{"train", "--dataset", "mnist", "--model", "mlp", "--epochs", "0", "--out", "x"}, exitUsage, "--epochs 0: want a value above 0 (leave the flag out for its default)"},
		{[]string{"probe", "fullbatch", "--run", "x", "--lr", "0.0", "--out", "y"}, exitUsage, "--lr 0: want a value above 0"},
		{[]string{"probe", "fullbatch", "--run", "x", "--method", "gd", "--lr", "fast", "--out", "y"}, exitUsage, `invalid value "fast" for flag -lr: want a learning rate, auto or adaptive`},
		{[]string{"probe", "fullbatch", "--run", "x", "--method", "gd", "--lr", "adaptive", "--out", "y"}, exitUsage, "an adaptive GD step is 1/λ_max wherever λ_max is measured along the descent: give --sharpness-every N (SharpnessEvery) too"},
		{[]string{"probe", "fullbatch", "--run", "x", "--lr", "auto", "--out", "y"}, exitUsage, "give the one of --method adam"},
		{[]string{"probe", "fullbatch", "--run", "x", "--method", "gd", "--lr", "-1", "--out", "y"}, exitUsage, "--lr -1: want a value above 0"},
		{[]string{"probe", "surface", "--run", "x", "--grid", "0", "--out", "y"}, exitUsage, "--grid 0: want a value above 0"},
		{[]string{"probe", "surface", "--run", "x", "--grid", "-3", "--out", "y"}, exitUsage, "--grid -3: want a value above 0"},
		{[]string{"probe", "sharpness", "--run", "x", "--top", "0", "--out", "y"}, exitUsage, "--top 0: want a value above 0"},
		{[]string{"train", "--dataset", "mnist", "--model", "mlp", "--batch-size", "-5", "--out", "x"}, exitUsage, "--batch-size -5: want a value above 0"},
		{[]string{"data", "list", "--data-dir", "main.go"}, exitUsage, "--data-dir main.go is a file, not a directory"},
		{[]string{"data", "list", "--subset", "10"}, exitUsage, "--subset does not apply to data list"},
		{[]string{"data", "fetch", "mnist", "--subset", "10"}, exitUsage, "--subset does not apply to data fetch"}, // was accepted, doing nothing
		{[]string{"report", "--in", "testdata", "--alpha", "0"}, exitUsage, "--alpha 0: want a value in (0, 1]"},
		{[]string{"report", "--in", "testdata", "--extreme-test-acc", "2"}, exitUsage, "--extreme-test-acc 2: want a value in (0, 1]"},
		{[]string{"probe", "sharpness", "--run", "x", "--iterations", "1", "--out", "y"}, exitUsage, "1 iteration gives no estimate of the top eigenvalue: want at least 2"},
		{[]string{"probe", "sharpness", "--run", "x", "--tolerance", "NaN", "--out", "y"}, exitUsage, "tolerance NaN: want a fraction above 0 and below 1"},
		{[]string{"probe", "sharpness", "--run", "x", "--hvp", "finite-difference", "--epsilon", "-1", "--out", "y"}, exitUsage, "--epsilon -1: want a value above 0"},
		{[]string{"probe", "restart", "--run", "x", "--lr", "NaN", "--out", "y"}, exitUsage, "invalid --lr NaN: want a finite number > 0"},
		{[]string{"train", "--dataset", "mnist", "--model", "mlp", "--lr", "NaN", "--out", "y"}, exitUsage, "invalid --lr NaN: want a finite number > 0"},
		{[]string{"data", "fetch"}, exitUsage, "name at least one dataset"},
		{[]string{"data", "fetch", "imagenet"}, exitUsage, "valid datasets are cifar10, fashion-mnist, mnist"},
		{[]string{"data", "fetch", "mnist", "--from", "/nonexistent"}, exitUsage, "--from"},
		{[]string{"data", "fetch", "mnist", "cifar10", "--from", "."}, exitUsage, "2 datasets are named"},
		{[]string{"data", "list", "--bogus"}, exitUsage, "flag provided but not defined: -bogus"},
		{[]string{"data", "show"}, exitUsage, "--dataset is required"},
		{[]string{"data", "show", "--dataset", "mnist", "--corrupt", "flip"}, exitUsage, "valid strategies are wrong-uniform"},
		{[]string{"data", "show", "--dataset", "mnist", "--corrupt", "random", "--corrupt-fraction", "2"}, exitUsage, "invalid fraction 2"},
		{[]string{"data", "show", "--dataset", "mnist", "--copies", "3"}, exitUsage, "need --corrupt"},
		{[]string{"data", "show", "--dataset", "mnist", "--subset", "-1"}, exitUsage, "invalid --subset"},
		{[]string{"data", "show", "--dataset", "mnist", "--out", "x.jpg"}, exitUsage, "name a .png file"},
		{[]string{"data", "show", "--dataset", "mnist", "--count", "70000"}, exitUsage, "--count 70000: want 1 to 1000 examples"},
		{[]string{"data", "show", "--dataset", "mnist", "--columns", "100000"}, exitUsage, "--columns 100000: want 1 to 1000 columns"},
		{[]string{"data", "show", "--dataset", "mnist", "--out", "testdata/not-a-png.png"}, exitUsage, "exists and is not a PNG image: nothing is overwritten"},
		{[]string{"run", "--dataset", "mnist", "--model", "mlp", "--out", "x"}, exitUsage, "--runs must be a positive count"},
		{[]string{"run", "--dataset", "mnist", "--model", "mlp", "--runs", "2", "--shard", "2/2", "--out", "x"}, exitUsage, "want I/N with 0 <= I < N"},
		{[]string{"run", "--dataset", "mnist", "--model", "mlp", "--runs", "2", "--kinds", "odd", "--out", "x"}, exitUsage, "valid kinds are normal, corrupted"},
		{[]string{"run", "--dataset", "mnist", "--model", "mlp", "--runs", "2", "--workers", "0", "--out", "x"}, exitUsage, "--workers must be a positive count"},
		{[]string{"run", "--dataset", "mnist", "--model", "mlp", "--runs", "2", "--ensemble", "0", "--out", "x"}, exitUsage, "--ensemble must be a positive count"},
		{[]string{"run", "--dataset", "mnist", "--model", "mlp", "--runs", "2", "--out", "testdata"}, exitUsage, "directory of another kind: testdata holds not-a-png.png but no study.json, so it is not a study directory"},
		{[]string{"run", "--dataset", "mnist", "--model", "mlp", "--runs", "2", "--out", "main.go"}, exitUsage, "not a directory"},
		{[]string{"reproduce", "--out", "testdata"}, exitUsage, "testdata holds not-a-png.png but no studies, so it is not a reproduction"},
		{[]string{"report", "--in", "testdata", "--out", "testdata"}, exitUsage, "testdata holds not-a-png.png but no summary.json, so it is not a report directory"},
		{[]string{"reproduce", "--scale", "huge", "--out", "x"}, exitUsage, "valid scales are smoke, quick, paper"},
		{[]string{"reproduce", "--backend", "bogus", "--out", "x"}, exitUsage, `unknown backend "bogus"`},
		{[]string{"reproduce", "--models", "vgg", "--out", "x"}, exitUsage, "valid names: lenet, mlp, resnet"},
		{[]string{"reproduce"}, exitUsage, "--out DIR is required"},
		{[]string{"reproduce", "--point-epochs", "5", "--out", "x"}, exitUsage, "mnist/mlp has 15 epochs"},
		{[]string{"reproduce", "--point-epochs", "-1", "--out", "x"}, exitUsage, "invalid --point-epochs -1"},
		{[]string{"reproduce", "--sharpness-runs", "-2", "--out", "x"}, exitUsage, "invalid --sharpness-runs -2: want 0 (none) or a count of runs of each kind"},
		// Refused before the study trains, not after it (exit 1, the whole study trained).
		{[]string{"reproduce", "--point-epochs", "99999999999", "--out", "x"}, exitUsage, "invalid point epochs 99999999999: at most 1000000"},
		{[]string{"reproduce", "--data-dir", "main.go", "--out", "x"}, exitUsage, "--data-dir main.go is a file, not a directory"},
		{[]string{"reproduce", "--ensemble", "0", "--out", "x"}, exitUsage, "--ensemble must be a positive count"},
		{[]string{"reproduce", "--ensemble", "2", "--steps-per-call", "4", "--out", "x"}, exitUsage, "choose one of the two"},
		{[]string{"reproduce", "--workers", "0", "--out", "x"}, exitUsage, "invalid --workers 0: want a positive count"},
		{[]string{"reproduce", "--point-epochs", "0", "--out", "x"}, exitUsage, "invalid --point-epochs 0: want a count of epochs"},
		{[]string{"reproduce", "--datasets", "", "--out", "x"}, exitUsage, `--datasets "": an empty name`},
		{[]string{"reproduce", "--datasets", "mnist,", "--out", "x"}, exitUsage, `--datasets "mnist,": an empty name`},
		{[]string{"reproduce", "--models", "mlp,mlp", "--out", "x"}, exitUsage, `--models "mlp,mlp": mlp is given twice`},
		{[]string{"train", "--dataset", "mnist", "--model", "mlp", "--steps-per-call", "0", "--out", "x"}, exitUsage, "--steps-per-call must be a positive count"},
		{[]string{"train", "--dataset", "mnist", "--model", "mlp", "--steps-per-call", "1000000000", "--out", "x"}, exitUsage, "1000000000 steps per call: at most 1024"},
		{[]string{"train", "--dataset", "mnist", "--model", "mlp", "--steps-per-call", "4", "--schedule", "cosine", "--out", "x"}, exitUsage, "need the constant learning-rate schedule"},
		{[]string{"run", "--dataset", "mnist", "--model", "mlp", "--runs", "2", "--ensemble", "2", "--steps-per-call", "4", "--out", "x"}, exitUsage, "choose one of the two"},
		{[]string{"train", "--dataset", "mnist", "--model", "lenet", "--convs", "4", "--out", "x"}, exitUsage, "LeNet has 1 to 3 convolutions"},
		{[]string{"train", "--dataset", "mnist", "--model", "lenet", "--fc-hidden", "-1", "--out", "x"}, exitUsage, "--fc-hidden -1: want a value above 0"},
		{[]string{"train", "--dataset", "mnist", "--model", "mlp", "--formulation", "native", "--out", "x"}, exitUsage, "--model mlp has none"},
		{[]string{"train", "--dataset", "mnist", "--model", "mlp", "--hidden", "1000000000", "--out", "x"}, exitUsage, "want at most 65536"},
		{[]string{"probe", "surface", "--run", "x", "--grid", "1", "--out", "y"}, exitUsage, "surface: 21 points and a grid of 1: want at least 2 of each"},
		{[]string{"probe", "interpolate", "--from", "x", "--to", "y", "--points", "1", "--out", "z"}, exitUsage, "interpolate: 1 points: want at least 2"},
		{[]string{"probe", "surface", "--run", "x", "--directions", "pca", "--out", "y"}, exitUsage, `surface: unknown directions "pca": valid are hessian, random`},
		{[]string{"probe", "sharpness", "--run", "x", "--top", "3", "--solver", "power", "--out", "y"}, exitUsage, "sharpness: top 3: only the lanczos solver finds more than the largest eigenvalue"},
		{[]string{"probe", "sharpness", "--run", "x", "--top", "30", "--iterations", "20", "--out", "y"}, exitUsage, "sharpness: top 30 in 20 iterations"},
		{[]string{"probe", "sharpness", "--run", "x", "--top", "-2", "--out", "y"}, exitUsage, "--top -2: want a value above 0"},
		{[]string{"probe", "sharpness", "--run", "x", "--top", "501", "--iterations", "500", "--out", "y"}, exitUsage, "sharpness: top 501: want 1 to 500 eigenvalues"},
		{[]string{"probe", "sharpness", "--run", "x", "--tolerance", "5", "--out", "y"}, exitUsage, "sharpness: tolerance 5: want a fraction below 1"},
		{[]string{"probe", "surface", "--run", "x", "--range", "-1e308,1e308", "--out", "y"}, exitUsage, "want two finite numbers within ±1e6"},
		{[]string{"probe", "sharpness", "--run", "x", "--epsilon", "1e308", "--out", "y"}, exitUsage, "the finite-difference step must be at most 1"},
		{[]string{"train", "--dataset", "mnist", "--model", "mlp", "--epochs", "9223372036854775807", "--out", "x"}, exitUsage, "epochs: at most 1000000"},
		{[]string{"data", "show", "--dataset", "mnist", "--corrupt-seed", "4"}, exitUsage, "--corrupt-seed needs --corrupt STRATEGY"},
		{[]string{"probe", "sharpness", "--run", "x", "--epsilon", "NaN", "--out", "y"}, exitUsage, "epsilon NaN: want a finite step above 0"},
		{[]string{"help", "probe", "sharpness"}, exitOK, "Usage: esp probe sharpness --run DIR | --study DIR"},
		{[]string{"probe", "sharpness", "--run", "x", "--study", "y", "--out", "z"}, exitUsage, "--run and --study: give --run DIR for one run or --study DIR"},
		{[]string{"probe", "sharpness", "--out", "z"}, exitUsage, "--run DIR (one run) or --study DIR (every finished run of a study) is required"},
		{[]string{"probe", "sharpness", "--study", "testdata", "--out", "z"}, exitUsage, "--study testdata is not a study directory: it has no study.json"},
		{[]string{"probe", "sharpness", "--study", "testdata"}, exitUsage, "--out DIR is required: the probe of each run of the study goes to DIR/RUN"},
		{[]string{"probe", "sharpness", "--study", "testdata", "--weights", "best", "--out", "z"}, exitUsage, `invalid --weights "best": valid: final, init`},
		// Counts beyond any study are refused before the probe starts: a surface grid of
		// 2e9 per axis ran out of memory, 1e19 trace samples panicked, and a restart of 1e19
		// epochs failed with exit 1 after writing its probe directory.
		{[]string{"probe", "surface", "--run", "x", "--grid", "2000000000", "--out", "y"}, exitUsage, "surface: grid 2000000000: at most 1000 per axis"},
		{[]string{"probe", "surface", "--run", "x", "--points", "2000000000", "--out", "y"}, exitUsage, "surface: 2000000000 points: at most 100000"},
		{[]string{"probe", "interpolate", "--run", "x", "--points", "2000000000", "--out", "y"}, exitUsage, "interpolate: 2000000000 points: at most 100000"},
		{[]string{"probe", "fullbatch", "--run", "x", "--steps", "9000000000000000000", "--out", "y"}, exitUsage, "fullbatch: 9000000000000000000 steps: at most 1000000"},
		{[]string{"probe", "sharpness", "--run", "x", "--samples", "9000000000000000000", "--out", "y"}, exitUsage, "sharpness: 9000000000000000000 trace samples: at most 1000000"},
		{[]string{"probe", "sharpness", "--run", "x", "--iterations", "9000000000000000000", "--out", "y"}, exitUsage, "sharpness: 9000000000000000000 iterations: at most 1000000"},
		{[]string{"probe", "sharpness", "--run", "x", "--iterations", "600", "--out", "y"}, exitUsage, "sharpness: 600 iterations: at most 500 Lanczos steps (the power solver takes more)"},
		{[]string{"probe", "sharpness", "--run", "x", "--solver", "arnoldi", "--out", "y"}, exitUsage, `sharpness: unknown solver "arnoldi": valid are lanczos, power`},
		{[]string{"probe", "sharpness", "--run", "x", "--density", "-1", "--out", "y"}, exitUsage, "sharpness: -1 density vectors: want 0 (none) to 1000000"},
		{[]string{"probe", "sharpness", "--run", "x", "--density", "2", "--lanczos-steps", "501", "--out", "y"}, exitUsage, "sharpness: 501 Lanczos steps: want 1 to 500 (default 40)"},
		// --density 0 is the valid "none" the message for -1 names, not a default's stand-in:
		// it gets as far as the run.
		{[]string{"probe", "sharpness", "--run", "x", "--density", "0", "--out", "y"}, exitUsage, "run directory x does not exist"},
		// Flags that would change nothing: Lanczos steps without a density, a finite-difference
		// step for exact products (the default since they exist for every model).
		{[]string{"probe", "sharpness", "--run", "x", "--lanczos-steps", "60", "--out", "y"}, exitUsage, "--lanczos-steps 60 without --density: the Lanczos steps are the density's"},
		{[]string{"probe", "sharpness", "--study", "x", "--lanczos-steps", "60", "--out", "y"}, exitUsage, "--lanczos-steps 60 without --density"},
		{[]string{"probe", "sharpness", "--run", "x", "--epsilon", "0.01", "--out", "y"}, exitUsage, "--epsilon 0.01 with exact Hessian-vector products: it is the step of --hvp finite-difference"},
		{[]string{"probe", "sharpness", "--run", "x", "--epsilon", "0.01", "--hvp", "exact", "--out", "y"}, exitUsage, "--epsilon 0.01 with exact Hessian-vector products"},
		{[]string{"probe", "sharpness", "--run", "x", "--epsilon", "0.01", "--hvp", "finite-difference", "--density", "2", "--lanczos-steps", "60", "--out", "y"}, exitUsage, "run directory x does not exist"},
		{[]string{"probe", "restart", "--run", "x", "--epochs", "9000000000000000000", "--out", "y"}, exitUsage, "restart: 9000000000000000000 epochs: at most 1000000"},
		{[]string{"report"}, exitUsage, "--in DIR is required"},
		{[]string{"report", "--in", "/nonexistent"}, exitUsage, "not a directory"},
		{[]string{"setup-gpu", "--cuda", "11"}, exitUsage, "valid values are 13 and 12"},
		{[]string{"setup-gpu", "--index-url", "ftp://mirror"}, exitUsage, "want an http:// or https:// URL"},
		{[]string{"setup-gpu", "extra"}, exitUsage, "takes no arguments"},
		{[]string{"setup-gpu", "--dir", "main.go"}, exitUsage, "--dir main.go is a file, not a directory"}, // was exit 1 from the installer
		{[]string{"setup-gpu", "--version", "../../x"}, exitUsage, "give a JAX version such as 0.8.0, or latest"},
		{[]string{"import", "--dataset", "mnist", "--model", "mlp", "--out", "x"}, exitUsage, "--from is required"},
		{[]string{"import", "--from", "/nonexistent.pt", "--dataset", "mnist", "--model", "mlp", "--out", "x"}, exitUsage, "no such file"},
		{[]string{"import", "--from", "main.go", "--dataset", "mnist", "--model", "mlp", "--out", "x"}, exitUsage, "neither a zip archive nor a pickle stream"},
		{[]string{"import", "--from", "x.pt", "--dataset", "mnist", "--model", "vgg", "--out", "x"}, exitUsage, "valid models are lenet, mlp, resnet"},
		{[]string{"version"}, exitOK, ""},
		{[]string{"version", "--backend", "tpu"}, exitUsage, "unknown backend \"tpu\", valid: go, xla:cpu, xla:cuda"},
		{[]string{"data", "list", "-h"}, exitOK, "Usage: esp data list"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), tc.wantCode, tc.wantErr)
			}
		})
	}
}

// TestInputErrors: errors about what the user named exit with code 2, whichever package
// wraps them; others (a failing computation) with 1.
func TestInputErrors(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("experiment: writing out/config.json: %w", &fs.PathError{Op: "open", Path: "out/.tmp-config.json", Err: fs.ErrPermission}), true},
		{fmt.Errorf("run x: %w", experiment.ErrDamagedRun), true},
		{fmt.Errorf("probe: %w", analysis.ErrOutputNotEmpty), true},
		{fmt.Errorf("run normal-0000: models: %w: lenet needs at least 4x4 pixels", models.ErrInputTooSmall), true},
		{errors.New("experiment: ensemble training step: out of memory"), false},
	}
	for _, tc := range tests {
		if got := isInputError(tc.err); got != tc.want {
			t.Errorf("isInputError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestDataDirUsage: --data-dir's usage names $ESP_DATA_DIR and, apart, the folder used
// without it; with the variable set it named the variable's value as that fallback.
func TestDataDirUsage(t *testing.T) {
	t.Setenv("ESP_DATA_DIR", "/from/the/variable")
	fallback := datasets.UserDataDir()
	if fallback == "/from/the/variable" {
		t.Fatalf("UserDataDir() = %s: the variable's value", fallback)
	}
	for _, args := range [][]string{{"train", "-h"}, {"data", "list", "-h"}, {"probe", "restart", "-h"}, {"reproduce", "-h"}, {"import", "-h"}} {
		var stderr bytes.Buffer
		if code := run(context.Background(), args, &bytes.Buffer{}, &stderr); code != exitOK {
			t.Fatalf("esp %s: exit %d", strings.Join(args, " "), code)
		}
		want := "(default $ESP_DATA_DIR, else " + fallback + ")"
		if !strings.Contains(stderr.String(), want) || strings.Contains(stderr.String(), "else /from/the/variable") {
			t.Errorf("esp %s: --data-dir usage does not say %q:\n%s", strings.Join(args, " "), want, stderr.String())
		}
	}
}

// TestUsageListsTheFlagsThatApply: a flag a command accepts only to refuse it is not in
// its usage; the others are, with their defaults, not the values given before -h.
func TestUsageListsTheFlagsThatApply(t *testing.T) {
	tests := []struct {
		args          []string
		want, notWant []string
	}{
		{[]string{"data", "list", "-h"}, []string{"-data-dir", "-load"}, []string{"-subset"}},
		{[]string{"data", "fetch", "-h"}, []string{"-data-dir", "-from"}, []string{"-subset"}},
		{[]string{"train", "-h"}, []string{"-subset", "-data-dir", "-corrupt-seed", "(default: a normal run)"}, nil},
		{[]string{"run", "-h"}, []string{"-corrupt string", "(default wrong-uniform, the paper's)", "base seed"}, []string{"-corrupt-seed", "a normal run"}},
		{[]string{"train", "--epochs", "7", "-h"}, []string{"-epochs"}, []string{"(default 7)"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &bytes.Buffer{}, &stderr); code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("usage does not list %s:\n%s", w, stderr.String())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(stderr.String(), w) {
					t.Errorf("usage shows %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

// TestBackendFromEnvironment: a backend error names $GOMLX_BACKEND when the variable, not
// the command line, chose the backend.
func TestBackendFromEnvironment(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "bogus")
	out := filepath.Join(t.TempDir(), "run")
	tests := []struct {
		args     []string
		wantNote bool
	}{
		{[]string{"train", "--dataset", "mnist", "--model", "mlp", "--out", out}, true},
		{[]string{"train", "--dataset", "mnist", "--model", "mlp", "--backend", "bogus2", "--out", out}, false},
		{[]string{"train", "--dataset", "mnist", "--model", "mlp", "--backend=bogus2", "--out", out}, false},
		{[]string{"reproduce", "--out", out}, true},
		{[]string{"reproduce", "--backend", "bogus2", "--out", out}, false},
	}
	for _, tc := range tests {
		var stderr bytes.Buffer
		code := run(context.Background(), tc.args, &bytes.Buffer{}, &stderr)
		note := strings.Contains(stderr.String(), "comes from $GOMLX_BACKEND=bogus")
		if strings.Contains(stderr.String(), "reproduce at scale") {
			t.Errorf("esp %s: the banner came before the error: %q", strings.Join(tc.args, " "), stderr.String())
		}
		if code != exitUsage || note != tc.wantNote || !strings.Contains(stderr.String(), "unknown backend") {
			t.Errorf("esp %s: exit %d, stderr %q; want exit %d, the note: %v", strings.Join(tc.args, " "), code, stderr.String(), exitUsage, tc.wantNote)
		}
	}
}
