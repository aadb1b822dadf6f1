//go:build xla

package experiment

import (
	"errors"
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
	jaxPlugin := ""
	if filepath.IsAbs(plugin) {
		if strings.HasPrefix(filepath.Base(plugin), "xla_") {
			jaxPlugin = plugin
		}
	} else {
		found := pjrt.AvailablePlugins()
		names := make([]string, 0, len(found))
		for name := range found {
			names = append(names, name)
		}
		sort.Strings(names)
		ok := slices.ContainsFunc(names, func(n string) bool { return n == plugin || strings.HasPrefix(n, plugin+"_") })
		if !ok {
			// JAX's plugins carry another file name than go-xla looks for: load them by path.
			jaxPlugin = FindJAXPlugin(plugin)
			if jaxPlugin == "" {
				return nil, missingPluginError(plugin, names)
			}
			config = jaxPlugin + strings.TrimPrefix(config, plugin)
		}
	}
	var preloadErr error
	if jaxPlugin != "" {
		// What JAX's Python side does before it loads the plugin: name the CUDA toolkit
		// (ptxas, libdevice) and load the NVIDIA libraries of the pip packages.
		setXLACUDADataDir(jaxCUDADataDir(jaxPlugin))
		preloadErr = preloadLibraries(jaxNVIDIALibraryFiles(jaxPlugin))
	}
	b, err := xla.New(config)
	if err != nil {
		if preloadErr != nil {
			err = errors.Join(err, preloadErr)
		}
		return nil, fmt.Errorf("experiment: creating XLA backend %q: %w", config, err)
	}
	return b, nil
}
