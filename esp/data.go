package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/extremepoints/esp/analysis"
	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
)

// dataFlags are the flags every command that reads data shares.
type dataFlags struct {
	dataDir string
	subset  int
}

func (d *dataFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.dataDir, "data-dir", "", "dataset cache directory (default $ESP_DATA_DIR, else "+datasets.UserDataDir()+")")
	fs.IntVar(&d.subset, "subset", 0, "use only the first N examples of each split (0: all)")
}

func (d *dataFlags) validate() error {
	if d.subset < 0 {
		return usagef("invalid --subset %d: want 0 (all) or a positive count", d.subset)
	}
	if d.dataDir != "" {
		if st, err := os.Stat(d.dataDir); err == nil && !st.IsDir() {
			return usagef("--data-dir %s is a file, not a directory", d.dataDir)
		}
	}
	return nil
}

func (d *dataFlags) options(progress io.Writer) datasets.Options {
	return datasets.Options{DataDir: d.dataDir, Progress: progress}
}

// load reads a dataset (fetching it when missing) and applies --subset.
func (d *dataFlags) load(ctx context.Context, name string, progress io.Writer) (*datasets.Dataset, error) {
	ds, err := datasets.Load(ctx, name, d.options(progress))
	if err != nil {
		return nil, badInput(err)
	}
	return ds.Head(d.subset), nil
}

func runData(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	subcommands := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"list": runDataList, "fetch": runDataFetch, "show": runDataShow,
	}
	if len(args) == 0 {
		return usagef("missing subcommand: valid subcommands are fetch, list, show")
	}
	if args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "Usage: esp data list|fetch|show [flags]\n\nlist: the cache's datasets; fetch: download or import one; show: a PNG grid of samples.\nRun 'esp data SUBCOMMAND -h' for its flags.")
		return flag.ErrHelp
	}
	sub, ok := subcommands[args[0]]
	if !ok {
		return usagef("unknown subcommand %q: valid subcommands are fetch, list, show", args[0])
	}
	return sub(ctx, args[1:], stdout, stderr)
}

func runDataList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("data list", stderr, "data list [--load] [--data-dir DIR]")
	var df dataFlags
	df.register(fs)
	fs.Lookup("subset").Usage = unlisted
	load := fs.Bool("load", false, "also load every verified dataset into memory, all at once, and report its size")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("data list takes no arguments, got %q", rest)
	}
	if flagGiven(fs, "subset") { // unlisted
		return usagef("--subset does not apply to data list: it lists (and with --load, loads) whole datasets")
	}
	if err := df.validate(); err != nil {
		return err
	}
	opts := df.options(nil)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	statuses := datasets.ListCache(opts) // hashes every file: once
	fmt.Fprintln(tw, "DATASET\tTRAIN\tTEST\tCHECKSUM\tSOURCE")
	for _, st := range statuses {
		train, test := "-", "-"
		if st.TrainSize > 0 {
			train, test = fmt.Sprint(st.TrainSize), fmt.Sprint(st.TestSize)
		}
		source := st.Source
		if source == "" {
			source = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", st.Name, train, test, st.Checksum, source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, st := range statuses {
		if st.Problem == "" {
			continue
		}
		again := "esp data fetch " + st.Name
		if _, err := datasets.Lookup(st.Name); err != nil { // an imported folder: from where it came
			again = fmt.Sprintf("esp data fetch %s --from %s", st.Name, orUnknown(st.Source))
		}
		fmt.Fprintf(stdout, "%s: %s: %s (run %s again)\n", st.Name, st.Checksum, st.Problem, again)
	}
	dir := df.dataDir
	if dir == "" {
		dir = datasets.DefaultDataDir()
	}
	fmt.Fprintf(stdout, "cache: %s\n", dir)
	if *load {
		var loaded []*datasets.Dataset // kept alive together, as a study holding all of them would
		total := 0
		for _, st := range statuses {
			if !st.Verified() {
				continue
			}
			ds, err := datasets.Load(ctx, st.Name, opts)
			if err != nil {
				return badInput(err)
			}
			loaded = append(loaded, ds)
			bytes := len(ds.Train.Images) + len(ds.Train.Labels) + len(ds.Test.Images) + len(ds.Test.Labels)
			total += bytes
			fmt.Fprintf(stdout, "loaded %s: %d+%d images of %dx%dx%d, %.1f MB\n", ds.Name, ds.Train.Len(), ds.Test.Len(),
				ds.Train.Height, ds.Train.Width, ds.Train.Channels, float64(bytes)/1e6)
		}
		fmt.Fprintf(stdout, "%d datasets in memory: %.1f MB\n", len(loaded), float64(total)/1e6)
	}
	return nil
}

// orUnknown returns s, or "PATH" when it is empty.
func orUnknown(s string) string {
	if s == "" {
		return "PATH"
	}
	return s
}

func runDataFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("data fetch", stderr, "data fetch DATASET... [--from PATH] [--data-dir DIR]\n\n"+
		"DATASET is "+strings.Join(datasets.Names(), ", ")+", or a new name for an image folder given with --from.")
	var df dataFlags
	df.register(fs)
	fs.Lookup("subset").Usage = unlisted
	from := fs.String("from", "", "a local copy to use: IDX files, cifar-10-binary.tar.gz (or its folder), or an image folder (train/<class>/*, test/<class>/*) as a directory or tar.gz")
	names, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return usagef("name at least one dataset: %s", strings.Join(datasets.Names(), ", "))
	}
	if flagGiven(fs, "subset") { // unlisted
		return usagef("--subset does not apply to data fetch: it fetches whole datasets (the commands that read them take --subset)")
	}
	if err := df.validate(); err != nil {
		return err
	}
	if *from != "" && len(names) > 1 {
		return usagef("--from gives one dataset's files, but %d datasets are named", len(names))
	}
	if *from != "" {
		if _, err := os.Stat(*from); err != nil {
			return usagef("--from: %v", err)
		}
	}
	for _, name := range names {
		if _, err := datasets.Lookup(name); err != nil && *from == "" {
			return badInput(err)
		}
	}
	opts := df.options(stderr)
	opts.From = *from
	for _, name := range names {
		src, err := datasets.Fetch(ctx, name, opts)
		if err != nil {
			return badInput(err)
		}
		st := datasets.CacheStatus(name, opts)
		fmt.Fprintf(stdout, "%s: %d train, %d test, %s (from %s) in %s\n", name, st.TrainSize, st.TestSize, st.Checksum, src, st.Dir)
	}
	return nil
}

// maxSampleGrid bounds data show's grid: each example is drawn scaled up, so a grid of
// thousands makes an image of hundreds of megapixels.
const maxSampleGrid = 1000

// checkReplaceablePNG accepts for --out a missing file or a PNG image (an earlier grid,
// replaced); anything else there is refused, not overwritten.
func checkReplaceablePNG(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return usagef("--out %s: %v", path, err)
	}
	defer f.Close()
	head := make([]byte, 8)
	if n, _ := io.ReadFull(f, head); n < len(head) || string(head) != "\x89PNG\r\n\x1a\n" {
		return usagef("--out %s exists and is not a PNG image: nothing is overwritten, choose another file", path)
	}
	return nil
}

func runDataShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("data show", stderr, "data show --dataset D [--corrupt STRATEGY] [--out FILE.png]")
	var df dataFlags
	df.register(fs)
	name := fs.String("dataset", "", "dataset: "+strings.Join(datasets.Names(), ", ")+", or an imported image folder")
	var cs corruptFlags
	cs.register(fs)
	count := fs.Int("count", 32, "number of examples to show")
	columns := fs.Int("columns", 8, "columns of the grid")
	out := fs.String("out", "", "PNG file to write (default DATASET-samples.png)")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("unexpected arguments %q", rest)
	}
	if *name == "" {
		return usagef("--dataset is required: %s", strings.Join(datasets.Names(), ", "))
	}
	if *count < 1 || *count > maxSampleGrid {
		return usagef("--count %d: want 1 to %d examples", *count, maxSampleGrid)
	}
	if *columns < 1 || *columns > maxSampleGrid {
		return usagef("--columns %d: want 1 to %d columns", *columns, maxSampleGrid)
	}
	if err := df.validate(); err != nil {
		return err
	}
	if flagGiven(fs, "corrupt-seed") && cs.strategy == "" {
		return usagef("--corrupt-seed needs --corrupt STRATEGY (%s)", strings.Join(corrupt.Strategies, ", "))
	}
	settings, corrupted, err := cs.settings()
	if err != nil {
		return err
	}
	if *out == "" {
		*out = *name + "-samples.png"
	}
	if filepath.Ext(*out) != ".png" {
		return usagef("--out %q: the grid is written as PNG, name a .png file", *out)
	}
	if err := checkReplaceablePNG(*out); err != nil {
		return err
	}
	ds, err := df.load(ctx, *name, stderr)
	if err != nil {
		return err
	}
	set := corrupt.Clean(ds)
	title := fmt.Sprintf("%s: training examples", ds.Name)
	if corrupted {
		if set, err = corrupt.Build(ds, settings); err != nil {
			return badInput(err)
		}
		sum := set.Summarize()
		title = fmt.Sprintf("%s, %s: test examples, true→assigned label (%d copies, %d examples in all)",
			ds.Name, cs.strategy, sum.Copies, sum.Total)
	}
	var buf bytes.Buffer
	if err := (analysis.SampleGrid{Count: *count, Columns: *columns}).WritePNG(&buf, set, title); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := datasets.WriteFileAtomic(*out, buf.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}

// corruptFlags are the flags that describe a corrupted training set.
type corruptFlags struct {
	strategy string
	fraction float64
	copies   string
	seed     uint64
}

func (c *corruptFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.strategy, "corrupt", "", "train on the corrupted set built with this strategy: "+strings.Join(corrupt.Strategies, ", ")+" (default: a normal run)")
	fs.Float64Var(&c.fraction, "corrupt-fraction", 0, "fraction of the test set to relabel, in (0, 1] (0: all)")
	fs.StringVar(&c.copies, "copies", "", "copies of the test set: paper, match, or a count (default paper)")
	fs.Uint64Var(&c.seed, "corrupt-seed", 0, "seed of the label corruption")
}

// settings validates the flags; corrupted is false when --corrupt was not given.
func (c *corruptFlags) settings() (s corrupt.Settings, corrupted bool, err error) {
	if c.strategy == "" {
		if c.fraction != 0 || c.copies != "" {
			return s, false, usagef("--corrupt-fraction and --copies need --corrupt STRATEGY (%s)", strings.Join(corrupt.Strategies, ", "))
		}
		return s, false, nil
	}
	s = corrupt.Settings{Strategy: c.strategy, Fraction: c.fraction, Copies: c.copies, Seed: c.seed}
	if err := s.Validate(); err != nil {
		return s, false, badInput(err)
	}
	s.Strategy, _ = corrupt.ParseStrategy(s.Strategy)
	return s, true, nil
}
