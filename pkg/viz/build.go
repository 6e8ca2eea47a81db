package viz

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
)

// golden accumulates the rates behind one Golden.
type golden struct {
	total, ok, tls float64
	// latency are the quantiles' (in seconds), in the order of quantiles.
	latency [3]*float64
}

func (g *golden) add(rate float64, ok, tls bool) {
	if math.IsNaN(rate) {
		return
	}
	g.total += rate
	if ok {
		g.ok += rate
	}
	if tls {
		g.tls += rate
	}
}

// setLatency keeps the i-th quantile v, in seconds: the highest when several series of the
// same workload or edge answer.
func (g *golden) setLatency(i int, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if g.latency[i] == nil || v > *g.latency[i] {
		g.latency[i] = ptr(v)
	}
}

func (g *golden) result() Golden {
	out := Golden{RPS: g.total}
	if g.total > 0 {
		out.SuccessRate = ptr(g.ok / g.total)
		out.TLSShare = ptr(g.tls / g.total)
		out.P50, out.P95, out.P99 = millis(g.latency[0]), millis(g.latency[1]), millis(g.latency[2])
	}
	return out
}

// edgeKey identifies an edge.
type edgeKey struct {
	src, dst  Workload
	gateway   string
	authority string
}

// rowKey is what an outbound latency series shares with the request series of its edge.
type rowKey struct {
	cluster, ns, src, dst, remote, authority string
}

// remoteKey finds the workload behind a remote Service: the cluster called, the caller's
// trust domain and the host asked for.
type remoteKey struct {
	cluster, callerTD, host string
}

// build joins every cluster's answers into an Overview. It is pure: all it knows comes from
// data, so a table of vectors tests it.
func build(data []clusterData, window string) Overview {
	ov := Overview{Window: window, Clusters: []ClusterStatus{}, Workloads: []WorkloadStat{}, Edges: []Edge{}, Links: []Link{}}
	workloads := map[Workload]*golden{}
	remote := map[remoteKey]map[Workload]float64{}
	lookup := func(w Workload) *golden {
		g, ok := workloads[w]
		if !ok {
			g = &golden{}
			workloads[w] = g
		}
		return g
	}

	// Inbound: what each workload served, and which workload answers a remote caller's host.
	for _, d := range data {
		st := ClusterStatus{Name: d.Cluster}
		if d.err != nil {
			st.Error = d.err.Error()
		}
		ov.Clusters = append(ov.Clusters, st)
		for _, s := range d.inbound {
			l := s.Metric
			w := Workload{Cluster: d.Cluster, Namespace: string(l[labelNamespace]), Name: string(l["dst_workload"])}
			if w.Name == "" {
				continue
			}
			lookup(w).add(float64(s.Value), success(l), l["tls"] == "true")
			if td, _ := spiffeParts(string(l["client_id"])); td != "" && float64(s.Value) > 0 {
				k := remoteKey{d.Cluster, td, host(string(l["authority"]))}
				if remote[k] == nil {
					remote[k] = map[Workload]float64{}
				}
				remote[k][w] += float64(s.Value)
			}
		}
		for qi, vec := range d.inboundLatency {
			for _, s := range vec {
				l := s.Metric
				w := Workload{Cluster: d.Cluster, Namespace: string(l[labelNamespace]), Name: string(l["dst_workload"])}
				if w.Name == "" {
					continue
				}
				lookup(w).setLatency(qi, float64(s.Value))
			}
		}
	}
	trustDomains := map[string]string{}
	for _, d := range data {
		trustDomains[d.Cluster] = d.TrustDomain
	}

	// Outbound: the edges, as callers saw them.
	edges := map[edgeKey]*golden{}
	rows := map[rowKey]edgeKey{}
	for _, d := range data {
		for _, s := range d.outbound {
			l := s.Metric
			rk := rowKey{d.Cluster, string(l[labelNamespace]), string(l["src_workload"]), string(l["dst_workload"]), string(l["remote_cluster"]), string(l["authority"])}
			if rk.src == "" {
				continue
			}
			ek := edgeOf(rk, string(l["server_id"]), trustDomains[d.Cluster], remote)
			rows[rk] = ek
			// A caller that serves nothing still is a workload of its cluster.
			lookup(ek.src)
			g, ok := edges[ek]
			if !ok {
				g = &golden{}
				edges[ek] = g
			}
			g.add(float64(s.Value), success(l), l["tls"] == "true")
		}
		for qi, vec := range d.outboundLatency {
			for _, s := range vec {
				l := s.Metric
				rk := rowKey{d.Cluster, string(l[labelNamespace]), string(l["src_workload"]), string(l["dst_workload"]), string(l["remote_cluster"]), string(l["authority"])}
				if ek, ok := rows[rk]; ok {
					edges[ek].setLatency(qi, float64(s.Value))
				}
			}
		}
	}
	for w, g := range workloads {
		ov.Workloads = append(ov.Workloads, WorkloadStat{Workload: w, Golden: g.result()})
	}
	slices.SortFunc(ov.Workloads, func(a, b WorkloadStat) int { return compareWorkloads(a.Workload, b.Workload) })
	for k, g := range edges {
		ov.Edges = append(ov.Edges, Edge{Name: edgeName(k.src, k.dst, k.gateway), Src: k.src, Dst: k.dst, Gateway: k.gateway, Authority: k.authority, Golden: g.result()})
	}
	slices.SortFunc(ov.Edges, func(a, b Edge) int {
		return cmp.Or(compareWorkloads(a.Src, b.Src), compareWorkloads(a.Dst, b.Dst), cmp.Compare(a.Authority, b.Authority))
	})
	ov.Links = buildLinks(data)
	return ov
}

// edgeOf names the two ends of an outbound row. The destination's namespace comes from the
// server's identity when it has one, else from the host asked for, else it is the caller's.
// A call through a gateway has no destination workload in the caller's metrics (its proxy
// knows the remote Service, not what runs it): it is taken from the remote cluster's
// inbound side, the workload that served callers of this cluster asking for the same host.
func edgeOf(rk rowKey, serverID, callerTD string, remote map[remoteKey]map[Workload]float64) edgeKey {
	src := Workload{Cluster: rk.cluster, Namespace: rk.ns, Name: rk.src}
	dst := Workload{Cluster: rk.cluster, Namespace: rk.ns, Name: rk.dst}
	if rk.remote != "" {
		dst.Cluster = rk.remote
	}
	h := host(rk.authority)
	svc, svcNS := serviceOf(h)
	if svcNS != "" {
		dst.Namespace = svcNS
	}
	if _, ns := spiffeParts(serverID); ns != "" {
		dst.Namespace = ns
	}
	if dst.Name == "" && rk.remote != "" {
		var best float64
		for w, r := range remote[remoteKey{rk.remote, callerTD, h}] {
			if r > best || (r == best && compareWorkloads(w, dst) < 0) {
				best, dst = r, w
			}
		}
	}
	if dst.Name == "" {
		dst.Name = "service/" + svc
	}
	return edgeKey{src: src, dst: dst, gateway: rk.remote, authority: rk.authority}
}

func compareWorkloads(a, b Workload) int {
	return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// linkRemote is the remote cluster of a link controller's series, keyed as the gateway dials'
// remote_cluster is, or a link shows twice, half known each time: its label remote_cluster,
// or from a link controller older than that label, the Link's name out of link
// ("mesh-multicluster/east"), as mesh multicluster link names a Link after its cluster.
func linkRemote(m model.Metric) string {
	if r := string(m["remote_cluster"]); r != "" {
		return r
	}
	link := string(m["link"])
	_, name, ok := strings.Cut(link, "/")
	if !ok {
		return link
	}
	return name
}

// buildLinks reads each cluster's links: the link controller's remote state and the
// proxies' tunnels through each remote's gateway.
func buildLinks(data []clusterData) []Link {
	type acc struct {
		state      *float64
		dials, oks float64
	}
	links := map[[2]string]*acc{}
	get := func(k [2]string) *acc {
		a, ok := links[k]
		if !ok {
			a = &acc{}
			links[k] = a
		}
		return a
	}
	for _, d := range data {
		for _, s := range d.linkState {
			if r := linkRemote(s.Metric); r != "" {
				get([2]string{d.Cluster, r}).state = ptr(float64(s.Value))
			}
		}
		for _, s := range d.gatewayDials {
			r := string(s.Metric["remote_cluster"])
			if r == "" || math.IsNaN(float64(s.Value)) {
				continue
			}
			a := get([2]string{d.Cluster, r})
			a.dials += float64(s.Value)
			if s.Metric["result"] == "ok" {
				a.oks += float64(s.Value)
			}
		}
	}
	out := []Link{}
	for k, a := range links {
		l := Link{Cluster: k[0], Remote: k[1], GatewayDialsPerSec: a.dials}
		if a.state != nil {
			l.RemoteState = remoteState(*a.state)
		}
		if a.dials > 0 {
			l.GatewayDialSuccess = ptr(a.oks / a.dials)
		}
		switch {
		case a.state != nil && l.RemoteState != "healthy":
			l.GatewayAlive = ptr(false)
		case a.dials > 0 && a.oks == 0:
			l.GatewayAlive = ptr(false)
		case a.state != nil || a.dials > 0:
			l.GatewayAlive = ptr(true)
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Link) int { return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Remote, b.Remote)) })
	return out
}
