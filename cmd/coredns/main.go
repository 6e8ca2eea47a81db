// Command coredns is the cluster DNS server meshfed's clusters run: CoreDNS with the plugins
// their Corefile uses and pkg/dnsplugin's clusterset, which answers clusterset.local
// (KEP-1645) from ServiceImports. It is CoreDNS's own main with one more plugin, placed
// before kubernetes so that clusterset.local never reaches it.
package main

import (
	"slices"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"

	_ "github.com/meshfed/meshfed/pkg/dnsplugin"
)

func init() {
	i := slices.Index(dnsserver.Directives, "kubernetes")
	dnsserver.Directives = slices.Insert(dnsserver.Directives, i, "clusterset")
}

func main() { coremain.Run() }
