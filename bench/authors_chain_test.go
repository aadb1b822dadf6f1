package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/extremepoints/esp/datasets"
)

// chainRun is one line of authors_mlp_chain.py's output.
type chainRun struct {
	Run            int                `json:"run"`
	Norms          map[string]float64 `json:"norms"`
	StartBiasNorms map[string]float64 `json:"start_bias_norms"`
}

// TestAuthorsMLPChain runs authors_mlp_chain.py on a slice of MNIST: with --share, a run
// starts from the biases the run before it ended with (the authors' MLP script); without,
// every run starts fresh. The first run's large learning rate moves its biases far from
// where fresh ones start.
func TestAuthorsMLPChain(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import torch").Run(); err != nil {
		t.Skipf("no PyTorch for /usr/bin/python3 (apt-get install python3-torch): %v", err)
	}
	opts := datasets.Options{}
	if !datasets.CacheStatus("mnist", opts).Verified() {
		t.Skip("MNIST is not in the cache (esp data fetch mnist)")
	}
	chain := func(share bool) []chainRun {
		args := []string{"authors_mlp_chain.py", "--subset", "512", "--chain", "u:mnist:2,s:mnist:1", "--lr", "0.05", "--data-dir", datasets.DefaultDataDir()}
		if share {
			args = append(args, "--share")
		}
		out, err := exec.Command("/usr/bin/python3", args...).Output()
		if err != nil {
			t.Fatalf("authors_mlp_chain.py %v: %v", args, err)
		}
		var runs []chainRun
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			var r chainRun
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			runs = append(runs, r)
		}
		if len(runs) != 2 {
			t.Fatalf("%d runs in the output, want 2:\n%s", len(runs), out)
		}
		return runs
	}
	for _, share := range []bool{true, false} {
		runs := chain(share)
		for _, bias := range []string{"fc1.bias", "fc2.bias"} {
			ended, started := runs[0].Norms[bias], runs[1].StartBiasNorms[bias]
			if carried := ended == started; carried != share {
				t.Errorf("share %v: %s ended run 0 at norm %v and started run 1 at %v", share, bias, ended, started)
			}
		}
	}
}
