//go:build !race

package main

// procRace builds the binary under test without the race detector, as the
// tests themselves run.
const procRace = false
