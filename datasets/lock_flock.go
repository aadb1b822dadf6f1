//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package datasets

import (
	"errors"
	"os"
	"syscall"
)

// TryLock takes an exclusive advisory lock (flock) on f without waiting; false means
// another process holds it. The kernel releases it when the process ends, however it
// ends. Where flock is missing, on this system or on f's file system (some network file
// systems), it takes no lock and reports true: processes sharing the file are then not
// kept apart (concurrent fetches of one dataset, or the runs of one study directory).
func TryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case errors.Is(err, syscall.EWOULDBLOCK):
		return false, nil
	case errors.Is(err, syscall.ENOLCK), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOTSUP):
		return true, nil // no locks on this file system
	}
	return err == nil, err
}

func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
