// Package golden compares what a test made with a golden file, or rewrites the file when
// the test runs with its package's -update flag, and shows the first line that differs.
//
// It does not register -update itself: each test package owns its flags, and passes the
// flag's value. It knows nothing of what the files hold.
package golden
