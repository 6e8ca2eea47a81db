package viz

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Querier is the part of the Prometheus HTTP API the server uses: promv1.API has it.
type Querier interface {
	Query(ctx context.Context, query string, ts time.Time, opts ...promv1.Option) (model.Value, promv1.Warnings, error)
	QueryRange(ctx context.Context, query string, r promv1.Range, opts ...promv1.Option) (model.Value, promv1.Warnings, error)
}

// Source is one cluster's Prometheus.
type Source struct {
	// Cluster is the name the federation knows the cluster by (as in its Links).
	Cluster string
	// TrustDomain is the cluster's, which names its workloads' identities: it tells a
	// caller from this cluster in another cluster's metrics.
	TrustDomain string
	Prometheus  Querier
}

var clusterNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// ParseSource parses a --prometheus flag, CLUSTER=URL, into a Source whose trust domain is
// <cluster>.meshfed.local unless trustDomains names another.
func ParseSource(flag string, trustDomains map[string]string, rt http.RoundTripper) (Source, error) {
	name, addr, ok := strings.Cut(flag, "=")
	if !ok || name == "" || addr == "" {
		return Source{}, fmt.Errorf("--prometheus %q: want CLUSTER=URL, such as west=http://prometheus.mesh-viz.svc:9090", flag)
	}
	if !clusterNameRE.MatchString(name) {
		return Source{}, fmt.Errorf("--prometheus %q: cluster name %q is not a DNS label: use lower-case letters, digits and '-'", flag, name)
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Source{}, fmt.Errorf("--prometheus %q: %q is not an http(s) URL, such as http://prometheus.mesh-viz.svc:9090", flag, addr)
	}
	c, err := api.NewClient(api.Config{Address: addr, RoundTripper: rt})
	if err != nil {
		return Source{}, fmt.Errorf("--prometheus %q: %w", flag, err)
	}
	td := trustDomains[name]
	if td == "" {
		td = name + ".meshfed.local"
	}
	return Source{Cluster: name, TrustDomain: td, Prometheus: promv1.NewAPI(c)}, nil
}
