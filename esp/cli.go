package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"github.com/gomlx/compute"

	"github.com/extremepoints/esp/analysis"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/models"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the work itself failed
	exitUsage   = 2 // bad flags, values or input files
	// exitInterrupted is what shells report for a command Ctrl-C stopped (128 + SIGINT):
	// a job script tells an interrupted command, to run again, from a failed one.
	exitInterrupted = 130
)

// usageError is an error in what the user asked for: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// flagParseError is a usage error the flag set has already printed, with the usage.
type flagParseError struct{ usageError }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// inputErrors are errors about the files and folders the user named, in any command: a
// dataset whose images are too small for the model, a damaged weights file, run or checkpoint, weights that are not finite, an output folder of another
// kind, study or probe, points of different models, a folder the user may not write or
// read; a dataset that cannot be had; and a backend that cannot be had.
var inputErrors = []error{models.ErrInputTooSmall, experiment.ErrBackend, experiment.ErrBadCheckpoint, experiment.ErrCorruptWeights, experiment.ErrNonFiniteWeights, experiment.ErrDamagedRun,
	experiment.ErrForeignDir, experiment.ErrStudyMismatch, experiment.ErrRunFormat, experiment.ErrRunBusy, analysis.ErrOutputNotEmpty, analysis.ErrIncompatiblePoints, analysis.ErrDataset, fs.ErrPermission}

// isInputError reports whether err is one of inputErrors.
func isInputError(err error) bool {
	for _, target := range inputErrors {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// interrupted says, for work stopped by an interrupt (ctx cancelled), that running the same
// command again resumes it: what resumes is done.
func interrupted(err error, done string) error {
	if errors.Is(err, context.Canceled) {
		return interruptedf("interrupted (%s): run the same command again to resume", done)
	}
	return err
}

// interruptedError is the error of a command an interrupt (Ctrl-C, SIGTERM) stopped:
// exit code exitInterrupted.
type interruptedError struct{ error }

func interruptedf(format string, args ...any) error {
	return interruptedError{fmt.Errorf(format, args...)}
}

// badInput marks an error about what the user asked for or gave (flag values, data files,
// folders) as a usageError: exit code 2. nil stays nil.
func badInput(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"data", "list, fetch and show datasets", runData},
		{"models", "list the models", runModels},
		{"train", "train one model, normally or on a corrupted training set", runTrain},
		{"run", "many normal and corrupted runs of one dataset and model (workers, resume, shards)", runRun},
		{"probe", "probe the loss surface around a trained point: restart, fullbatch, interpolate, surface, sharpness", runProbe},
		{"import", "make a run directory from a PyTorch state dict (such as the authors' published points), for the probes", runImport},
		{"report", "figures, index.html and summary.json of the paper's claims from runs and probes", runReport},
		{"reproduce", "the whole study at a scale: smoke, quick or paper", runReproduce},
		{"setup-gpu", "install the PJRT CUDA plugin for --backend xla:cuda (downloads, on request only)", runSetupGPU},
		{"version", "print the toolkit's version; with --backend, load that backend and check it", runVersion},
	}
}

// run is the command's entry point: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) >= 2 && args[0] == "help" { // esp help COMMAND [SUBCOMMAND]: its -h
		args = append(args[1:len(args):len(args)], "-h")
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, new(flagParseError)):
			return exitUsage // the flag set printed it
		case errors.As(err, new(interruptedError)):
			fmt.Fprintf(stderr, "esp %s: %v\n", c.name, err)
			return exitInterrupted
		case errors.As(err, new(usageError)) || isInputError(err):
			fmt.Fprintf(stderr, "esp %s: %v%s\n", c.name, err, backendFromEnvironment(err, args))
			return exitUsage
		default:
			fmt.Fprintf(stderr, "esp %s: %v\n", c.name, err)
			return exitFailure
		}
	}
	fmt.Fprintf(stderr, "esp: unknown command %q: valid commands are %s\n", args[0], strings.Join(commandNames(), ", "))
	return exitUsage
}

// backendFromEnvironment says, for a backend error where the backend was not named on
// the command line, that $GOMLX_BACKEND named it: the user may have forgotten it is set.
func backendFromEnvironment(err error, args []string) string {
	env := os.Getenv("GOMLX_BACKEND")
	if env == "" || !errors.Is(err, experiment.ErrBackend) {
		return ""
	}
	for _, a := range args {
		if a == "--backend" || a == "-backend" || strings.HasPrefix(a, "--backend=") || strings.HasPrefix(a, "-backend=") {
			return ""
		}
	}
	return fmt.Sprintf(" (the backend comes from $GOMLX_BACKEND=%s; --backend overrides it)", env)
}

func commandNames() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	sort.Strings(names)
	return names
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "esp finds and studies points of extreme overfitting of neural networks.")
	fmt.Fprintln(w, "\nUsage: esp COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'esp COMMAND -h' for a command's flags.")
}

// parseFlags parses flags and positional arguments in any order (flag.Parse stops at the
// first positional argument; users write `esp data fetch cifar10 --from FILE`).
func parseFlags(fs *flag.FlagSet, args []string) (positional []string, err error) {
	// The flag package prints the usage after a bad value too: all the flags, under the one
	// line that matters. Only -h gets them; a bad value gets its line and where they are.
	usage := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = usage }()
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				usage()
				return nil, err
			}
			fmt.Fprintf(fs.Output(), "Run 'esp %s -h' for its flags.\n", fs.Name())
			return nil, flagParseError{usageError{err}}
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, explicitZeroDefault(fs)
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), explicitZeroDefault(fs)
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// explicitZeroDefault refuses a flag given as 0 whose 0 is not a value but its unset state,
// standing for the default its usage names ("(default 11...)"): --epochs 0 would train 11
// epochs. Such a flag takes positive values only, so a negative one is refused here too,
// by its name (the settings it fills would refuse it without).
func explicitZeroDefault(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err != nil || f.DefValue != "0" || !strings.Contains(f.Usage, "(default ") {
			return
		}
		if v, perr := strconv.ParseFloat(f.Value.String(), 64); perr == nil && v <= 0 {
			err = usagef("--%s %s: want a value above 0 (leave the flag out for its default)", f.Name, f.Value)
		}
	})
	return err
}

// flagGiven reports whether the flag name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: esp %s\n", usage)
		listed := flag.NewFlagSet(name, flag.ContinueOnError)
		listed.SetOutput(stderr)
		fs.VisitAll(func(f *flag.Flag) {
			if f.Usage != unlisted {
				listed.Var(f.Value, f.Name, f.Usage)
				listed.Lookup(f.Name).DefValue = f.DefValue // not the value parsed so far
			}
		})
		if hasFlags(listed) {
			fmt.Fprint(stderr, "\nFlags:\n")
			listed.PrintDefaults()
		}
	}
	return fs
}

// unlisted is the usage text of a flag a command accepts only to refuse it with a clear
// message (a shared flag that does not apply to it): its usage does not list it. Not "":
// a flag left without a usage text by mistake is still listed.
const unlisted = "\x00unlisted"

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr, "version [--backend NAME]")
	backendName := fs.String("backend", "", "also load this backend and check it, LeNet's loss and gradient against the Go backend's: "+
		strings.Join(experiment.BackendNames, ", "))
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("version takes no arguments, got %q", rest)
	}
	fmt.Fprintf(stdout, "esp %s\n", experiment.ToolkitVersion()) // as config.json records it
	if info, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(stdout, "%s\n", info.GoVersion)
		for _, s := range info.Settings {
			if s.Key == "GOEXPERIMENT" {
				fmt.Fprintf(stdout, "GOEXPERIMENT=%s\n", s.Value)
			}
		}
	}
	if experiment.XLAAvailable {
		fmt.Fprintln(stdout, "XLA backend: built in")
	} else {
		fmt.Fprintln(stdout, "XLA backend: not built in (make build-xla)")
	}
	if *backendName == "" {
		return nil
	}
	backend, err := experiment.NewBackend(*backendName)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	fmt.Fprintf(stdout, "backend: %s\n", backend.Description())
	for d := range backend.NumDevices() {
		fmt.Fprintf(stdout, "device %d: %s\n", d, backend.DeviceDescription(compute.DeviceNum(d)))
	}
	check, err := experiment.CheckBackend(backend)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "check: ok, %s\n", check)
	return nil
}
