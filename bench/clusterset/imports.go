package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	toolscache "k8s.io/client-go/tools/cache"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"
	mcsinformers "sigs.k8s.io/mcs-api/pkg/client/informers/externalversions"

	"github.com/meshfed/meshfed/pkg/dnsplugin"
)

// retryEvery is how soon DNS is asked again about a name it does not answer yet: a name's
// answer is counted at most this late (and a loopback query costs some tens of µs).
const retryEvery = 2 * time.Millisecond

// dnsAtOnce is how many DNS questions are in flight at once, as a few resolving pods would.
const dnsAtOnce = 8

// imports records when a watch of west first saw each ServiceImport with a ClusterSetIP, and
// the IP.
type imports struct {
	mu     sync.Mutex
	seen   map[string]imported // by "<namespace>/<name>"
	notify chan struct{}
}

type imported struct {
	ip string
	at time.Time
}

// watchImports starts the watch of west's ServiceImports; it stops with ctx.
func watchImports(ctx context.Context, west mcsclient.Interface) (*imports, error) {
	im := &imports{seen: map[string]imported{}, notify: make(chan struct{}, 1)}
	factory := mcsinformers.NewSharedInformerFactory(west, 0)
	inf := factory.Multicluster().V1alpha1().ServiceImports().Informer()
	// An update counts too: the ServiceImport may be written before its IP is.
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { im.saw(obj, time.Now()) },
		UpdateFunc: func(_, obj any) { im.saw(obj, time.Now()) },
	}); err != nil {
		return nil, err
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("the watch of west's %v did not sync: %w", typ, ctx.Err())
		}
	}
	return im, nil
}

func (im *imports) saw(obj any, at time.Time) {
	si, ok := obj.(*mcsv1alpha1.ServiceImport)
	if !ok || len(si.Spec.IPs) == 0 {
		return
	}
	key := si.Namespace + "/" + si.Name
	im.mu.Lock()
	if _, seen := im.seen[key]; !seen {
		im.seen[key] = imported{ip: si.Spec.IPs[0], at: at}
	}
	im.mu.Unlock()
	select {
	case im.notify <- struct{}{}:
	default:
	}
}

// arrival is when one export was imported in west with its ClusterSetIP, and when DNS first
// answered its name with that IP after that.
type arrival struct{ imported, answered time.Time }

// await waits until every key ("<namespace>/<name>") is imported with a ClusterSetIP and
// DNS answers <name>.<namespace>.svc.clusterset.local with it, and says when each was. DNS is
// asked about a name once its import is seen, and again every retryEvery until it answers.
// It gives up when ctx ends, saying what was still missing.
func (im *imports) await(ctx context.Context, r resolver, keys []string) (map[string]arrival, error) {
	out := make(map[string]arrival, len(keys))
	names := make(map[string]string, len(keys))
	for _, k := range keys {
		ns, name, _ := strings.Cut(k, "/")
		names[k] = name + "." + ns + ".svc." + dnsplugin.Zone
	}
	var (
		mu   sync.Mutex
		last string // the last wrong answer, for the error
	)
	for len(out) < len(keys) {
		im.mu.Lock()
		var ask []string
		for _, k := range keys {
			if _, done := out[k]; done {
				continue
			}
			if _, ok := im.seen[k]; ok {
				ask = append(ask, k)
			}
		}
		seen := make(map[string]imported, len(ask))
		for _, k := range ask {
			seen[k] = im.seen[k]
		}
		im.mu.Unlock()

		var wg sync.WaitGroup
		var askErr error
		sem := make(chan struct{}, dnsAtOnce)
		for _, k := range ask {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				qctx, cancel := context.WithTimeout(ctx, time.Second)
				ok, said, err := r.answers(qctx, names[k], seen[k].ip)
				cancel()
				at := time.Now()
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					askErr = err
				case ok:
					out[k] = arrival{imported: seen[k].at, answered: at}
				default:
					last = said
				}
			})
		}
		wg.Wait()
		if askErr != nil && ctx.Err() == nil {
			return nil, askErr
		}
		if len(out) == len(keys) {
			break
		}
		unanswered := len(ask) - countDone(out, ask)
		// Ask DNS again soon while it owes an answer; else wait for the next import (the
		// fallback only bounds a missed notification).
		retry := retryEvery
		if unanswered == 0 {
			retry = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			err := fmt.Errorf("of %d exports, %d not imported in west with a ClusterSetIP yet, %d imported and not answered in DNS yet: %w",
				len(keys), len(keys)-len(out)-unanswered, unanswered, ctx.Err())
			if unanswered > 0 {
				err = fmt.Errorf("%w (DNS's last answer: %s)", err, last)
			}
			return nil, err
		case <-im.notify:
		case <-time.After(retry):
		}
	}
	return out, nil
}

// countDone is how many of keys are in out.
func countDone(out map[string]arrival, keys []string) int {
	n := 0
	for _, k := range keys {
		if _, ok := out[k]; ok {
			n++
		}
	}
	return n
}
