// Package healthcheck runs the checks of the `mesh ... check` commands: checks as data (a
// description, a hint, fatal or not, a function that returns what is wrong), grouped in
// categories, run in order with an optional retry until a deadline, printed one line each as
// they come, and reported as JSON. Each check returns its own result; none shares state
// with another except through what a category's author passes between them explicitly.
//
// It does not know what is checked: pkg/cmd/check, pkg/cmd/multicluster and the others
// write the checks.
package healthcheck
