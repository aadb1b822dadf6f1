package main

import (
	"strings"
	"testing"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/torchstate"
)

// TestInputSizeHint: an MLP state dict whose first layer takes another number of inputs
// than the dataset's images have pixels is said to be trained on other images.
func TestInputSizeHint(t *testing.T) {
	cifar := &datasets.Dataset{Name: "cifar10", Train: &datasets.Split{Height: 32, Width: 32, Channels: 3}}
	mnistMLP := &torchstate.StateDict{Tensors: []torchstate.Tensor{{Name: "fc1.weight", Shape: []int{512, 784}}}}
	cifarMLP := &torchstate.StateDict{Tensors: []torchstate.Tensor{{Name: "fc1.weight", Shape: []int{512, 3072}}}}
	convs := &torchstate.StateDict{Tensors: []torchstate.Tensor{{Name: "conv1.weight", Shape: []int{6, 3, 5, 5}}}}
	tests := []struct {
		name  string
		model string
		sd    *torchstate.StateDict
		want  string
	}{
		{"an MNIST MLP on CIFAR-10", "mlp", mnistMLP, "its MLP takes 784 inputs, and cifar10's 32x32x3 images have 3072"},
		{"a CIFAR-10 MLP on CIFAR-10", "mlp", cifarMLP, ""},
		{"a LeNet", "lenet", convs, ""},
		{"no tensors", "mlp", &torchstate.StateDict{}, ""},
	}
	for _, tc := range tests {
		got := inputSizeHint(tc.model, tc.sd, cifar)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
