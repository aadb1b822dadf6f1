package experiment

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"

	"github.com/extremepoints/esp/models"
)

// BackendNames lists the backend names NewBackend accepts (the XLA ones only work in
// a build with the "xla" tag and an installed PJRT plugin).
var BackendNames = []string{"go", "xla:cpu", "xla:cuda"}

// NewBackend returns the named compute backend:
//
//   - "" or "go": GoMLX's pure-Go backend (build with GOEXPERIMENT=simd for its fast matmul).
//     Options follow a colon, comma-separated, as GoMLX's Go backend takes them, e.g.
//     "go:parallelism=1" to keep one run on one core (how a study runs several at once).
//   - "xla:PLUGIN" (e.g. "xla:cpu", "xla:cuda", or "xla:/abs/path/plugin.so", options
//     after a comma as in GoMLX): XLA through a PJRT plugin. It needs the build tag
//     "xla" and a plugin already installed, found through PJRT_PLUGIN_LIBRARY_PATH or
//     go-xla's standard folders; it never downloads one.
//
// Its errors match [ErrBackend].
func NewBackend(name string) (compute.Backend, error) {
	var (
		backend compute.Backend
		err     error
	)
	switch {
	case plainGoBackend(name) || strings.HasPrefix(name, "go:"):
		backend, err = newGoBackend(strings.TrimPrefix(strings.TrimPrefix(name, "go"), ":"))
	case name == "xla" || strings.HasPrefix(name, "xla:"):
		backend, err = newXLABackend(strings.TrimPrefix(strings.TrimPrefix(name, "xla"), ":"))
	default:
		return nil, CheckBackendName(name)
	}
	if err != nil {
		return nil, backendError{err}
	}
	return backend, nil
}

// CheckBackendName returns NewBackend's error for a name of no backend family ("go",
// "xla"), without making a backend: for commands that make theirs long after they start.
func CheckBackendName(name string) error {
	if plainGoBackend(name) || strings.HasPrefix(name, "go:") || name == "xla" || strings.HasPrefix(name, "xla:") {
		return nil
	}
	return backendError{fmt.Errorf("experiment: unknown backend %q, valid: %s", name, strings.Join(BackendNames, ", "))}
}

// ErrBackend is matched (errors.Is) by every error of NewBackend: an unknown name, bad
// options, a backend not in this build, a PJRT plugin that is missing or fails to load.
// These are about the user's choice or set-up, not about the work.
var ErrBackend = errors.New("experiment: backend unavailable")

// backendError keeps NewBackend's message as it is while matching ErrBackend.
type backendError struct{ err error }

func (e backendError) Error() string        { return e.err.Error() }
func (e backendError) Unwrap() error        { return e.err }
func (e backendError) Is(target error) bool { return target == ErrBackend }

// plainGoBackend reports whether a backend name is the Go backend without options, the
// default ("" or "go"): a study divides the cores between its workers only then.
func plainGoBackend(name string) bool { return name == "" || name == "go" }

// newGoBackend creates GoMLX's Go backend with its options. GoMLX prints a line to stdout
// when given "parallelism=N"; since esp's stdout is its result, that option is applied here
// instead, on the backend's worker pool, falling back to GoMLX (and its line) only if the
// pool is not where this GoMLX version kept it.
func newGoBackend(config string) (compute.Backend, error) {
	parallelism := -2 // not set
	var rest []string
	for opt := range strings.SplitSeq(config, ",") {
		if v, ok := strings.CutPrefix(opt, "parallelism="); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < -1 {
				return nil, fmt.Errorf("experiment: Go backend option %q: want parallelism=N with N a count of workers, 0 (no parallelism) or -1 (unlimited)", opt)
			}
			parallelism = n
			continue
		}
		rest = append(rest, opt)
	}
	b, err := gobackend.New(strings.Join(rest, ","))
	if err != nil {
		return nil, fmt.Errorf("experiment: creating the Go backend: %w", err)
	}
	if parallelism != -2 && !setGoParallelism(b, parallelism) {
		b.Finalize()
		if b, err = gobackend.New(config); err != nil {
			return nil, fmt.Errorf("experiment: creating the Go backend: %w", err)
		}
	}
	return b, nil
}

// setGoParallelism calls b.Workers.SetMaxParallelism(n) on a Go backend, reporting
// whether it could.
func setGoParallelism(b compute.Backend, n int) bool {
	v := reflect.ValueOf(b)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return false
	}
	pool := v.Elem().FieldByName("Workers")
	if !pool.IsValid() || !pool.CanInterface() {
		return false
	}
	set := pool.MethodByName("SetMaxParallelism")
	if !set.IsValid() || set.Type().NumIn() != 1 || set.Type().In(0).Kind() != reflect.Int {
		return false
	}
	set.Call([]reflect.Value{reflect.ValueOf(n)})
	return true
}

// GoParallelism returns the parallelism of a Go backend (its worker pool's target), or
// 0 for another backend.
func GoParallelism(b compute.Backend) int {
	v := reflect.ValueOf(b)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return 0
	}
	pool := v.Elem().FieldByName("Workers")
	if !pool.IsValid() || !pool.CanInterface() {
		return 0
	}
	get := pool.MethodByName("MaxParallelism")
	if !get.IsValid() || get.Type().NumIn() != 0 || get.Type().NumOut() != 1 || get.Type().Out(0).Kind() != reflect.Int {
		return 0
	}
	return int(get.Call(nil)[0].Int())
}

// goOpsSequential is the value of the Go backend's OpsExecutionType field for its option
// "ops_sequential" (GoMLX compute v0.1.2 to v0.1.14: dynamic, parallel, sequential).
const goOpsSequential = 2

// goRunsOpsInParallel reports whether b is a Go backend that may run a graph's independent
// ops at once (its default). GoMLX compute v0.1.2 can deadlock then on a graph with many
// independent matmuls, such as an ensemble's: each matmul, started on a pool worker, waits
// in workerspool.Pool.Saturate for workers that the others hold. Option "ops_sequential"
// avoids it; the matmuls still use every worker.
func goRunsOpsInParallel(b compute.Backend) bool {
	v := reflect.ValueOf(b)
	if !models.IsGoBackend(b) || v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return false
	}
	mode := v.Elem().FieldByName("OpsExecutionType")
	return !mode.IsValid() || !mode.CanInt() || mode.Int() != goOpsSequential
}

// sequentialOps returns the backend name name with the Go backend's option
// "ops_sequential" added, see goRunsOpsInParallel; other backends are left as they are.
func sequentialOps(name string) string {
	switch {
	case plainGoBackend(name):
		return "go:ops_sequential"
	case strings.HasPrefix(name, "go:") && !slices.Contains(strings.Split(strings.TrimPrefix(name, "go:"), ","), "ops_sequential"):
		return name + ",ops_sequential"
	}
	return name
}
