package cmdutil

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// PrintYAML writes objects as YAML documents separated by "---", for kubectl apply -f - or
// delete -f -. Each object must carry its apiVersion and kind. Fields that are only noise in
// a manifest are left out: a null creationTimestamp and an empty status.
func PrintYAML(w io.Writer, objs ...runtime.Object) error {
	for i, obj := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return fmt.Errorf("printing %T: %w", obj, err)
		}
		if err := PrintYAMLMap(w, m, i > 0); err != nil {
			return err
		}
	}
	return nil
}

// PrintYAMLMap writes one object held as a map, preceded by "---" when separate is set.
func PrintYAMLMap(w io.Writer, m map[string]any, separate bool) error {
	gvk, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	if gvk == "" || kind == "" {
		return fmt.Errorf("printing an object with no apiVersion or kind: %v", m["metadata"])
	}
	if md, ok := m["metadata"].(map[string]any); ok {
		if ts, ok := md["creationTimestamp"]; ok && ts == nil {
			delete(md, "creationTimestamp")
		}
	}
	if st, ok := m["status"].(map[string]any); ok && len(st) == 0 {
		delete(m, "status")
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		return fmt.Errorf("printing %s: %w", kind, err)
	}
	if separate {
		if _, err := io.WriteString(w, "---\n"); err != nil {
			return err
		}
	}
	_, err = w.Write(b)
	return err
}

// DecodeDocuments parses a multi-document YAML file, skipping empty documents.
func DecodeDocuments(data []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", len(out)+1, err)
		}
		if t := bytes.TrimSpace(j); len(t) == 0 || string(t) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			return nil, fmt.Errorf("document %d: %w", len(out)+1, err)
		}
		out = append(out, u)
	}
}
