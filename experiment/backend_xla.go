//go:build xla

package experiment

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/go-xla/pjrt"
)

// XLAAvailable reports whether this build includes the XLA backend (build tag "xla").
const XLAAvailable = true

func newXLABackend(config string) (compute.Backend, error) {
	// go-xla downloads plugins on first use unless told not to: the toolkit never does.
	xla.EnableAutoInstall(false)
	plugin, _, _ := strings.Cut(config, ",")
	if plugin == "" {
		plugin = "cpu"
		config = "cpu" + config
	}
	if !filepath.IsAbs(plugin) {
		found := pjrt.AvailablePlugins()
		names := make([]string, 0, len(found))
		for name := range found {
			names = append(names, name)
		}
		sort.Strings(names)
		ok := slices.ContainsFunc(names, func(n string) bool { return n == plugin || strings.HasPrefix(n, plugin+"_") })
		if !ok {
			// JAX's plugins carry another file name than go-xla looks for: load them by path.
			path := FindJAXPlugin(plugin)
			if path == "" {
				return nil, missingPluginError(plugin, names)
			}
			setXLACUDADataDir(jaxCUDADataDir(path))
			config = path + strings.TrimPrefix(config, plugin)
		}
	}
	b, err := xla.New(config)
	if err != nil {
		return nil, fmt.Errorf("experiment: creating XLA backend %q: %w", config, err)
	}
	return b, nil
}
