package certs

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshfed/meshfed/pkg/trust"
)

// fingerprintLen is how much of a SHA-256 fingerprint names a certificate in metrics, as
// `mesh trust` prints it.
const fingerprintLen = 16

var (
	leafInfoDesc = prometheus.NewDesc("meshfed_identity_leaf_info",
		"The leaf in use (1): its identity, and the start of the SHA-256 fingerprints of the issuer that signed it and of the anchor it chains to in the bundle in use (empty when it chains to none).",
		[]string{"identity", "issuer", "anchor"}, nil)
	leafExpiryDesc = prometheus.NewDesc("meshfed_identity_leaf_expiration_timestamp_seconds",
		"When the leaf in use expires, in Unix seconds.", nil, nil)
	anchorInfoDesc = prometheus.NewDesc("meshfed_trust_anchor_info",
		"An anchor of the trust bundle in use (1), by the start of its SHA-256 fingerprint and its subject.",
		[]string{"anchor", "subject"}, nil)
)

// Collector exports the leaf and the bundle in use, read at each scrape: what shows that a
// process has followed an anchor rotation (its bundle holds the new anchor; its leaf chains
// to it).
func (m *Manager) Collector() prometheus.Collector { return managerCollector{m} }

type managerCollector struct{ m *Manager }

func (c managerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- leafInfoDesc
	ch <- leafExpiryDesc
	ch <- anchorInfoDesc
}

func (c managerCollector) Collect(ch chan<- prometheus.Metric) {
	bundle := c.m.Bundle()
	if bundle != nil {
		for _, a := range bundle.Anchors() {
			ch <- prometheus.MustNewConstMetric(anchorInfoDesc, prometheus.GaugeValue, 1, trust.Fingerprint(a)[:fingerprintLen], a.Subject.CommonName)
		}
	}
	leaf := c.m.Leaf()
	if leaf == nil {
		return
	}
	var issuer, anchor string
	if len(leaf.Intermediates) > 0 {
		issuer = trust.Fingerprint(leaf.Intermediates[0])[:fingerprintLen]
		if bundle != nil {
			if a, err := bundle.VerifyIssuer(leaf.Intermediates[0], leaf.Intermediates[1:], c.m.now()); err == nil {
				anchor = trust.Fingerprint(a)[:fingerprintLen]
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(leafInfoDesc, prometheus.GaugeValue, 1, c.m.id.String(), issuer, anchor)
	ch <- prometheus.MustNewConstMetric(leafExpiryDesc, prometheus.GaugeValue, float64(leaf.Certificate.NotAfter.Unix()))
}
