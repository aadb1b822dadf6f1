// Package notebooks holds the toolkit's GoNB notebooks (*.ipynb), one per experiment of the
// study, and the test that executes them all headless with Jupyter at smoke scale.
//
// The notebooks use the toolkit's packages through a module replace set in their first
// cell; package nb holds the helpers they share. `make notebook` installs the GoNB kernel
// and starts Jupyter on this folder.
package notebooks
