package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// floorNamespace holds the floor's objects, in both clusters.
const floorNamespace = "floor"

// watchFloor times, n times, the least an export can take to become an import: a write in
// east seen by a watch of east (as west's link controller watches east), then a write in west
// seen by a watch of west (as the bench and the DNS plugin watch west). An import takes more
// than that (west writes a mirror's slice, the derived Service, the ServiceImport and its
// status, one after the other, and DNS reads them); none can take less. The objects are
// ConfigMaps, which neither link controller watches, so that only the apiservers are timed.
func watchFloor(ctx context.Context, east, west kubernetes.Interface, n int) ([]time.Duration, error) {
	eastSeen, err := watchConfigMaps(ctx, east)
	if err != nil {
		return nil, fmt.Errorf("east: %w", err)
	}
	westSeen, err := watchConfigMaps(ctx, west)
	if err != nil {
		return nil, fmt.Errorf("west: %w", err)
	}
	var out []time.Duration
	for i := range n {
		name := fmt.Sprintf("floor-%d", i)
		start := time.Now()
		for _, hop := range []struct {
			cluster string
			cs      kubernetes.Interface
			seen    <-chan string
		}{{"east", east, eastSeen}, {"west", west, westSeen}} {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: floorNamespace}}
			if _, err := hop.cs.CoreV1().ConfigMaps(floorNamespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				return nil, fmt.Errorf("writing ConfigMap %s in %s: %w", name, hop.cluster, err)
			}
			if err := awaitName(ctx, hop.seen, name); err != nil {
				return nil, fmt.Errorf("a watch of %s seeing ConfigMap %s: %w", hop.cluster, name, err)
			}
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// watchConfigMaps tells the name of every ConfigMap added to the floor's namespace.
func watchConfigMaps(ctx context.Context, cs kubernetes.Interface) (<-chan string, error) {
	added := make(chan string, 16)
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(floorNamespace))
	inf := factory.Core().V1().ConfigMaps().Informer()
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		if cm, ok := obj.(*corev1.ConfigMap); ok {
			select {
			case added <- cm.Name:
			case <-ctx.Done():
			}
		}
	}}); err != nil {
		return nil, err
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("the watch of %v did not sync: %w", typ, ctx.Err())
		}
	}
	return added, nil
}

// awaitName waits until name comes out of seen, for at most 30 s; other names are passed by.
func awaitName(ctx context.Context, seen <-chan string, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		select {
		case got := <-seen:
			if got == name {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// floorWorkers is how many writes the bulk's floor makes at once in each cluster: as many
// as each controller's workers.
const floorWorkers = 8

// writeFloor makes, itself, the writes n imports cost, in both clusters at once as the
// controllers make them, and returns how long that took: what the apiservers (sharing the
// machine's cores) allow any controller at best. Per export, in west: a mirror Service and
// its slice, the derived Service (a cluster IP allocated) and the member's slice, the
// ServiceImport and its status; in east, which exports too and so imports too: the derived
// Service, the ServiceImport and its status. (East's ServiceExport status write is left out:
// a ServiceExport would set the controllers going.)
func writeFloor(ctx context.Context, e *env, n int) (time.Duration, error) {
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("floor-%04d", i)
	}
	start := time.Now()
	errs := make(chan error, 2)
	go func() {
		errs <- atOnceN(ctx, floorWorkers, names, func(ctx context.Context, name string) error {
			for _, svc := range []string{name + "-east", name + mcv1alpha1.ClusterSetSuffix} {
				if err := floorService(ctx, e.westKube, svc); err != nil {
					return err
				}
				if err := floorSlice(ctx, e.westKube, svc); err != nil {
					return err
				}
			}
			return floorImport(ctx, e.westMCS, name)
		})
	}()
	go func() {
		errs <- atOnceN(ctx, floorWorkers, names, func(ctx context.Context, name string) error {
			if err := floorService(ctx, e.eastKube, name+mcv1alpha1.ClusterSetSuffix); err != nil {
				return err
			}
			return floorImport(ctx, e.eastMCS, name)
		})
	}()
	if err := errors.Join(<-errs, <-errs); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func floorService(ctx context.Context, cs kubernetes.Interface, name string) error {
	_, err := cs.CoreV1().Services(floorNamespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: floorNamespace},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{})
	return err
}

func floorSlice(ctx context.Context, cs kubernetes.Interface, svc string) error {
	_, err := cs.DiscoveryV1().EndpointSlices(floorNamespace).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc, Namespace: floorNamespace, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"198.18.0.250"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(mcv1alpha1.DefaultGatewayPort)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}, metav1.CreateOptions{})
	return err
}

func floorImport(ctx context.Context, cs mcsclient.Interface, name string) error {
	si, err := cs.MulticlusterV1alpha1().ServiceImports(floorNamespace).Create(ctx, &mcsv1alpha1.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: floorNamespace},
		Spec: mcsv1alpha1.ServiceImportSpec{
			Type:  mcsv1alpha1.ClusterSetIP,
			IPs:   []string{"198.19.240.1"},
			Ports: []mcsv1alpha1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	si.Status.Clusters = []mcsv1alpha1.ClusterStatus{{Cluster: "east"}}
	_, err = cs.MulticlusterV1alpha1().ServiceImports(floorNamespace).UpdateStatus(ctx, si, metav1.UpdateOptions{})
	return err
}
