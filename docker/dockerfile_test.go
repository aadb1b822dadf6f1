package docker

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// housekeeping are the commands a RUN may hold besides Makefile targets: they change no
// build result.
var housekeeping = []string{"go mod download", "rm -rf /var/lib/apt/lists/*"}

// stage is one FROM ... AS name block of the Dockerfile.
type stage struct {
	name  string
	nodes []*parser.Node
}

func parseDockerfile(t *testing.T) []stage {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile does not parse: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("parser warning: %s", w.Short)
	}
	var stages []stage
	for _, n := range res.AST.Children {
		if strings.EqualFold(n.Value, "from") {
			var args []string
			for a := n.Next; a != nil; a = a.Next {
				args = append(args, a.Value)
			}
			name := ""
			if len(args) == 3 && strings.EqualFold(args[1], "as") {
				name = args[2]
			}
			stages = append(stages, stage{name: name})
			continue
		}
		if len(stages) == 0 {
			if !strings.EqualFold(n.Value, "arg") {
				t.Errorf("line %d: %s before the first FROM", n.StartLine, n.Original)
			}
			continue
		}
		stages[len(stages)-1].nodes = append(stages[len(stages)-1].nodes, n)
	}
	return stages
}

// makefileTargets returns every target of the Makefile and the targets that `make setup`
// and `make test` (what CI runs, see .ci/run) reach through prerequisites.
func makefileTargets(t *testing.T) (all map[string]bool, ci map[string]bool) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rule := regexp.MustCompile(`^([A-Za-z0-9_.-]+(?:\s+[A-Za-z0-9_.-]+)*)\s*:([^=].*)?$`)
	prereqs := map[string][]string{}
	all = map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "#") {
			continue
		}
		m := rule.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, target := range strings.Fields(m[1]) {
			if strings.HasPrefix(target, ".") {
				continue
			}
			all[target] = true
			prereqs[target] = append(prereqs[target], strings.Fields(m[2])...)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	ci = map[string]bool{}
	var visit func(string)
	visit = func(target string) {
		if ci[target] {
			return
		}
		ci[target] = true
		for _, p := range prereqs[target] {
			visit(p)
		}
	}
	ciRun, err := os.ReadFile(filepath.Join("..", ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^make ([a-z -]+)$`).FindAllStringSubmatch(string(ciRun), -1) {
		for _, target := range strings.Fields(m[1]) {
			visit(target)
		}
	}
	if !ci["setup"] || !ci["test"] {
		t.Fatalf(".ci/run does not run make setup and make test; it reaches %v", ci)
	}
	return all, ci
}

// TestDockerfile checks the Dockerfile without a Docker engine.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	var names []string
	for _, s := range stages {
		names = append(names, s.name)
	}
	if !slices.Equal(names, []string{"build", "notebook", "cuda"}) {
		t.Fatalf("stages %v, want build, notebook, cuda", names)
	}
	all, ci := makefileTargets(t)
	for _, s := range stages {
		for _, n := range s.nodes {
			switch strings.ToLower(n.Value) {
			case "copy":
				var args []string
				fromStage := false
				for _, f := range n.Flags {
					fromStage = fromStage || strings.HasPrefix(f, "--from=")
				}
				for a := n.Next; a != nil; a = a.Next {
					args = append(args, a.Value)
				}
				if fromStage {
					continue
				}
				for _, src := range args[:len(args)-1] {
					if _, err := os.Stat(filepath.Join("..", src)); err != nil {
						t.Errorf("line %d: COPY source %q does not exist in the repository", n.StartLine, src)
					}
				}
			case "run", "cmd":
				command := n.Next.Value
				if n.Attributes["json"] {
					var words []string
					for a := n.Next; a != nil; a = a.Next {
						words = append(words, a.Value)
					}
					command = strings.Join(words, " ")
				}
				for _, part := range strings.Split(command, "&&") {
					if problem := commandProblem(s.name, strings.TrimSpace(part), all, ci); problem != "" {
						t.Errorf("line %d: %s", n.StartLine, problem)
					}
				}
			}
		}
	}
}

// commandProblem says what is wrong with one command of a RUN or CMD ("" if nothing): it
// must be Makefile targets (those CI runs, except in the cuda stage, which needs a GPU host,
// and the notebook server the image starts), housekeeping, or esp's own GPU setup in the
// cuda stage.
func commandProblem(stage, command string, all, ci map[string]bool) string {
	if slices.Contains(housekeeping, command) {
		return ""
	}
	words := strings.Fields(command)
	if stage == "cuda" && len(words) > 1 && words[0] == "esp" && words[1] == "setup-gpu" {
		return ""
	}
	if len(words) < 2 || words[0] != "make" {
		return fmt.Sprintf("%q is neither a Makefile target nor housekeeping", command)
	}
	for _, target := range words[1:] {
		if strings.Contains(target, "=") {
			continue // a variable
		}
		switch {
		case !all[target]:
			return fmt.Sprintf("make %s: no such Makefile target", target)
		case !ci[target] && stage != "cuda" && target != "notebook":
			return fmt.Sprintf("make %s is not a target CI runs (make setup / make test)", target)
		}
	}
	return ""
}

func TestCommandProblem(t *testing.T) {
	all := map[string]bool{"build": true, "data": true, "build-xla": true, "notebook": true, "bench": true}
	ci := map[string]bool{"build": true, "data": true}
	for _, c := range []struct {
		stage, command string
		ok             bool
	}{
		{"build", "make build data", true},
		{"build", "go mod download", true},
		{"notebook", "make notebook NOTEBOOK_IP=0.0.0.0", true},
		{"cuda", "make build-xla", true},
		{"cuda", "esp setup-gpu --dir /opt/pjrt", true},
		{"build", "make build-xla", false},    // not run by CI
		{"build", "make missing", false},      // no such target
		{"build", "go build ./esp", false},    // bypasses the Makefile
		{"notebook", "esp setup-gpu", false},  // only in the cuda stage
		{"build", "make bench", false},        // a target CI does not run
		{"build", "curl -O https://x", false}, // neither
	} {
		problem := commandProblem(c.stage, c.command, all, ci)
		if (problem == "") != c.ok {
			t.Errorf("stage %s, %q: problem %q, want ok=%v", c.stage, c.command, problem, c.ok)
		}
	}
}
