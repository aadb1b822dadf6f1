package experiment

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
)

// BackendNames lists the backend names NewBackend accepts (the XLA ones only work in
// a build with the "xla" tag and an installed PJRT plugin).
var BackendNames = []string{"go", "xla:cpu", "xla:cuda"}

// NewBackend returns the named compute backend:
//
//   - "" or "go": GoMLX's pure-Go backend (build with GOEXPERIMENT=simd for its fast matmul).
//   - "xla:PLUGIN" (e.g. "xla:cpu", "xla:cuda", or "xla:/abs/path/plugin.so", options
//     after a comma as in GoMLX): XLA through a PJRT plugin. It needs the build tag
//     "xla" and a plugin already installed, found through PJRT_PLUGIN_LIBRARY_PATH or
//     go-xla's standard folders; it never downloads one.
func NewBackend(name string) (compute.Backend, error) {
	switch {
	case name == "" || name == "go":
		b, err := gobackend.New("")
		if err != nil {
			return nil, fmt.Errorf("experiment: creating the Go backend: %w", err)
		}
		return b, nil
	case name == "xla" || strings.HasPrefix(name, "xla:"):
		return newXLABackend(strings.TrimPrefix(strings.TrimPrefix(name, "xla"), ":"))
	}
	return nil, fmt.Errorf("experiment: unknown backend %q, valid: %s", name, strings.Join(BackendNames, ", "))
}
