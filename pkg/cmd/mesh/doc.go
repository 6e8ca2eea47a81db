// Package meshcmd is the mesh CLI's root command: it holds the kubectl-style flags every
// command shares (--kubeconfig, --context, --request-timeout) and wires in the command
// groups, such as multicluster.
//
// Run is the whole CLI as a function of its arguments and streams, so tests drive it as a
// user would; only cmd/mesh calls os.Exit. The commands themselves live in their own
// packages (pkg/cmd/multicluster): this one holds no command logic.
package meshcmd
