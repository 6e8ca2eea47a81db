// Package workload is what the mesh reads of a pod wherever it meets one: whether it runs the
// mesh's proxy, the ServiceAccount its identity names, and the slim copy of it that caches
// keep. The destination service reads local pods with it, the link controller remote ones.
//
// It is not the injector: how a pod gets its proxy is package inject's.
package workload
