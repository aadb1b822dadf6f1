//go:build xla && !linux

package experiment

// preloadLibraries does nothing outside Linux: JAX's CUDA plugin is Linux-only.
func preloadLibraries(paths []string) error { return nil }

func libraryLoaded(name string) bool { return false }
