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

// jaxNVIDIADir returns the folder of NVIDIA's pip packages beside JAX's plugin at
// pluginPath (site-packages/jax_plugins/xla_cuda13/FILE): site-packages/nvidia.
func jaxNVIDIADir(pluginPath string) string {
	return filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(pluginPath))), "nvidia")
}

// jaxCUDADataDir returns the CUDA toolkit folder of the pip packages installed beside JAX's
// CUDA plugin (site-packages/nvidia/cu13 or, for CUDA 12, nvidia/cuda_nvcc), where XLA finds
// ptxas and libdevice; "" when there is none. JAX passes it to XLA from Python; esp loads the
// plugin without Python, so it sets XLA's --xla_gpu_cuda_data_dir itself.
func jaxCUDADataDir(pluginPath string) string {
	for _, sub := range []string{"cu13", "cuda_nvcc"} {
		dir := filepath.Join(jaxNVIDIADir(pluginPath), sub)
		if info, err := os.Stat(filepath.Join(dir, "nvvm", "libdevice")); err == nil && info.IsDir() {
			return dir
		}
	}
	return ""
}

// jaxNVIDIALibraries are the NVIDIA libraries JAX loads before its CUDA plugin, in load
// order, each as pip package (site-packages/nvidia/PKG/lib) and file: the CUDA 13 packages'
// and the CUDA 12 ones. The plugin and the libraries it opens look for them by file name
// alone, which finds a library the process has loaded already but not, unless
// LD_LIBRARY_PATH names it, the pip package's folder.
var jaxNVIDIALibraries = []struct{ pkg, file string }{
	{"cu13", "libcudart.so.13"}, {"cuda_runtime", "libcudart.so.12"},
	{"cu13", "libnvrtc.so.13"}, {"cuda_nvrtc", "libnvrtc.so.12"},
	{"cu13", "libnvJitLink.so.13"}, {"nvjitlink", "libnvJitLink.so.12"},
	{"cu13", "libcublasLt.so.13"}, {"cu13", "libcublas.so.13"},
	{"cublas", "libcublasLt.so.12"}, {"cublas", "libcublas.so.12"},
	{"nccl", "libnccl.so.2"},
	{"cu13", "libcupti.so.13"}, {"cuda_cupti", "libcupti.so.12"},
	{"cu13", "libcusparse.so.12"}, {"cusparse", "libcusparse.so.12"},
	{"cu13", "libcusolver.so.12"}, {"cusolver", "libcusolver.so.11"},
	{"cu13", "libcufft.so.12"}, {"cufft", "libcufft.so.11"},
	{"nvshmem", "libnvshmem_host.so.3"},
	{"cudnn", "libcudnn.so.9"},
}

// jaxNVIDIALibraryFiles returns the paths of the jaxNVIDIALibraries present in the pip
// packages beside JAX's plugin (site-packages/nvidia/PKG/lib/FILE), in load order.
func jaxNVIDIALibraryFiles(pluginPath string) []string {
	nvidia := jaxNVIDIADir(pluginPath)
	var files []string
	for _, lib := range jaxNVIDIALibraries {
		path := filepath.Join(nvidia, lib.pkg, "lib", lib.file)
		if info, err := os.Stat(path); err == nil && info.Mode().IsRegular() {
			files = append(files, path)
		}
	}
	return files
}

// setXLACUDADataDir adds --xla_gpu_cuda_data_dir=dir to XLA_FLAGS unless it names one already.
func setXLACUDADataDir(dir string) {
	flags := os.Getenv("XLA_FLAGS")
	if dir == "" || strings.Contains(flags, "--xla_gpu_cuda_data_dir") {
		return
	}
	os.Setenv("XLA_FLAGS", strings.TrimSpace(flags+" --xla_gpu_cuda_data_dir="+dir))
}
