package datasets

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	pathpkg "path"
	"path/filepath"
	"strings"
)

// walkEntry is called for each file or directory of a source; name uses '/' separators
// and is relative to the source's root.
type walkEntry func(name string, isDir bool, r io.Reader) error

// walkSource visits the entries of a directory, or of a tar archive (gzip-compressed or not),
// as a user listing them sees them:
//
//   - hidden entries (names starting with '.', such as Jupyter's .ipynb_checkpoints or the
//     ._ files macOS puts in archives) are skipped, with all they hold;
//   - symbolic links are followed, to files and to folders alike (what `ls -L` shows); a link
//     to a folder that holds it (a cycle) is not entered again;
//   - in an archive, hard links and symbolic links are resolved to the entries they name;
//   - a link that cannot be followed (broken, a loop, in an archive one to what the archive
//     does not hold) is visited as a file whose reading fails with an error saying so.
func walkSource(path string, fn walkEntry) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return walkDir(path, fn)
	}
	return walkTar(path, fn)
}

// isHidden reports whether a file or folder name starts with a dot.
func isHidden(name string) bool { return strings.HasPrefix(name, ".") }

// walkDir visits a directory's entries, following symbolic links.
func walkDir(root string, fn walkEntry) error {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	return walkDirFrom(real, "", map[string]bool{real: true}, fn)
}

// walkDirFrom visits the entries of dir, whose name relative to the source's root is rel.
// ancestors holds the real paths of the folders being walked, root down to dir: a link to
// one of them is a cycle.
func walkDirFrom(dir, rel string, ancestors map[string]bool, fn walkEntry) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if isHidden(e.Name()) {
			continue
		}
		p, name := filepath.Join(dir, e.Name()), pathpkg.Join(rel, e.Name())
		info, err := os.Stat(p) // through links
		if err != nil {
			if e.Type()&fs.ModeSymlink == 0 {
				return err
			}
			// A broken link (or a loop of links): an error for whoever reads it, nothing
			// for those who have no use for the name.
			if err := fn(name, false, errReader{fmt.Errorf("a symbolic link that cannot be followed: %w", err)}); err != nil {
				return err
			}
			continue
		}
		switch {
		case info.IsDir():
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				return err
			}
			if ancestors[real] {
				continue // a link to a folder above: entering it would never end
			}
			if err := fn(name, true, nil); err != nil {
				return err
			}
			ancestors[real] = true
			err = walkDirFrom(real, name, ancestors, fn)
			delete(ancestors, real)
			if err != nil {
				return err
			}
		case info.Mode().IsRegular():
			if err := visitFile(p, name, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// visitFile opens the file p and hands it to fn under name.
func visitFile(p, name string, fn walkEntry) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return fn(name, false, f)
}

// errReader is a reader whose every read fails with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// tarEntryName normalizes the name of a tar entry (or a hard link's target): '/'-separated,
// without a leading "./" or trailing '/'. The archive's root is ".".
func tarEntryName(name string) string {
	return pathpkg.Clean(strings.TrimPrefix(name, "./"))
}

// hiddenTarEntry reports whether any folder or file name along name starts with a dot.
func hiddenTarEntry(name string) bool {
	for part := range strings.SplitSeq(name, "/") {
		if isHidden(part) {
			return true
		}
	}
	return false
}

// eachTarEntry calls fn for every entry of the tar archive (gzip-compressed or not) at path,
// with its normalized name.
func eachTarEntry(path string, fn func(hdr *tar.Header, name string, r io.Reader) error) error {
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
		name := tarEntryName(hdr.Name)
		if name == "." {
			continue
		}
		if err := fn(hdr, name, tr); err != nil {
			return err
		}
	}
}

// walkTar visits the entries of a tar archive. Files and folders are visited as they come;
// links, which tar writes for files linked more than once (hard links) and for symbolic
// links unless told --dereference, are resolved once the whole archive has been listed, and
// their files read in a second pass over it, one file in memory at a time.
func walkTar(path string, fn walkEntry) error {
	tree := newTarTree()
	var links []string
	err := eachTarEntry(path, func(hdr *tar.Header, name string, r io.Reader) error {
		hidden := hiddenTarEntry(name) // not visited, but a link may name it
		switch hdr.Typeflag {
		case tar.TypeDir:
			tree.add(name, tar.TypeDir, "")
			if !hidden {
				return fn(name, true, nil)
			}
		case tar.TypeReg:
			tree.add(name, tar.TypeReg, "")
			if !hidden {
				return fn(name, false, r)
			}
		case tar.TypeLink, tar.TypeSymlink:
			target := hdr.Linkname // a symbolic link's is relative to its folder
			if hdr.Typeflag == tar.TypeLink {
				target = tarEntryName(target) // a hard link's, to the archive's root
			}
			tree.add(name, hdr.Typeflag, target)
			if !hidden {
				links = append(links, name)
			}
		}
		return nil
	})
	if err != nil || len(links) == 0 {
		return err
	}
	// What each link makes appear: folders now, files (by the entry holding their bytes)
	// in the second pass.
	aliases := map[string][]string{} // regular entry -> the names it appears under
	for _, link := range links {
		ancestors := map[string]bool{}
		for dir := pathpkg.Dir(link); ; dir = pathpkg.Dir(dir) {
			ancestors[dir] = true
			if dir == "." {
				break
			}
		}
		err := tree.expand(link, link, ancestors, func(name, file string, isDir bool) error {
			if isDir {
				return fn(name, true, nil)
			}
			aliases[file] = append(aliases[file], name)
			return nil
		}, func(name string, err error) error {
			return fn(name, false, errReader{fmt.Errorf("%w: pack the archive with tar --dereference (-h) to store the files themselves", err)})
		})
		if err != nil {
			return err
		}
	}
	if len(aliases) == 0 {
		return nil
	}
	return eachTarEntry(path, func(hdr *tar.Header, name string, r io.Reader) error {
		names := aliases[name]
		if hdr.Typeflag != tar.TypeReg || len(names) == 0 {
			return nil
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("%s: reading %s: %w", path, name, noEOF(err))
		}
		for _, alias := range names {
			if err := fn(alias, false, bytes.NewReader(data)); err != nil {
				return err
			}
		}
		return nil
	})
}

// tarTree is the listing of a tar archive: the type of every entry (folders implied by
// the names of what they hold included) and the targets of its links.
type tarTree struct {
	kind     map[string]byte     // tar.TypeDir, TypeReg, TypeLink or TypeSymlink
	target   map[string]string   // a link's target as the archive gives it
	children map[string][]string // a folder's entries, in archive order
}

func newTarTree() *tarTree {
	return &tarTree{kind: map[string]byte{".": tar.TypeDir}, target: map[string]string{}, children: map[string][]string{}}
}

// add records an entry, and the folders above it if the archive has not listed them.
func (t *tarTree) add(name string, kind byte, target string) {
	if _, seen := t.kind[name]; !seen {
		dir := pathpkg.Dir(name)
		t.children[dir] = append(t.children[dir], name)
		if _, listed := t.kind[dir]; !listed {
			t.add(dir, tar.TypeDir, "")
		}
	}
	t.kind[name] = kind
	if target != "" {
		t.target[name] = target
	}
}

// maxLinkHops bounds the links followed to resolve one name (Linux's limit is 40).
const maxLinkHops = 40

// resolve follows the links along name (in any of its folders and at its end) and returns
// the entry it names, a folder or a regular file.
func (t *tarTree) resolve(name string) (string, error) {
	for range maxLinkHops {
		parts := strings.Split(name, "/")
		followed := false
		for i := 1; i <= len(parts) && !followed; i++ {
			prefix := strings.Join(parts[:i], "/")
			kind, ok := t.kind[prefix]
			if !ok {
				return "", fmt.Errorf("%s is not in the archive", name)
			}
			if kind != tar.TypeLink && kind != tar.TypeSymlink {
				continue
			}
			target := t.target[prefix]
			if kind == tar.TypeSymlink {
				if pathpkg.IsAbs(target) {
					return "", fmt.Errorf("%s is a symbolic link to %s, outside the archive", prefix, target)
				}
				target = pathpkg.Join(pathpkg.Dir(prefix), target)
				if target == ".." || strings.HasPrefix(target, "../") {
					return "", fmt.Errorf("%s is a symbolic link to %s, outside the archive", prefix, t.target[prefix])
				}
			}
			name = pathpkg.Join(target, strings.Join(parts[i:], "/"))
			followed = true
		}
		if !followed {
			return name, nil
		}
	}
	return "", fmt.Errorf("%s: more than %d links to follow (a loop of links?)", name, maxLinkHops)
}

// expand calls emit for what the link entry or folder name shows under the name as:
// itself for a file, itself and everything inside (links followed) for a folder. A folder
// in ancestors (those holding as, resolved) is a cycle and not entered again. A name that
// cannot be resolved goes to broken.
func (t *tarTree) expand(name, as string, ancestors map[string]bool,
	emit func(as, file string, isDir bool) error, broken func(as string, err error) error) error {
	real, err := t.resolve(name)
	if err != nil {
		return broken(as, err)
	}
	switch t.kind[real] {
	case tar.TypeReg:
		return emit(as, real, false)
	case tar.TypeDir:
		if ancestors[real] {
			return nil
		}
		if err := emit(as, "", true); err != nil {
			return err
		}
		ancestors[real] = true
		defer delete(ancestors, real)
		for _, child := range t.children[real] {
			if isHidden(pathpkg.Base(child)) {
				continue
			}
			if err := t.expand(child, as+"/"+pathpkg.Base(child), ancestors, emit, broken); err != nil {
				return err
			}
		}
	}
	return nil
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
