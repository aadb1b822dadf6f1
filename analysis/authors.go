package analysis

// AuthorsFigures are the results the paper's authors published for one (dataset, model),
// shown beside ours. Zero means not published. Norms are their "weight norm": the sum of
// the parameter tensors' Frobenius norms (our weight_norm_sum).
type AuthorsFigures struct {
	// Epochs their training script (generating.py of that model, in their published code)
	// ran for each point; the paper scale trains as many.
	Epochs                  int     `json:"epochs"`
	NormalWeightNormSum     float64 `json:"normal_weight_norm_sum,omitempty"`
	NormalWeightNormSumStd  float64 `json:"normal_weight_norm_sum_std,omitempty"`
	ExtremeWeightNormSum    float64 `json:"extreme_weight_norm_sum,omitempty"`
	ExtremeWeightNormSumStd float64 `json:"extreme_weight_norm_sum_std,omitempty"`
	CorruptedTrainAcc       float64 `json:"corrupted_train_acc,omitempty"`
	CorruptedTestAcc        float64 `json:"corrupted_test_acc,omitempty"`
	RestartTestAccBefore    float64 `json:"fullbatch_test_acc_before,omitempty"`
	RestartTestAccAfter     float64 `json:"fullbatch_test_acc_after,omitempty"`
}

// authorsFigures holds the authors' published numbers (see DESIGN.md), by "dataset/model".
//
// The epochs are their scripts': MLP 50 (CIFAR-10 5x), LeNet 11 (CIFAR-10 20), ResNet 30
// (CIFAR-10 3x). On full MNIST, LeNet's 11 epochs give their norms (normal 61.9 against
// 61.5 ± 0.7, corrupted 129.1 against 130.8 ± 2.0), but 11 epochs of the MLP on the
// corrupted set give 95% / 5% train / test accuracy (esp and PyTorch alike), not their
// 99.2% / 0.38%, which 40 epochs do reach. Their MLP norms stay out of reach at lr 1e-3
// (normal: 105 after 50 epochs).
var authorsFigures = map[string]AuthorsFigures{
	"mnist/mlp":           {50, 177.2, 8.2, 326.9, 5.4, 0.992, 0.0038, 0.0025, 0.061},
	"fashion-mnist/mlp":   {50, 202.7, 6.1, 315.2, 5.8, 0.828, 0.112, 0.114, 0.508},
	"cifar10/mlp":         {250, 203.8, 2.1, 316.2, 2.5, 0.528, 0.103, 0.130, 0.212},
	"mnist/lenet":         {Epochs: 11, NormalWeightNormSum: 61.5, NormalWeightNormSumStd: 0.7, ExtremeWeightNormSum: 130.8, ExtremeWeightNormSumStd: 2.0},
	"fashion-mnist/lenet": {Epochs: 11, NormalWeightNormSum: 73.3, NormalWeightNormSumStd: 0.9, ExtremeWeightNormSum: 135.1, ExtremeWeightNormSumStd: 2.1},
	"cifar10/lenet":       {Epochs: 20, NormalWeightNormSum: 75.8, NormalWeightNormSumStd: 1.3, ExtremeWeightNormSum: 117.2, ExtremeWeightNormSumStd: 2.8},
	"mnist/resnet": {Epochs: 30, NormalWeightNormSum: 261.5, NormalWeightNormSumStd: 1.6, ExtremeWeightNormSum: 380.3, ExtremeWeightNormSumStd: 1.7,
		CorruptedTrainAcc: 0.986, CorruptedTestAcc: 0.0036},
	"fashion-mnist/resnet": {Epochs: 30, CorruptedTrainAcc: 0.988, CorruptedTestAcc: 0.0038},
	"cifar10/resnet": {Epochs: 90, NormalWeightNormSum: 395.2, NormalWeightNormSumStd: 1.3, ExtremeWeightNormSum: 540.3, ExtremeWeightNormSumStd: 2.3,
		CorruptedTrainAcc: 0.986, CorruptedTestAcc: 0.0026},
}

// Authors returns the figures the paper's authors published for a dataset and model
// (registry names), and whether they published any.
func Authors(dataset, model string) (AuthorsFigures, bool) {
	a, ok := authorsFigures[dataset+"/"+model]
	return a, ok
}
