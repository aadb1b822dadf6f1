package analysis

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"io"

	"github.com/extremepoints/esp/corrupt"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// SampleGrid settings. The zero value shows 32 examples in 8 columns at 4x scale.
type SampleGrid struct {
	// Count is the number of examples shown; 0 means 32.
	Count int
	// Columns of the grid; 0 means 8.
	Columns int
	// Scale is the pixel magnification of each image; 0 means 4.
	Scale int
}

// SampleIndices picks which examples of a set a grid shows, evenly spaced: for a corrupted
// set among the first copy of the test examples (so each tile shows a true and an assigned
// label), for a clean set among the training examples. A count of 0 or less picks none.
func SampleIndices(set *corrupt.Set, count int) []int {
	if count <= 0 {
		return nil
	}
	var candidates []int
	for i, e := range set.Examples {
		if !set.IsCorrupted() || (e.Source == corrupt.FromTest && e.Copy == 0) {
			candidates = append(candidates, i)
		}
	}
	if count >= len(candidates) {
		return candidates
	}
	out := make([]int, count)
	for k := range out {
		out[k] = candidates[k*len(candidates)/count]
	}
	return out
}

// WritePNG draws a grid of sample images of set, each captioned with its true label and,
// when it differs, the label the set assigns ("7→3"), and writes it as PNG.
func (g SampleGrid) WritePNG(w io.Writer, set *corrupt.Set, title string) error {
	count, cols, scale := g.Count, g.Columns, g.Scale
	if count == 0 {
		count = 32
	}
	if cols == 0 {
		cols = 8
	}
	if scale == 0 {
		scale = 4
	}
	if count < 0 || cols < 0 || scale < 0 {
		return fmt.Errorf("sample grid: negative count, columns or scale")
	}
	indices := SampleIndices(set, count)
	if len(indices) == 0 {
		return fmt.Errorf("sample grid: the set has no examples to show")
	}
	ds := set.Dataset
	split := ds.Train
	imgW, imgH := split.Width*scale, split.Height*scale
	const captionH, titleH, pad = 16, 24, 6
	cellW := max(imgW, 72) + pad
	cellH := imgH + captionH + pad
	rows := (len(indices) + cols - 1) / cols
	widthPx, heightPx := cols*cellW+pad, rows*cellH+titleH+pad
	const dpi = 96
	px := func(n int) vg.Length { return vg.Length(n) * vg.Inch / dpi }
	canvas := vgimg.NewWith(vgimg.UseWH(px(widthPx), px(heightPx)), vgimg.UseDPI(dpi),
		vgimg.UseBackgroundColor(color.White))
	dc := draw.New(canvas)

	face := func(size vg.Length) text.Style {
		return text.Style{Color: color.Black, Font: font.From(plot.DefaultFont, size), Handler: plot.DefaultTextHandler,
			XAlign: draw.XCenter}
	}
	dc.FillText(face(12), vg.Point{X: px(widthPx / 2), Y: px(heightPx - titleH + 6)}, title)
	for k, i := range indices {
		row, col := k/cols, k%cols
		x0 := pad + col*cellW
		yTop := heightPx - titleH - row*cellH
		img := toImage(set.Image(i), split.Height, split.Width, split.Channels)
		rect := vg.Rectangle{Min: vg.Point{X: px(x0 + (cellW-pad-imgW)/2), Y: px(yTop - imgH)},
			Max: vg.Point{X: px(x0 + (cellW-pad-imgW)/2 + imgW), Y: px(yTop)}}
		canvas.DrawImage(rect, img)
		e := set.Examples[i]
		caption := className(ds.Classes, e.TrueLabel)
		style := face(9)
		if e.Corrupted() {
			caption += "→" + className(ds.Classes, e.Label)
			style.Color = color.RGBA{R: 200, A: 255}
		}
		dc.FillText(style, vg.Point{X: px(x0 + (cellW-pad)/2), Y: px(yTop - imgH - captionH + 3)}, caption)
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: canvas}).WriteTo(&buf); err != nil {
		return fmt.Errorf("sample grid: encoding PNG: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func className(classes []string, label uint8) string {
	if int(label) < len(classes) {
		return classes[label]
	}
	return fmt.Sprint(label)
}

// toImage wraps HWC bytes as an image (gray or RGB).
func toImage(pixels []uint8, h, w, c int) image.Image {
	if c == 1 {
		return &image.Gray{Pix: pixels, Stride: w, Rect: image.Rect(0, 0, w, h)}
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for p := 0; p < h*w; p++ {
		img.Pix[4*p], img.Pix[4*p+1], img.Pix[4*p+2], img.Pix[4*p+3] = pixels[3*p], pixels[3*p+1], pixels[3*p+2], 255
	}
	return img
}
