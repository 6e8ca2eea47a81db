// Package progress prints the status lines of long-running commands, one step at a time,
// as kind does: "• Starting control plane (west)" when a step begins and
// "✓ Starting control plane (west) 2.1s" or "✗ ..." when it ends.
//
// Steps may run concurrently (one per cluster); lines never interleave mid-line. It does
// not draw spinners or move the cursor, so its output reads the same in a terminal, a CI log
// and a test.
package progress
