package experiment

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// PJRTPluginPathEnv is where PJRT plugins are looked for: a colon-separated list of folders
// or plugin files (go-xla's variable).
const PJRTPluginPathEnv = "PJRT_PLUGIN_LIBRARY_PATH"

// jaxPluginFile is the file name JAX's pip packages give a PJRT plugin (jax-cuda13-pjrt ships
// jax_plugins/xla_cuda13/xla_cuda_plugin.so); go-xla only recognizes pjrt_c_api_NAME_plugin.so.
func jaxPluginFile(name string) string { return "xla_" + name + "_plugin.so" }

// FindJAXPlugin looks for JAX's file of the named PJRT plugin ("cuda": xla_cuda_plugin.so)
// in the entries of PJRT_PLUGIN_LIBRARY_PATH: an entry may be the file itself, the folder
// holding it, or a site-packages folder (jax_plugins/xla_NAME*/ inside). It returns the
// file's absolute path, or "" when there is none.
func FindJAXPlugin(name string) string {
	return findJAXPlugin(name, filepath.SplitList(os.Getenv(PJRTPluginPathEnv)))
}

func findJAXPlugin(name string, entries []string) string {
	file := jaxPluginFile(name)
	for _, entry := range entries {
		if entry == "" {
			continue
		}
		candidates := []string{entry, filepath.Join(entry, file)}
		if nested, err := filepath.Glob(filepath.Join(entry, "jax_plugins", "xla_"+name+"*", file)); err == nil {
			candidates = append(candidates, nested...)
		}
		for _, c := range candidates {
			if filepath.Base(c) != file {
				continue
			}
			if info, err := os.Stat(c); err == nil && info.Mode().IsRegular() {
				if abs, err := filepath.Abs(c); err == nil {
					return abs
				}
			}
		}
	}
	return ""
}

// missingPluginError explains how to get a PJRT plugin that was not found.
func missingPluginError(plugin string, found []string) error {
	where := "unset"
	if v := os.Getenv(PJRTPluginPathEnv); v != "" {
		where = fmt.Sprintf("%q", v)
	}
	jax := "JAX's " + jaxPluginFile(plugin)
	if strings.HasPrefix(plugin, "cuda") {
		jax += " (pip package jax-cuda13-pjrt)"
	}
	hint := fmt.Sprintf("set %s to the folder holding pjrt_c_api_%s_plugin.so or %s, or give the file as \"xla:/path/to/plugin.so\"",
		PJRTPluginPathEnv, plugin, jax)
	if strings.HasPrefix(plugin, "cuda") {
		hint = "run `esp setup-gpu` to install the CUDA plugin (it downloads it on request), or " + hint
	}
	return fmt.Errorf("experiment: no PJRT plugin %q found (%s is %s; plugins found: %v): %s",
		plugin, PJRTPluginPathEnv, where, found, hint)
}
