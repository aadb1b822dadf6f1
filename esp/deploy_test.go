package main

import (
	"os"
	"os/exec"
	"regexp"
	"testing"
)

// TestDeployFiles checks that the job manifests run shards of one study the way esp run
// expects: an Indexed Job whose completions match the shard count, and a Slurm array script
// that parses.
func TestDeployFiles(t *testing.T) {
	manifest, err := os.ReadFile("../deploy/k8s-indexed-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`(?m)^\s+completionMode: Indexed`, `--shard \$\{JOB_COMPLETION_INDEX\}/8`, `(?m)^\s+completions: 8\b`,
		`--out /results/study`, `esp", "report", "--in", "/results/study"`} {
		if !regexp.MustCompile(want).Match(manifest) {
			t.Errorf("k8s-indexed-job.yaml lacks %s", want)
		}
	}
	script, err := os.ReadFile("../deploy/slurm-array.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`--shard "\$\{INDEX\}/\$\{SHARDS\}"`).Match(script) {
		t.Error("slurm-array.sh does not pass --shard INDEX/SHARDS")
	}
	if out, err := exec.Command("bash", "-n", "../deploy/slurm-array.sh").CombinedOutput(); err != nil {
		t.Errorf("bash -n slurm-array.sh: %v\n%s", err, out)
	}
}
