package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"

	"github.com/gomlx/go-xla/installer"

	"github.com/extremepoints/esp/experiment"
)

// pypiHost is the host of PyPI's JSON API, which go-xla's installer asks for JAX's packages.
const pypiHost = "pypi.org"

// jaxVersion is what --version takes: "latest" or a release number in PyPI's form
// (0.8.0, 0.8.1rc1, 0.9.0.dev20260101), which becomes part of the package index's URL.
var jaxVersion = regexp.MustCompile(`^(latest|[0-9]+(\.[0-9]+)*(\.?(a|b|rc|dev|post)[0-9]+)*)$`)

// runSetupGPU installs the PJRT CUDA plugin and the NVIDIA libraries it needs, from JAX's
// pip packages, with go-xla's installer. It is the only place esp downloads a plugin: the
// backends never do.
func runSetupGPU(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("setup-gpu", stderr, "setup-gpu [--dir DIR] [--cuda 13|12] [--version V] [--index-url URL] [--force]")
	defaultDir, ok := homeInstallDir()
	if !ok {
		defaultDir = "~/.local/lib/go-xla"
	}
	dir := fs.String("dir", defaultDir, "install folder; the plugin goes to DIR/nvidia/ (go-xla finds it in ~/.local/lib/go-xla and /usr/local/lib/go-xla without "+experiment.PJRTPluginPathEnv+")")
	cuda := fs.String("cuda", "13", "CUDA major version: 13 (pip package jax-cuda13-pjrt) or 12")
	version := fs.String("version", "latest", "JAX version of the plugin packages")
	indexURL := fs.String("index-url", "", "a PyPI mirror (serving /pypi/NAME/json) to use instead of https://pypi.org")
	force := fs.Bool("force", false, "replace an installation already in DIR/nvidia")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("setup-gpu takes no arguments, got %q", rest)
	}
	if *cuda != "13" && *cuda != "12" {
		return usagef("--cuda %q: valid values are 13 and 12", *cuda)
	}
	if !jaxVersion.MatchString(*version) {
		return usagef("--version %q: give a JAX version such as 0.8.0, or latest", *version)
	}
	if *dir == "" {
		return usagef("--dir is empty")
	}
	if st, err := os.Stat(*dir); err == nil && !st.IsDir() {
		return usagef("--dir %s is a file, not a directory", *dir)
	}
	installDir, err := filepath.Abs(*dir)
	if err != nil {
		return badInput(fmt.Errorf("--dir %s: %w", *dir, err))
	}
	nvidiaDir := filepath.Join(installDir, "nvidia")
	if restored, err := restoreInterruptedInstall(nvidiaDir); err != nil {
		return err
	} else if restored {
		fmt.Fprintf(stdout, "an interrupted setup-gpu had moved the installation in %s aside: put back\n", nvidiaDir)
	}
	if entries, err := os.ReadDir(nvidiaDir); err == nil && len(entries) > 0 && !*force {
		return usagef("%s already holds an installation; --force replaces it", nvidiaDir)
	}
	source := "https://" + pypiHost
	if *indexURL != "" {
		mirror, err := url.Parse(*indexURL)
		if err != nil || (mirror.Scheme != "http" && mirror.Scheme != "https") || mirror.Host == "" {
			return usagef("--index-url %q: want an http:// or https:// URL", *indexURL)
		}
		http.DefaultTransport = mirrorTransport{mirror: mirror, next: http.DefaultTransport}
		source = *indexURL
	}
	fmt.Fprintf(stdout, "installing the PJRT CUDA plugin (jax-cuda%s-pjrt %s) and its NVIDIA libraries from %s into %s\n",
		*cuda, *version, source, installDir)
	made := missingDirs(installDir)
	if err := keepingOldInstall(nvidiaDir, func() error {
		return installInScratch(func() error {
			return installer.CudaInstall("cuda"+*cuda, *version, installDir, false, installer.Normal)
		})
	}); err != nil {
		for _, d := range made {
			_ = os.Remove(d) // the folders the installer made for it, if still empty
		}
		if *indexURL != "" { // the installer's messages name pypi.org whatever serves it
			return fmt.Errorf("installing the CUDA plugin (PyPI's API served by %s): %w", *indexURL, err)
		}
		return fmt.Errorf("installing the CUDA plugin: %w", err)
	}
	plugin := filepath.Join(nvidiaDir, installer.NVIDIAPJRTPluginFileName)
	if _, err := os.Stat(plugin); err != nil {
		return fmt.Errorf("the installer finished but %s is missing: %w", plugin, err)
	}
	fmt.Fprintf(stdout, "\nplugin: %s\n", plugin)
	if !defaultSearchDir(installDir) {
		fmt.Fprintf(stdout, "use it with: export %s=%s\n", experiment.PJRTPluginPathEnv, nvidiaDir)
	}
	fmt.Fprintln(stdout, "then: esp train --backend xla:cuda ...")
	return nil
}

// keepingOldInstall runs install, which replaces dir (go-xla's installer removes it
// first), with the installation already in dir moved aside: put back if install fails,
// removed once it succeeds. A failed --force download then loses nothing.
func keepingOldInstall(dir string, install func() error) error {
	if _, err := os.Stat(dir); err != nil {
		if err := install(); err != nil {
			// What a failed installation put there (libraries installed before the step
			// that failed) would pass for an installation that only --force replaces.
			if rmErr := os.RemoveAll(dir); rmErr != nil {
				return fmt.Errorf("%w; removing the partial installation: %v", err, rmErr)
			}
			return err
		}
		return nil
	}
	old := asideDir(dir)
	if err := os.Rename(dir, old); err != nil {
		return fmt.Errorf("moving the installation in %s aside: %w", dir, err)
	}
	if err := install(); err != nil {
		if rmErr := os.RemoveAll(dir); rmErr != nil {
			return fmt.Errorf("%w; removing the partial installation: %v (the previous one is in %s)", err, rmErr, old)
		}
		if backErr := os.Rename(old, dir); backErr != nil {
			return fmt.Errorf("%w; the previous installation could not be put back: it is in %s: %v", err, old, backErr)
		}
		return fmt.Errorf("%w (the previous installation in %s is kept)", err, dir)
	}
	// Renamed before it is removed: an installation aside always is a whole one, which
	// the next setup-gpu puts back (restoreInterruptedInstall); one half removed is not.
	if err := os.Rename(old, removingDir(dir)); err != nil {
		return fmt.Errorf("removing the previous installation, moved to %s: %w", old, err)
	}
	if err := os.RemoveAll(removingDir(dir)); err != nil {
		return fmt.Errorf("removing the previous installation, moved to %s: %w", removingDir(dir), err)
	}
	return nil
}

// asideDir is where setup-gpu --force keeps the installation in dir while it installs
// another; removingDir where it puts it to remove it once the new one is in place.
func asideDir(dir string) string    { return dir + ".esp-old" }
func removingDir(dir string) string { return dir + ".esp-removing" }

// restoreInterruptedInstall undoes what an interrupted setup-gpu --force left: its
// installation moved aside is put back in dir over whatever partial one is there (true),
// and a previous installation it was removing is removed.
func restoreInterruptedInstall(dir string) (restored bool, err error) {
	if err := os.RemoveAll(removingDir(dir)); err != nil {
		return false, fmt.Errorf("removing %s, left by an interrupted setup-gpu: %w", removingDir(dir), err)
	}
	old := asideDir(dir)
	if _, err := os.Stat(old); errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return false, fmt.Errorf("removing the partial installation in %s (the previous one is in %s): %w", dir, old, err)
	}
	if err := os.Rename(old, dir); err != nil {
		return false, fmt.Errorf("putting back the installation an interrupted setup-gpu moved to %s: %w", old, err)
	}
	return true, nil
}

// missingDirs lists dir and those of its parents that do not exist yet, deepest first.
func missingDirs(dir string) []string {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || filepath.Dir(d) == d {
			return missing
		}
		missing = append(missing, d)
	}
}

// installInScratch runs install with the temporary folder ($TMPDIR) set to a new folder of
// its own, and removes that folder after. go-xla's installer downloads each wheel to a
// temporary file and leaves it behind when the download or its checksum fails; the NVIDIA
// libraries' wheels run to hundreds of megabytes.
func installInScratch(install func() error) (err error) {
	scratch, err := os.MkdirTemp("", "esp-setup-gpu-")
	if err != nil {
		return fmt.Errorf("making a download folder: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(scratch); rmErr != nil && err == nil {
			err = fmt.Errorf("removing the download folder: %w", rmErr)
		}
	}()
	old, had := os.LookupEnv("TMPDIR")
	if err := os.Setenv("TMPDIR", scratch); err != nil {
		return fmt.Errorf("setting TMPDIR: %w", err)
	}
	defer func() {
		if had {
			_ = os.Setenv("TMPDIR", old)
		} else {
			_ = os.Unsetenv("TMPDIR")
		}
	}()
	return install()
}

// homeInstallDir is go-xla's folder in the user's home (~/.local/lib/go-xla), if it has one.
func homeInstallDir() (string, bool) {
	lib, err := installer.DefaultHomeLibPath()
	if err != nil {
		return "", false
	}
	return filepath.Join(lib, "go-xla"), true
}

// defaultSearchDir reports whether go-xla looks for plugins in dir/nvidia by itself.
func defaultSearchDir(dir string) bool {
	home, ok := homeInstallDir()
	return dir == "/usr/local/lib/go-xla" || (ok && dir == home)
}

// mirrorTransport sends the requests for PyPI's API to a mirror; downloads go wherever the
// API's answers point.
type mirrorTransport struct {
	mirror *url.URL
	next   http.RoundTripper
}

func (m mirrorTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != pypiHost {
		return m.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = m.mirror.Scheme, m.mirror.Host, m.mirror.Host
	r.URL.Path = path.Join("/", m.mirror.Path, r.URL.Path)
	return m.next.RoundTrip(r)
}
