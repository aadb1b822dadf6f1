package models

import (
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"math/rand/v2"
)

func BenchmarkMicro(b *testing.B) {
	backend := testBackend(b)
	rng := rand.New(rand.NewPCG(1, 2))
	x := randomTensor(rng, 16, 128, 18, 18)
	k2 := randomTensor(rng, 32, 400)
	p := randomTensor(rng, 400, 128*14*14)
	dy := randomTensor(rng, 32, 128*14*14)
	cases := []struct {
		name string
		fn   func(x, k2, p, dy *Node) *Node
	}{
		{"slice25", func(x, k2, p, dy *Node) *Node {
			var s []*Node
			for i := range 5 {
				for j := range 5 {
					s = append(s, Slice(x, AxisRange(), AxisRange(), AxisRange(i, i+14), AxisRange(j, j+14)))
				}
			}
			return Concatenate(s, 0)
		}},
		{"transposeP", func(x, k2, p, dy *Node) *Node { return TransposeAllAxes(p, 1, 0) }},
		{"matmulFwd", func(x, k2, p, dy *Node) *Node { return DotGeneral(k2, []int{1}, nil, p, []int{0}, nil) }},
		{"matmulDK", func(x, k2, p, dy *Node) *Node { return DotGeneral(dy, []int{1}, nil, p, []int{1}, nil) }},
		{"matmulDP", func(x, k2, p, dy *Node) *Node {
			return DotGeneral(TransposeAllAxes(k2, 1, 0), []int{1}, nil, dy, []int{0}, nil)
		}},
		{"add25", func(x, k2, p, dy *Node) *Node {
			s := x
			for range 24 {
				s = Add(s, x)
			}
			return s
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			exec := MustNewExec(backend, func(x, k2, p, dy *Node) *Node { return ReduceAllSum(c.fn(x, k2, p, dy)) })
			exec.MustExec(x, k2, p, dy)
			for b.Loop() {
				out := exec.MustExec(x, k2, p, dy)
				_ = tensors.MustCopyFlatData[float32](out[0])
			}
		})
	}
}
