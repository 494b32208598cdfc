//go:build race

package forward

// raceEnabled: the race detector multiplies memory use, so memory bounds are
// only checked without it.
const raceEnabled = true
