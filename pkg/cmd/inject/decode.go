package inject

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// document is one object of the input.
type document struct {
	// index counts the documents that hold something, from 1; line is where it starts.
	index, line int
	object      map[string]any
}

func (d document) where() string { return fmt.Sprintf("document %d (line %d)", d.index, d.line) }

// decode splits data into YAML documents and parses each into an object with an apiVersion
// and a kind. An error names the document and the line of the input it is on.
func decode(data []byte) ([]document, error) {
	var out []document
	for _, chunk := range split(data) {
		j, err := yaml.YAMLToJSON(chunk.data)
		if err != nil {
			return nil, fmt.Errorf("document %d: %s", len(out)+1, atLine(err, chunk.line))
		}
		if t := bytes.TrimSpace(j); len(t) == 0 || string(t) == "null" {
			continue
		}
		d := document{index: len(out) + 1, line: chunk.line}
		var v any
		if err := utiljson.Unmarshal(j, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", d.where(), err)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: not a Kubernetes object but a %s: want a mapping with apiVersion, kind and metadata", d.where(), jsonKind(v))
		}
		if err := checkObject(obj); err != nil {
			return nil, fmt.Errorf("%s: %w", d.where(), err)
		}
		d.object = obj
		out = append(out, d)
	}
	return out, nil
}

// checkObject checks obj names its kind, and so does every item if it is a List.
func checkObject(obj map[string]any) error {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	if apiVersion == "" || kind == "" {
		return errors.New("an object with no apiVersion or kind: every object needs both, as kubectl apply does")
	}
	items, isList := listItems(obj)
	if !isList {
		return nil
	}
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return fmt.Errorf("item %d of the %s: not an object but a %s", i+1, kind, jsonKind(it))
		}
		if err := checkObject(m); err != nil {
			return fmt.Errorf("item %d of the %s: %w", i+1, kind, err)
		}
	}
	return nil
}

// listItems returns the items of a List: kind List, as kubectl get prints, or any kind
// ending in List that holds items.
func listItems(obj map[string]any) ([]any, bool) {
	kind, _ := obj["kind"].(string)
	items, ok := obj["items"].([]any)
	switch {
	case kind == "List":
		return items, ok || obj["items"] == nil
	case strings.HasSuffix(kind, "List"):
		return items, ok
	}
	return nil, false
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "list"
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	default:
		return "number"
	}
}

type chunk struct {
	data []byte
	line int
}

// split cuts data at the lines that separate YAML documents ("---", maybe followed by a
// comment), remembering the line each document starts on.
func split(data []byte) []chunk {
	var out []chunk
	cur := chunk{line: 1}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), len(data)+1)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if isSeparator(line) {
			out = append(out, cur)
			cur = chunk{line: n + 1}
			continue
		}
		cur.data = append(append(cur.data, line...), '\n')
	}
	return append(out, cur)
}

func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	if !ok {
		return false
	}
	rest = bytes.TrimSpace(rest)
	return len(rest) == 0 || rest[0] == '#'
}

var yamlLineRE = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: line (\d+): (.*)$`)

// atLine rewrites a YAML parser's error, whose line counts from the document's start, with
// the line of the whole input.
func atLine(err error, start int) string {
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Sprintf("from line %d: %v", start, err)
	}
	n, _ := strconv.Atoi(m[1])
	return fmt.Sprintf("line %d: %s", start+n-1, m[2])
}
