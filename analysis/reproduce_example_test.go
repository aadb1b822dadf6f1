package analysis_test

import (
	"fmt"

	"github.com/extremepoints/esp/analysis"
)

// The paper scale, restricted to two datasets and two models: 200 normal and 200 corrupted
// runs of each pair, each model trained as long as the authors' scripts trained it.
func ExamplePlan() {
	plan, err := analysis.Plan("paper", []string{"mnist", "cifar10"}, []string{"mlp", "lenet"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, pair := range plan.Pairs {
		fmt.Printf("%s: %d + %d runs of %d epochs\n", pair, plan.Runs, plan.Runs, plan.EpochsOf(pair))
	}
	// Output:
	// mnist/mlp: 200 + 200 runs of 50 epochs
	// mnist/lenet: 200 + 200 runs of 11 epochs
	// cifar10/mlp: 200 + 200 runs of 250 epochs
	// cifar10/lenet: 200 + 200 runs of 20 epochs
}
