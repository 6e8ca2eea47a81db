// Package dashboard is the viz dashboard's page, embedded: the federation's graph
// (cytoscape), golden metrics per workload, edge and link, and charts of the last minutes
// (uPlot), refreshed from the viz API every few seconds.
//
// The page's sources are web/; dist/ is their bundle with the npm packages they use, made
// by `go generate` (hack/tools/dashboard: pinned tarballs checked against their integrity,
// bundled by esbuild's Go API, no Node) and committed, so a build needs no network and the
// page none either. It serves files and nothing else: the API it reads is the caller's.
package dashboard

//go:generate go -C ../../../hack/tools/dashboard run . -web ../../../pkg/viz/dashboard/web -out ../../../pkg/viz/dashboard/dist
