//go:build race

package file

// raceEnabled: the race detector multiplies memory use; tests measuring the
// resident set size relax their bound.
const raceEnabled = true
