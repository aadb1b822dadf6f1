package datasets

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// walkEntry is called for each file or directory of a source; name uses '/' separators
// and is relative to the source's root.
type walkEntry func(name string, isDir bool, r io.Reader) error

// walkSource visits the entries of a directory, or of a tar archive (gzip-compressed or not).
func walkSource(path string, fn walkEntry) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() {
		// WalkDir neither enters a root that is a symbolic link nor follows links to files:
		// a dataset folder may be either (a link to shared storage, files linked from a store).
		if path, err = filepath.EvalSymlinks(path); err != nil {
			return err
		}
		return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(path, p)
			if err != nil || rel == "." {
				return err
			}
			rel = filepath.ToSlash(rel)
			if d.IsDir() {
				return fn(rel, true, nil)
			}
			if d.Type()&fs.ModeSymlink != 0 {
				if target, err := os.Stat(p); err != nil || !target.Mode().IsRegular() {
					return nil // a broken link, or one to a folder (not followed: no cycles)
				}
			} else if !d.Type().IsRegular() {
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return fn(rel, false, f)
		})
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, closeFn, err := maybeGunzip(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer closeFn()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: reading tar archive (truncated or not a tar.gz?): %w", path, noEOF(err))
		}
		name := strings.TrimPrefix(strings.TrimSuffix(hdr.Name, "/"), "./")
		if name == "" || name == "." {
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = fn(name, true, nil)
		case tar.TypeReg:
			err = fn(name, false, tr)
		}
		if err != nil {
			return err
		}
	}
}

// sourceKind tells what a --from path holds, by the names of its entries.
type sourceKind int

const (
	kindUnknown sourceKind = iota
	kindIDX
	kindCIFARBinary
	kindImageFolder
)

// detectSource looks at the entry names of path (without reading file contents
// of a directory; a tar archive is read once) and says what it holds.
func detectSource(path string) (sourceKind, error) {
	var idx, cifar, folder bool
	errStop := fmt.Errorf("stop")
	err := walkSource(path, func(name string, isDir bool, r io.Reader) error {
		base := name[strings.LastIndex(name, "/")+1:]
		switch {
		case strings.HasPrefix(base, "train-images-idx3-ubyte"):
			idx = true
		case base == "data_batch_1.bin":
			cifar = true
		case !isDir && imageFolderPath(name) != nil:
			folder = true
		}
		if cifar || folder {
			return errStop
		}
		return nil
	})
	if err != nil && err != errStop {
		return kindUnknown, err
	}
	switch {
	case cifar:
		return kindCIFARBinary, nil
	case folder:
		return kindImageFolder, nil
	case idx:
		return kindIDX, nil
	}
	return kindUnknown, fmt.Errorf("%s holds neither IDX files (train-images-idx3-ubyte[.gz]...), CIFAR-10 binary batches (data_batch_1.bin...), nor an image folder (train/<class>/*.png|jpg, test/<class>/*)", path)
}

// folderPath locates one file of an image folder.
type folderPath struct {
	split, class, file string
}

// imageFolderPath parses ".../train/<class>/<file>.{png,jpg,jpeg}"; nil if name is not one.
func imageFolderPath(name string) *folderPath {
	parts := strings.Split(name, "/")
	if len(parts) < 3 {
		return nil
	}
	n := len(parts)
	split, class, file := parts[n-3], parts[n-2], parts[n-1]
	if split != "train" && split != "test" {
		return nil
	}
	switch strings.ToLower(filepath.Ext(file)) {
	case ".png", ".jpg", ".jpeg":
	default:
		return nil
	}
	if strings.HasPrefix(file, ".") {
		return nil
	}
	return &folderPath{split: split, class: class, file: file}
}
