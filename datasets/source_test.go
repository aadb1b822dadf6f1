package datasets

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sourceEntry is one entry of a test source: a folder, an image, a symbolic link, or a
// hard link.
type sourceEntry struct {
	name string
	kind byte   // tar.TypeDir, tar.TypeReg, tar.TypeSymlink or tar.TypeLink
	v    uint8  // tar.TypeReg: the value of every pixel of the image (a 4x3 gray PNG)
	link string // tar.TypeSymlink: the link's text; tar.TypeLink: an earlier entry's name
}

func image4x3(name string, v uint8) sourceEntry {
	return sourceEntry{name: name, kind: tar.TypeReg, v: v}
}

func symlink(name, target string) sourceEntry {
	return sourceEntry{name: name, kind: tar.TypeSymlink, link: target}
}

// grayPNG encodes a 4x3 gray image whose pixels are all v.
func grayPNG(t *testing.T, v uint8) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 4, 3))
	for i := range img.Pix {
		img.Pix[i] = v
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sourceDir writes entries into a new directory, links as links.
func sourceDir(t *testing.T, entries []sourceEntry) string {
	t.Helper()
	root := t.TempDir()
	for _, e := range entries {
		p := filepath.Join(root, filepath.FromSlash(e.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch e.kind {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			err = os.WriteFile(p, grayPNG(t, e.v), 0o644)
		case tar.TypeSymlink:
			err = os.Symlink(filepath.FromSlash(e.link), p)
		case tar.TypeLink:
			err = os.Link(filepath.Join(root, filepath.FromSlash(e.link)), p)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// sourceTarGz writes entries, in order, into a new tar.gz (folders only where listed), as
// tar does without --dereference.
func sourceTarGz(t *testing.T, entries []sourceEntry) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.kind, Mode: 0o644, Linkname: e.link}
		var data []byte
		switch e.kind {
		case tar.TypeDir:
			hdr.Name += "/"
			hdr.Mode = 0o755
		case tar.TypeReg:
			data = grayPNG(t, e.v)
			hdr.Size = int64(len(data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "folder.tar.gz")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// petsEntries is an image folder of classes cat (pixel values 10-12 in train, 20-21 in
// test) and dog (30-32, 40-41), and a folder store/ outside train/ and test/.
func petsEntries() []sourceEntry {
	var entries []sourceEntry
	for _, class := range []struct {
		name        string
		train, test uint8
	}{{"cat", 10, 20}, {"dog", 30, 40}} {
		for i := range uint8(3) {
			entries = append(entries, image4x3(fmt.Sprintf("train/%s/%c.png", class.name, 'a'+i), class.train+i))
		}
		for i := range uint8(2) {
			entries = append(entries, image4x3(fmt.Sprintf("test/%s/%c.png", class.name, 'a'+i), class.test+i))
		}
	}
	return append(entries, image4x3("store/bird/a.png", 50), image4x3("store/bird/b.png", 51), image4x3("store/x.png", 60))
}

// folderContents lists a split's examples as "class:pixel value", sorted.
func folderContents(d *Dataset, s *Split) []string {
	var out []string
	for i := range s.Len() {
		out = append(out, fmt.Sprintf("%s:%d", d.Classes[s.Labels[i]], s.Image(i)[0]))
	}
	slices.Sort(out)
	return out
}

// TestReadImageFolderLinksAndHidden: a folder imports what `ls -L` shows of it, hidden
// entries left out, whether it is a directory or a tar.gz made without --dereference.
func TestReadImageFolderLinksAndHidden(t *testing.T) {
	petsTrain := []string{"cat:10", "cat:11", "cat:12", "dog:30", "dog:31", "dog:32"}
	petsTest := []string{"cat:20", "cat:21", "dog:40", "dog:41"}
	tests := []struct {
		name      string
		extra     []sourceEntry
		wantTrain []string
		wantTest  []string
	}{
		{"class folders linked", []sourceEntry{symlink("train/bird", "../store/bird"), symlink("test/bird", "../store/bird")},
			append([]string{"bird:50", "bird:51"}, petsTrain...), append([]string{"bird:50", "bird:51"}, petsTest...)},
		{"a folder linked twice", []sourceEntry{symlink("train/bird", "../store/bird"), symlink("train/parrot", "../store/bird"),
			symlink("test/bird", "../store/bird"), symlink("test/parrot", "bird")},
			append([]string{"bird:50", "bird:51", "parrot:50", "parrot:51"}, petsTrain...),
			append([]string{"bird:50", "bird:51", "parrot:50", "parrot:51"}, petsTest...)},
		{"image files linked", []sourceEntry{symlink("train/cat/d.png", "../../store/x.png"),
			{name: "train/dog/d.png", kind: tar.TypeLink, link: "store/x.png"}, {name: "test/dog/c.png", kind: tar.TypeLink, link: "train/dog/a.png"}},
			append([]string{"cat:60", "dog:60"}, petsTrain...), append([]string{"dog:30"}, petsTest...)},
		{"links to folders above", []sourceEntry{symlink("train/cat/loop", ".."), symlink("train/dog/self", "."), symlink("test/root", "..")},
			petsTrain, petsTest},
		{"hidden files and folders", []sourceEntry{image4x3("train/.ipynb_checkpoints/a.png", 1), image4x3("train/cat/.b.png", 2),
			image4x3("test/dog/.trash/c.png", 3), image4x3(".ipynb_checkpoints/train/cat/d.png", 4), {name: "test/.empty", kind: tar.TypeDir},
			symlink("train/.bird", "../store/bird"), symlink("test/cat/.x.png", "../../store/x.png")},
			petsTrain, petsTest},
		{"links to hidden entries", []sourceEntry{image4x3(".store/owl/a.png", 70), symlink("train/owl", "../.store/owl"),
			symlink("test/owl", "../.store/owl"), {name: "test/cat/c.png", kind: tar.TypeLink, link: ".store/owl/a.png"}},
			append([]string{"owl:70"}, petsTrain...), append([]string{"cat:70", "owl:70"}, petsTest...)},
	}
	for _, tc := range tests {
		entries := append(petsEntries(), tc.extra...)
		for form, src := range map[string]string{"directory": sourceDir(t, entries), "tar.gz": sourceTarGz(t, entries)} {
			t.Run(tc.name+"/"+form, func(t *testing.T) {
				d, err := ReadImageFolder(src, "pets")
				if err != nil {
					t.Fatal(err)
				}
				slices.Sort(tc.wantTrain)
				slices.Sort(tc.wantTest)
				if got := folderContents(d, d.Train); !slices.Equal(got, tc.wantTrain) {
					t.Errorf("train split holds %v, want %v", got, tc.wantTrain)
				}
				if got := folderContents(d, d.Test); !slices.Equal(got, tc.wantTest) {
					t.Errorf("test split holds %v, want %v", got, tc.wantTest)
				}
			})
		}
	}
}

// TestReadImageFolderBrokenLinks: an image that is a link to nothing is refused, naming
// it; in an archive, with the way to pack the file itself.
func TestReadImageFolderBrokenLinks(t *testing.T) {
	tests := []struct {
		name    string
		extra   []sourceEntry
		wantErr map[string]string // by form
	}{
		{"to a missing file", []sourceEntry{symlink("train/cat/z.png", "../../store/nowhere.png")}, map[string]string{
			"directory": "train/cat/z.png: a symbolic link that cannot be followed: stat ",
			"tar.gz":    "train/cat/z.png: store/nowhere.png is not in the archive: pack the archive with tar --dereference (-h)",
		}},
		{"outside the archive", []sourceEntry{symlink("train/cat/z.png", "/nonexistent/z.png")}, map[string]string{
			"directory": "train/cat/z.png: a symbolic link that cannot be followed",
			"tar.gz":    "train/cat/z.png is a symbolic link to /nonexistent/z.png, outside the archive: pack the archive with tar --dereference (-h)",
		}},
		{"a loop of links", []sourceEntry{symlink("train/cat/y.png", "z.png"), symlink("train/cat/z.png", "y.png")}, map[string]string{
			"directory": "train/cat/y.png: a symbolic link that cannot be followed",
			"tar.gz":    "more than 40 links to follow (a loop of links?)",
		}},
	}
	for _, tc := range tests {
		entries := append(petsEntries(), tc.extra...)
		for form, src := range map[string]string{"directory": sourceDir(t, entries), "tar.gz": sourceTarGz(t, entries)} {
			t.Run(tc.name+"/"+form, func(t *testing.T) {
				_, err := ReadImageFolder(src, "pets")
				want := tc.wantErr[form]
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v, want one containing %q", err, want)
				}
			})
		}
	}
}
