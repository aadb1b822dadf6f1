//go:build xla && linux

package experiment

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPreloadLibraries builds two small shared libraries under the names of NVIDIA's pip
// packages, beside a JAX plugin folder, and checks that after preloading a lookup by file
// name alone (how the CUDA plugin opens them) finds them, and that a corrupt library is
// reported by path without stopping the others.
func TestPreloadLibraries(t *testing.T) {
	if _, err := exec.LookPath("cc"); err != nil {
		t.Skip("no C compiler to build test libraries")
	}
	site := filepath.Join(t.TempDir(), "site-packages")
	plugin := filepath.Join(site, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so")
	src := filepath.Join(t.TempDir(), "probe.c")
	if err := os.WriteFile(src, []byte("int esp_preload_probe(void) { return 42; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(pkg, soname string) string {
		dir := filepath.Join(site, "nvidia", pkg, "lib")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// A file name no system library has, so that only the preload can make it found.
		out := filepath.Join(dir, soname)
		if b, err := exec.Command("cc", "-shared", "-fPIC", "-Wl,-soname,"+soname, "-o", out, src).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", out, err, b)
		}
		return out
	}
	// Test-only names: jaxNVIDIALibraries lists the real ones.
	saved := jaxNVIDIALibraries
	t.Cleanup(func() { jaxNVIDIALibraries = saved })
	jaxNVIDIALibraries = []struct{ pkg, file string }{
		{"cu13", "libesp-probe-cudart.so.13"},
		{"cudnn", "libesp-probe-corrupt.so.9"},
		{"absent", "libesp-probe-absent.so.1"},
		{"cu13", "libesp-probe-cublas.so.13"},
	}
	cudart := build("cu13", "libesp-probe-cudart.so.13")
	cublas := build("cu13", "libesp-probe-cublas.so.13")
	corrupt := filepath.Join(site, "nvidia", "cudnn", "lib", "libesp-probe-corrupt.so.9")
	if err := os.MkdirAll(filepath.Dir(corrupt), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(corrupt, []byte("not a shared library"), 0o644); err != nil {
		t.Fatal(err)
	}

	files := jaxNVIDIALibraryFiles(plugin)
	if want := []string{cudart, corrupt, cublas}; strings.Join(files, " ") != strings.Join(want, " ") {
		t.Fatalf("jaxNVIDIALibraryFiles = %v, want %v", files, want)
	}
	if libraryLoaded("libesp-probe-cudart.so.13") {
		t.Fatal("probe library loaded before the preload")
	}
	err := preloadLibraries(files)
	if err == nil || !strings.Contains(err.Error(), corrupt) || strings.Contains(err.Error(), cudart) {
		t.Errorf("preloadLibraries error %v: want one naming %s only", err, corrupt)
	}
	for _, name := range []string{"libesp-probe-cudart.so.13", "libesp-probe-cublas.so.13"} {
		if !libraryLoaded(name) {
			t.Errorf("%s is not found by name after the preload", name)
		}
	}
	if libraryLoaded("libesp-probe-absent.so.1") {
		t.Error("a library that is not there reads as loaded")
	}
}

// TestNewBackendJAXPluginPreloads checks that loading JAX's CUDA plugin first loads the NVIDIA
// libraries beside it, and that when the backend then fails, the error names both the
// plugin and the libraries that would not load.
func TestNewBackendJAXPluginPreloads(t *testing.T) {
	site := filepath.Join(t.TempDir(), "site-packages")
	plugin := filepath.Join(site, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so")
	corrupt := filepath.Join(site, "nvidia", "cudnn", "lib", "libcudnn.so.9")
	for _, f := range []string{plugin, corrupt} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("not a shared library"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ name, backend, pathEnv string }{
		{"found through PJRT_PLUGIN_LIBRARY_PATH", "xla:cuda", site},
		{"given by path", "xla:" + plugin, t.TempDir()},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(PJRTPluginPathEnv, c.pathEnv)
			_, err := NewBackend(c.backend)
			if err == nil || !strings.Contains(err.Error(), plugin) || !strings.Contains(err.Error(), corrupt) {
				t.Errorf("NewBackend(%q) error %v: want one naming %s and %s", c.backend, err, plugin, corrupt)
			}
		})
	}
}
