//go:build !xla

package experiment

import (
	"fmt"

	"github.com/gomlx/compute"
)

// XLAAvailable reports whether this build includes the XLA backend (build tag "xla").
const XLAAvailable = false

func newXLABackend(config string) (compute.Backend, error) {
	return nil, fmt.Errorf("experiment: backend \"xla:%s\" is not in this build: rebuild with -tags xla "+
		"(needs cgo) and install a PJRT plugin where PJRT_PLUGIN_LIBRARY_PATH points; or use the \"go\" backend", config)
}
