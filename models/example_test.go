package models_test

import (
	"errors"
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/extremepoints/esp/models"
)

func ExampleNew() {
	for _, name := range models.Names() {
		fmt.Printf("%s: %s\n", name, models.Describe(name))
	}
	m, err := models.New("lenet", models.Config{})
	if err != nil {
		panic(err)
	}
	// Run the inference graph on a batch of 2 blank MNIST-sized images.
	store := gmodel.NewStore()
	images := tensors.FromShape(shapes.Make(dtypes.Float32, 2, 28, 28, 1))
	logits, err := gmodel.CallOnce(gobackend.GetBackend(), store, func(scope *gmodel.Scope, x *graph.Node) *graph.Node {
		return m.Logits(scope.In("model"), x, false)
	}, images)
	if err != nil {
		panic(err)
	}
	fmt.Println("logits:", logits.Shape())
	_, err = models.New("vgg", models.Config{})
	fmt.Println(err)
	// Output:
	// lenet: LeNet-like CNN: conv5x5 16/32/64 + ReLU + 2x2 max-pool, fc 84, fc classes
	// mlp: multilayer perceptron: flatten -> dense 512 -> ReLU -> dense classes
	// resnet: CIFAR-style ResNet: 3 stages of 2 basic blocks (16/32/64 channels), batch norm, fc 64 -> classes
	// logits: (Float32)[2, 10]
	// models: unknown model "vgg", valid names: lenet, mlp, resnet
}

// LeNet's 2x2 max-pools halve the images twice: it takes MNIST's, not 2x2 ones.
func ExampleModel_CheckInput() {
	m, err := models.New("lenet", models.Config{})
	if err != nil {
		panic(err)
	}
	fmt.Println(m.CheckInput(28, 28, 1))
	err = m.CheckInput(2, 2, 1)
	fmt.Println(errors.Is(err, models.ErrInputTooSmall))
	fmt.Println(err)
	// Output:
	// <nil>
	// true
	// models: images too small for the model: lenet halves the images twice (2x2 max-pools), so it needs at least 4x4 pixels; these are 2x2 (mlp and resnet take any size)
}

// Four MLPs, each with its own variables, as one graph whose layers are batched matmuls.
func ExampleModel_EnsembleLogits() {
	m, err := models.New("mlp", models.Config{})
	if err != nil {
		panic(err)
	}
	store := gmodel.NewStore()
	images := tensors.FromShape(shapes.Make(dtypes.Float32, 4, 2, 28, 28, 1)) // [members, batch, H, W, C]
	logits, err := gmodel.CallOnce(gobackend.GetBackend(), store, func(scope *gmodel.Scope, x *graph.Node) *graph.Node {
		scopes := make([]*gmodel.Scope, 4)
		for i := range scopes {
			scopes[i] = scope.In("member%d", i).In("model")
		}
		out, _ := m.EnsembleLogits(scopes, x, true)
		return out
	}, images)
	if err != nil {
		panic(err)
	}
	fmt.Println("logits:", logits.Shape())
	fmt.Println("member 3's first weights:", store.GetVariable("/member3/model/dense_0/weights").Shape())
	// Output:
	// logits: (Float32)[4, 2, 10]
	// member 3's first weights: (Float32)[512, 784]
}
