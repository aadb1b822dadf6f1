package torchstate_test

import (
	"fmt"

	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/torchstate"
)

// Load a PyTorch state dict of the authors' MLP (784-512-10 on MNIST in their code; a
// 36-5-2 one here) and map it onto esp's MLP.
func Example() {
	sd, err := torchstate.Load("testdata/mlp_legacy.pt")
	if err != nil {
		fmt.Println(err)
		return
	}
	config, err := torchstate.ModelConfig("mlp", sd, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	backend, err := experiment.NewBackend("go")
	if err != nil {
		fmt.Println(err)
		return
	}
	net, err := experiment.NewNet(backend, "mlp", config, 6, 6, 1, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	template, err := net.Weights()
	if err != nil {
		fmt.Println(err)
		return
	}
	w, mapping, err := torchstate.Weights(sd, template)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sd.Format, "hidden", config.Hidden)
	for _, m := range mapping {
		fmt.Println(m.From, "->", m.To, w.Tensor(m.To).Shape)
	}
	// Output:
	// pytorch-legacy hidden 5
	// fc1.weight -> dense_0/weights [5 36]
	// fc1.bias -> dense_0/biases [5]
	// fc2.weight -> dense_1/weights [2 5]
	// fc2.bias -> dense_1/biases [2]
}

// The configuration of the authors' ResNet is read from its tensors: one block per stage
// and 3x3 projection shortcuts in this small one (theirs has two blocks per stage).
func ExampleModelConfig() {
	sd, err := torchstate.Load("testdata/resnet_zip_f16.pt")
	if err != nil {
		fmt.Println(err)
		return
	}
	config, err := torchstate.ModelConfig("resnet", sd, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d tensors (%d skipped: %s, ...), blocks %d, 3x3 shortcuts %v\n",
		len(sd.Tensors), len(sd.Skipped), sd.Skipped[0], config.Blocks, config.Shortcut3x3)
	// Output:
	// 47 tensors (9 skipped: bn.num_batches_tracked, ...), blocks 1, 3x3 shortcuts true
}
