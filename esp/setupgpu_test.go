package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// wheel returns a zip archive (a pip wheel) holding files.
func wheel(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for name, content := range files {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fakePyPI serves PyPI's JSON API and the wheels of JAX's CUDA 13 plugin and one NVIDIA
// library, as go-xla's installer reads them. badDigest makes the plugin wheel's listed
// SHA-256 wrong.
func fakePyPI(t *testing.T, badDigest bool) *httptest.Server {
	t.Helper()
	files := map[string][]byte{
		"jax_cuda13_pjrt-0.8.0-py3-none-manylinux_2_27_x86_64.whl": wheel(t, map[string]string{
			"jax_plugins/xla_cuda13/xla_cuda_plugin.so": "fake PJRT plugin",
		}),
		"nvidia_cublas-13.1.0-py3-none-manylinux_2_27_x86_64.whl": wheel(t, map[string]string{
			"nvidia/cu13/lib/libcublas.so.13":   "fake cublas",
			"nvidia/cu13/lib/libcublasLt.so.13": "fake cublasLt",
			"nvidia/cu13/bin/ptxas":             "fake ptxas",
		}),
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	release := func(file string) []map[string]any {
		sum := sha256.Sum256(files[file])
		digest := hex.EncodeToString(sum[:])
		if badDigest && strings.HasPrefix(file, "jax_") {
			digest = strings.Repeat("0", 64)
		}
		return []map[string]any{{"packagetype": "bdist_wheel", "filename": file, "url": srv.URL + "/files/" + file,
			"digests": map[string]string{"sha256": digest}}}
	}
	api := map[string]any{
		"jax-cuda13-plugin": map[string]any{
			"info":     map[string]any{"name": "jax-cuda13-plugin", "version": "0.8.0", "author_email": "jax-dev@google.com", "requires_dist": []string{"nvidia-cublas>=13.0"}},
			"releases": map[string]any{},
		},
		"nvidia-cublas": map[string]any{
			"info":     map[string]any{"name": "nvidia-cublas", "version": "13.1.0"},
			"releases": map[string]any{"13.1.0": release("nvidia_cublas-13.1.0-py3-none-manylinux_2_27_x86_64.whl")},
		},
		"jax-cuda13-pjrt": map[string]any{
			"info":     map[string]any{"name": "jax-cuda13-pjrt", "version": "0.8.0", "author_email": "jax-dev@google.com"},
			"releases": map[string]any{"0.8.0": release("jax_cuda13_pjrt-0.8.0-py3-none-manylinux_2_27_x86_64.whl")},
		},
	}
	mux.HandleFunc("/pypi/{name}/json", func(w http.ResponseWriter, r *http.Request) {
		info, ok := api[r.PathValue("name")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(info)
	})
	mux.HandleFunc("/files/{name}", func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[r.PathValue("name")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	})
	return srv
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// TestSetupGPU installs the CUDA plugin from a loopback PyPI mirror with a real esp process.
func TestSetupGPU(t *testing.T) {
	srv := fakePyPI(t, false)
	home := t.TempDir()
	dir := filepath.Join(home, "lib", "go-xla")
	plugin := filepath.Join(dir, "nvidia", "pjrt_c_api_cuda_plugin.so")

	tmp := t.TempDir()
	cmd := espProcess(t, t.TempDir(), "setup-gpu", "--dir", dir, "--index-url", srv.URL)
	cmd.Env = append(cmd.Env, "HOME="+home, "TMPDIR="+tmp)
	if err := cmd.Run(); err != nil {
		t.Fatalf("esp setup-gpu: %v", err)
	}
	out := cmd.Stdout.(*bytes.Buffer).String()
	if got, err := os.ReadFile(plugin); err != nil || string(got) != "fake PJRT plugin" {
		t.Fatalf("plugin %s: %q, %v", plugin, got, err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "nvidia", "cu13", "lib", "libcublas.so.13")); err != nil || string(got) != "fake cublas" {
		t.Errorf("NVIDIA library: %q, %v", got, err)
	}
	emptyDir(t, tmp)
	for _, want := range []string{"plugin: " + plugin, "export PJRT_PLUGIN_LIBRARY_PATH=" + filepath.Join(dir, "nvidia")} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// A second run does not replace the installation unless asked to.
	again := espProcess(t, t.TempDir(), "setup-gpu", "--dir", dir, "--index-url", srv.URL)
	if code := exitCode(t, again.Run()); code != exitUsage {
		t.Errorf("second setup-gpu exit code %d, want %d", code, exitUsage)
	}
	if msg := again.Stdout.(*bytes.Buffer).String(); !strings.Contains(msg, "--force replaces it") {
		t.Errorf("second setup-gpu says %q", msg)
	}
	if got, err := os.ReadFile(plugin); err != nil || string(got) != "fake PJRT plugin" {
		t.Errorf("plugin changed by the refused run: %q, %v", got, err)
	}
	forced := espProcess(t, t.TempDir(), "setup-gpu", "--dir", dir, "--index-url", srv.URL, "--force")
	forced.Env = append(forced.Env, "HOME="+home)
	if err := forced.Run(); err != nil {
		t.Errorf("setup-gpu --force: %v", err)
	}
}

// TestSetupGPUBadDownload checks that a wheel whose checksum does not match fails the
// install and leaves neither a plugin nor the download behind.
func TestSetupGPUBadDownload(t *testing.T) {
	srv := fakePyPI(t, true)
	home := t.TempDir()
	dir := filepath.Join(home, "lib", "go-xla")
	tmp := t.TempDir()
	cmd := espProcess(t, t.TempDir(), "setup-gpu", "--dir", dir, "--index-url", srv.URL)
	cmd.Env = append(cmd.Env, "HOME="+home, "TMPDIR="+tmp)
	if code := exitCode(t, cmd.Run()); code != exitFailure {
		t.Fatalf("exit code %d, want %d", code, exitFailure)
	}
	if out := cmd.Stdout.(*bytes.Buffer).String(); !strings.Contains(strings.ToLower(out), "sha256") && !strings.Contains(strings.ToLower(out), "checksum") {
		t.Errorf("the error does not name the checksum:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "nvidia", "pjrt_c_api_cuda_plugin.so")); !os.IsNotExist(err) {
		t.Errorf("a plugin was left behind after a failed download (%v)", err)
	}
	// Nothing of the failed installation stays: a partial DIR/nvidia would pass for an
	// installation that the next setup-gpu refuses to replace without --force.
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("--dir %s, made for the failed installation, was left behind (%v)", dir, err)
	}
	emptyDir(t, tmp)

	// A failed --force keeps the installation it was to replace.
	keep := filepath.Join(dir, "nvidia", "keep.txt")
	if err := os.MkdirAll(filepath.Dir(keep), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keep, []byte("installed before"), 0o644); err != nil {
		t.Fatal(err)
	}
	forced := espProcess(t, t.TempDir(), "setup-gpu", "--dir", dir, "--index-url", srv.URL, "--force")
	forced.Env = append(forced.Env, "HOME="+home, "TMPDIR="+tmp)
	if code := exitCode(t, forced.Run()); code != exitFailure {
		t.Fatalf("--force with a bad download: exit code %d, want %d", code, exitFailure)
	}
	if got, err := os.ReadFile(keep); err != nil || string(got) != "installed before" {
		t.Errorf("the installation a failed --force was to replace: %q, %v", got, err)
	}
	if out := forced.Stdout.(*bytes.Buffer).String(); !strings.Contains(out, "previous installation") {
		t.Errorf("the error does not say the previous installation is kept:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "nvidia.esp-old")); !os.IsNotExist(err) {
		t.Errorf("the moved-aside installation is left behind (%v)", err)
	}
}

// emptyDir fails the test if dir holds anything: the installer's downloads must not outlive
// esp setup-gpu, failed or not.
func emptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind in the temporary folder: %s", e.Name())
	}
}

// TestJAXVersion: --version takes PyPI's release numbers and latest, nothing path-like.
func TestJAXVersion(t *testing.T) {
	for v, want := range map[string]bool{"latest": true, "0.8.0": true, "0.8.1rc1": true, "0.9.0.dev20260101": true,
		"": false, "../../x": false, "0.8.0/../../y": false, "v0.8": false} {
		if got := jaxVersion.MatchString(v); got != want {
			t.Errorf("--version %q accepted: %v, want %v", v, got, want)
		}
	}
}

// TestRestoreInterruptedInstall: what a setup-gpu --force killed midway left is undone
// before anything else, so that the next one never removes the only whole installation.
func TestRestoreInterruptedInstall(t *testing.T) {
	tests := []struct {
		name         string
		dir, aside   string // the files in DIR/nvidia and beside it ("": no folder)
		removing     bool   // a previous installation half removed
		wantRestored bool
		wantDir      string // the file in DIR/nvidia after ("": no folder)
	}{
		{"nothing left", "whole.so", "", false, false, "whole.so"},
		{"killed while installing", "partial.so", "whole.so", false, true, "whole.so"},
		{"killed before installing", "", "whole.so", false, true, "whole.so"},
		{"killed while removing the previous one", "new.so", "", true, false, "new.so"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "nvidia")
			put := func(folder, file string) {
				if err := os.MkdirAll(folder, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(folder, file), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.dir != "" {
				put(dir, tc.dir)
			}
			if tc.aside != "" {
				put(asideDir(dir), tc.aside)
			}
			if tc.removing {
				put(removingDir(dir), "old.so")
			}
			restored, err := restoreInterruptedInstall(dir)
			if err != nil || restored != tc.wantRestored {
				t.Fatalf("restored %v, err %v; want %v and no error", restored, err, tc.wantRestored)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 || entries[0].Name() != tc.wantDir {
				t.Errorf("%s holds %v, want %s alone", dir, entries, tc.wantDir)
			}
			for _, gone := range []string{asideDir(dir), removingDir(dir)} {
				if _, err := os.Stat(gone); !os.IsNotExist(err) {
					t.Errorf("%s is left (%v)", gone, err)
				}
			}
		})
	}
}
