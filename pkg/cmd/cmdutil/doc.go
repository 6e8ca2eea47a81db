// Package cmdutil is what the mesh commands share: the kubectl-style --kubeconfig and
// --context flags, a Factory that turns them (or any rest.Config) into clients, the IO
// streams a command writes to, and the printer of the YAML they hand to kubectl.
//
// Commands take a Factory, never flags or globals, so their tests hand them fake clientsets.
// A command that reaches several clusters by kubeconfig context (`mesh trust verify`) asks
// the Factory for ContextConfigs, which ConfigFlags is.
// It deliberately does not depend on k8s.io/cli-runtime: its ConfigFlags would bring the
// resource builder and kustomize for two flags that client-go's clientcmd gives directly.
// It holds no command and no knowledge of meshfed's resources.
package cmdutil
