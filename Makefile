# esp: build, data, tests. Every Go build path sets GOEXPERIMENT=simd: the Go backend's
# AVX2/AVX-512 matmul is 6-7x faster with it.
export GOEXPERIMENT := simd
export GOFLAGS := -mod=mod

BIN        ?= $(CURDIR)/bin
ESP        := $(BIN)/esp
# CIFAR-10 for development and CI: an image-folder copy beside the project, if present.
CIFAR10_FROM ?= $(wildcard $(CURDIR)/../shared/datasets/cifar10-jpeg.tar.gz)
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FUZZTIME   ?= 50000x
FUZZ_TARGETS := ./corrupt:FuzzParseStrategy ./corrupt:FuzzCopies ./datasets:FuzzReadIDXImages ./datasets:FuzzReadSplitFile

.PHONY: all build setup apt data demo quick test vet fmt-check fuzz clean

all: build

build:
	go build -o $(ESP) ./esp

# setup installs what a fresh Debian/Ubuntu machine lacks and fetches the datasets.
setup: apt build data

apt:
	$(SUDO) apt-get update -qq
	$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist chromium

# data fetches MNIST and Fashion-MNIST (canonical URLs, else the offline fallbacks) and
# CIFAR-10 (canonical URL, or the local copy in CIFAR10_FROM).
data: build
	$(ESP) data fetch mnist fashion-mnist
	$(if $(CIFAR10_FROM),$(ESP) data fetch cifar10 --from $(CIFAR10_FROM),$(ESP) data fetch cifar10)
	$(ESP) data list

# demo is the main job: the whole study at smoke scale (a minute or two on 2 cores), on the
# embedded Go backend; the report is out/smoke/report/index.html.
demo: build
	$(ESP) data show --dataset mnist --corrupt wrong-uniform --out out/mnist-corrupted.png
	$(ESP) reproduce --scale smoke --out out/smoke

# quick is the study at quick scale (MLP and LeNet, MNIST and Fashion-MNIST subsets).
quick: build
	$(ESP) reproduce --scale quick --out out/quick

test: fmt-check vet
	go test ./...
	$(MAKE) fuzz

vet:
	go vet ./...

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

clean:
	rm -rf $(BIN) out
