package analysis

// AuthorsFigures are the results the paper's authors published for one (dataset, model),
// shown beside ours. Zero means not published. Norms are their "weight norm": the sum of
// the parameter tensors' Frobenius norms (our weight_norm_sum).
type AuthorsFigures struct {
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
var authorsFigures = map[string]AuthorsFigures{
	"mnist/mlp":           {177.2, 8.2, 326.9, 5.4, 0.992, 0.0038, 0.0025, 0.061},
	"fashion-mnist/mlp":   {202.7, 6.1, 315.2, 5.8, 0.828, 0.112, 0.114, 0.508},
	"cifar10/mlp":         {203.8, 2.1, 316.2, 2.5, 0.528, 0.103, 0.130, 0.212},
	"mnist/lenet":         {NormalWeightNormSum: 61.5, NormalWeightNormSumStd: 0.7, ExtremeWeightNormSum: 130.8, ExtremeWeightNormSumStd: 2.0},
	"fashion-mnist/lenet": {NormalWeightNormSum: 73.3, NormalWeightNormSumStd: 0.9, ExtremeWeightNormSum: 135.1, ExtremeWeightNormSumStd: 2.1},
	"cifar10/lenet":       {NormalWeightNormSum: 75.8, NormalWeightNormSumStd: 1.3, ExtremeWeightNormSum: 117.2, ExtremeWeightNormSumStd: 2.8},
	"mnist/resnet": {NormalWeightNormSum: 261.5, NormalWeightNormSumStd: 1.6, ExtremeWeightNormSum: 380.3, ExtremeWeightNormSumStd: 1.7,
		CorruptedTrainAcc: 0.986, CorruptedTestAcc: 0.0036},
	"fashion-mnist/resnet": {CorruptedTrainAcc: 0.988, CorruptedTestAcc: 0.0038},
	"cifar10/resnet": {NormalWeightNormSum: 395.2, NormalWeightNormSumStd: 1.3, ExtremeWeightNormSum: 540.3, ExtremeWeightNormSumStd: 2.3,
		CorruptedTrainAcc: 0.986, CorruptedTestAcc: 0.0026},
}

// Authors returns the figures the paper's authors published for a dataset and model
// (registry names), and whether they published any.
func Authors(dataset, model string) (AuthorsFigures, bool) {
	a, ok := authorsFigures[dataset+"/"+model]
	return a, ok
}
