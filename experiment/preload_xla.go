//go:build xla && linux

package experiment

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// preload opens a shared library for the rest of the process's life, as Python's ctypes
// does (RTLD_NOW | RTLD_LOCAL); it returns dlerror's message, or NULL.
static const char *preload(const char *path) {
	if (dlopen(path, RTLD_NOW | RTLD_LOCAL) == NULL) {
		return dlerror();
	}
	return NULL;
}

// loaded reports whether a library of that name is loaded, without loading it.
static int loaded(const char *name) {
	void *handle = dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
	if (handle == NULL) {
		return 0;
	}
	dlclose(handle);
	return 1;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// preloadLibraries opens each shared library, in order, and keeps it open, so that a later
// lookup by file name alone finds it. It returns the failures, joined; a library that fails
// does not stop the others.
func preloadLibraries(paths []string) error {
	var errs []error
	for _, path := range paths {
		cPath := C.CString(path)
		msg := C.preload(cPath)
		C.free(unsafe.Pointer(cPath))
		if msg != nil {
			errs = append(errs, fmt.Errorf("experiment: loading %s: %s", path, C.GoString(msg)))
		}
	}
	return errors.Join(errs...)
}

// libraryLoaded reports whether the process has a shared library of that name loaded.
func libraryLoaded(name string) bool {
	cName := C.CString(name)
	defer C.free(unsafe.Pointer(cName))
	return C.loaded(cName) != 0
}
