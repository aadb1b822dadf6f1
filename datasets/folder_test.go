package datasets

import (
	"bytes"
	"encoding/hex"
	"image"
	"image/color"
	"image/png"
	"slices"
	"testing"
)

// encodePNG encodes img as a PNG.
func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestToHWCAlpha: pixels with alpha keep their color as stored, as PIL's convert("RGB")
// (the PyTorch peer's loader) gives it: the wanted values are what PIL 9 reads from these
// files, exactly.
func TestToHWCAlpha(t *testing.T) {
	rgba := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	rgba.SetNRGBA(0, 0, color.NRGBA{200, 100, 50, 128})
	rgba.SetNRGBA(1, 0, color.NRGBA{200, 100, 50, 0})
	rgba64 := image.NewNRGBA64(image.Rect(0, 0, 2, 1))
	rgba64.SetNRGBA64(0, 0, color.NRGBA64{200 << 8, 100 << 8, 50 << 8, 0x8000})
	rgba64.SetNRGBA64(1, 0, color.NRGBA64{10 << 8, 20 << 8, 30 << 8, 0})
	paletted := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.NRGBA{200, 100, 50, 128}, color.NRGBA{10, 20, 30, 0}})
	paletted.SetColorIndex(1, 0, 1)
	// PIL: la = Image.new("LA", (2, 1)); la.putpixel((0, 0), (50, 128)); la.putpixel((1, 0), (200, 0)); la.save(f, "PNG")
	grayAlpha, err := hex.DecodeString("89504e470d0a1a0a0000000d49484452000000020000000108040000005e2bb7010000000d49444154789c63306a38c1000003dd017bd6371b3a0000000049454e44ae426082")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		png  []byte
		want []uint8 // two pixels, RGB
	}{
		{"RGBA, 8 bits", encodePNG(t, rgba), []uint8{200, 100, 50, 200, 100, 50}},
		{"RGBA, 16 bits", encodePNG(t, rgba64), []uint8{200, 100, 50, 10, 20, 30}},
		{"palette with transparency", encodePNG(t, paletted), []uint8{200, 100, 50, 10, 20, 30}},
		{"gray and alpha", grayAlpha, []uint8{50, 50, 50, 200, 200, 200}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, _, err := image.Decode(bytes.NewReader(tc.png))
			if err != nil {
				t.Fatal(err)
			}
			if isGray(img) {
				t.Fatalf("decoded as gray (%T): the alpha would be lost", img)
			}
			if got := toHWC(img, 3); !slices.Equal(got, tc.want) {
				t.Errorf("pixels %v, want %v", got, tc.want)
			}
		})
	}
}
