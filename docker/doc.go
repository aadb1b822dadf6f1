// Package docker holds the container image's Dockerfile and the test that checks it
// without a Docker engine: it parses with BuildKit's parser, every COPY source exists, and
// every step runs Makefile targets that CI runs too.
package docker
