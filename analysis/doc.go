// Package analysis studies trained networks and the datasets they were trained on:
// figures of samples, probes of the loss surface around extreme points, statistics
// across runs, and the plots of the report.
//
// Figures are drawn with gonum/plot and written as PNG (and SVG where a figure is
// part of the report); notebooks show the same figures inline.
package analysis
