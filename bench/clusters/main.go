// Command clusters measures the local provider: for two and then three clusters, with warm
// caches, the time from `up` to every node Ready, to CoreDNS and cert-manager ready and to an
// echo pod serving, and the memory each idle cluster holds. It prints one table. The row of
// one cluster is the baseline the others are read against (what a second and third cluster
// add on this 2-core machine); kind cannot run here, and its published figures (30-60 s and
// about 1 GiB a cluster) are printed beside them.
//
// Memory is counted over every process of a node, components and pods' containers: RSS counts
// pages shared between clusters (the same binaries' text) once in every process, PSS shares
// them out, so PSS is what each cluster costs the machine.
//
//	go run ./bench/clusters [-sizes 1,2,3] [-settle 20s]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshfed/meshfed/multicluster-e2e/build"
	"github.com/meshfed/meshfed/multicluster-e2e/provider"
	"github.com/meshfed/meshfed/multicluster-e2e/provider/local"
)

func main() {
	local.MaybeRunNode()
	sizes := flag.String("sizes", "1,2,3", "numbers of clusters to bring up, one run each")
	settle := flag.Duration("settle", 20*time.Second, "how long clusters idle before their memory is read")
	flag.Parse()
	if err := run(*sizes, *settle); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	clusters                     int
	nodesReady, addons, echo     time.Duration
	up                           time.Duration
	rssPerCluster, pssPerCluster uint64
}

func run(sizes string, settle time.Duration) error {
	b, err := build.NewFromWorkingDir(os.Stderr)
	if err != nil {
		return err
	}
	p := local.New("", b, os.Stderr)
	ctx := context.Background()
	// Warm the caches first: the figures are for a machine that has built everything once.
	if err := p.Prebuild(ctx); err != nil {
		return err
	}
	var results []result
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("-sizes: %q is not a number of clusters", s)
		}
		r, err := measure(ctx, p, n, settle)
		if derr := p.Down(ctx); derr != nil && err == nil {
			err = derr
		}
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "clusters\tnodes Ready\tDNS+cert-manager ready\techo pod serving\tup returned\tRSS/cluster\tPSS/cluster\t")
	for _, r := range results {
		fmt.Fprintf(w, "%d\t%.1fs\t%.1fs\t%.1fs\t%.1fs\t%d MiB\t%d MiB\t\n", r.clusters, r.nodesReady.Seconds(), r.addons.Seconds(), r.echo.Seconds(), r.up.Seconds(), r.rssPerCluster>>20, r.pssPerCluster>>20)
	}
	w.Flush()
	fmt.Println("baseline: kind takes 30-60 s and about 1 GiB per cluster; goals here: 2 clusters ready in < 15 s, < 900 MiB per idle cluster")
	return nil
}

var names = []string{"west", "east", "north", "south", "up", "down"}

func measure(ctx context.Context, p *local.Provider, n int, settle time.Duration) (result, error) {
	opts := provider.Options{Clusters: names[:n]}
	if err := p.Down(ctx); err != nil {
		return result{}, err
	}
	r := result{clusters: n}
	start := time.Now()
	upErr := make(chan error, 1)
	go func() { upErr <- p.Up(ctx, opts) }()

	// Watch from the side while up runs: each milestone is when the last cluster reached it.
	var mu sync.Mutex
	milestones := map[string]map[string]time.Duration{"nodes": {}, "addons": {}, "echo": {}}
	mark := func(what, cluster string) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := milestones[what][cluster]; !ok {
			milestones[what][cluster] = time.Since(start)
		}
	}
	var wg sync.WaitGroup
	for _, c := range opts.Clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			watch(ctx, p, c, mark)
		}()
	}
	if err := <-upErr; err != nil {
		return r, err
	}
	r.up = time.Since(start)
	wg.Wait()
	last := func(what string) time.Duration {
		var max time.Duration
		for _, d := range milestones[what] {
			max = maxDur(max, d)
		}
		return max
	}
	r.nodesReady, r.addons, r.echo = last("nodes"), last("addons"), last("echo")

	time.Sleep(settle) // idle, not synchronisation: memory is read after the start-up churn.
	mem, err := p.Memory()
	if err != nil {
		return r, err
	}
	for _, u := range mem {
		r.rssPerCluster += u.RSS
		r.pssPerCluster += u.PSS
	}
	r.rssPerCluster /= uint64(n)
	r.pssPerCluster /= uint64(n)
	return r, nil
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

const echoDeployment = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"echo","namespace":"default"},
"spec":{"selector":{"matchLabels":{"app":"echo"}},"template":{"metadata":{"labels":{"app":"echo"}},
"spec":{"containers":[{"name":"echo","image":"%s","imagePullPolicy":"IfNotPresent","args":["serve"],
"readinessProbe":{"httpGet":{"path":"/readyz","port":8080},"periodSeconds":1}}]}}}}`

// watch polls one cluster until its echo pod serves, marking each milestone as it is reached.
func watch(ctx context.Context, p *local.Provider, cluster string, mark func(what, cluster string)) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var echo appsv1.Deployment
	if err := json.Unmarshal([]byte(fmt.Sprintf(echoDeployment, build.RepoImage("echo"))), &echo); err != nil {
		panic(err) // the constant above is valid JSON
	}
	var client kubernetes.Interface
	echoCreated := false
	reached := map[string]bool{}
	for ctx.Err() == nil && len(reached) < 3 {
		time.Sleep(100 * time.Millisecond)
		if client == nil {
			cfg, err := provider.RESTConfig(p.Kubeconfig(), cluster)
			if err != nil {
				continue // the kubeconfig is not written yet
			}
			cfg.Timeout = 2 * time.Second
			if client, err = kubernetes.NewForConfig(cfg); err != nil {
				continue
			}
		}
		if !echoCreated {
			// Created as soon as the apiserver answers, so the pod starts the moment it can.
			_, err := client.AppsV1().Deployments("default").Create(ctx, echo.DeepCopy(), metav1.CreateOptions{})
			echoCreated = err == nil
			continue
		}
		for what, ok := range map[string]bool{
			"nodes": nodeReady(ctx, client, cluster),
			"addons": available(ctx, client, "kube-system", "coredns") &&
				available(ctx, client, "cert-manager", "cert-manager") &&
				available(ctx, client, "cert-manager", "cert-manager-webhook") &&
				available(ctx, client, "cert-manager", "cert-manager-cainjector"),
			"echo": available(ctx, client, "default", "echo"),
		} {
			if ok && !reached[what] {
				reached[what] = true
				mark(what, cluster)
			}
		}
	}
}

func nodeReady(ctx context.Context, c kubernetes.Interface, name string) bool {
	node, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func available(ctx context.Context, c kubernetes.Interface, ns, name string) bool {
	d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false
	}
	for _, cond := range d.Status.Conditions {
		if cond.Type == appsv1.DeploymentAvailable {
			return cond.Status == corev1.ConditionTrue && d.Status.AvailableReplicas > 0
		}
	}
	return false
}
