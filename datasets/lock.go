package datasets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockEntry takes the lock of the cache entry name in dataDir, so that two processes
// fetching one dataset do not both import it (the last would silently win) or clear each
// other's temporary files. It waits, polling so that ctx can stop it, while another
// process holds the lock. Where the lock file cannot be made (a read-only cache, shared by
// others), it returns without one: nothing can be written there anyway.
func lockEntry(ctx context.Context, dataDir, name string, opts Options) (unlock func(), err error) {
	path := filepath.Join(dataDir, ".lock-"+name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", name, err)
	}
	said := false
	for {
		locked, err := TryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if locked {
			return func() { unlockFile(f); f.Close() }, nil
		}
		if !said {
			opts.say("%s: another process is fetching it into %s: waiting", name, dataDir)
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
