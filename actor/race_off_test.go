//go:build !race

package actor

// raceEnabled: children of multi-process tests start slowly under the
// race detector; long tests run fewer rounds.
const raceEnabled = false
