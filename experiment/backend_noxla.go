//go:build !xla

package experiment

import (
	"fmt"

	"github.com/gomlx/compute"
)

// XLAAvailable reports whether this build includes the XLA backend (build tag "xla").
const XLAAvailable = false

func newXLABackend(config string) (compute.Backend, error) {
	return nil, fmt.Errorf("experiment: backend \"xla:%s\" is not in this build: build esp with the XLA backend "+
		"(make build-xla: go build -tags xla, needs cgo), install a PJRT plugin (esp setup-gpu for CUDA, or point %s "+
		"at one), or use the \"go\" backend", config, PJRTPluginPathEnv)
}
