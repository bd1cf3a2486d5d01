package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

type listTestItem struct {
	Name  string         `json:"name"`
	VHost string         `json:"vhost"`
	N     any            `json:"n,omitempty"`
	Stats map[string]any `json:"stats,omitempty"`
}

var listTestItems = []listTestItem{
	{Name: "b", VHost: "/", N: 3, Stats: map[string]any{"rate": 2.5, "count": 1}},
	{Name: "a", VHost: "v2", N: "text"},
	{Name: "A-orders", VHost: "/", N: true},
	{Name: "c", VHost: "/", N: 10, Stats: map[string]any{"rate": 0.5, "count": 7}},
	{Name: "orders.eu", VHost: "/"},
}

func listCall(t *testing.T, paginate bool, query string) (int, any) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/x?"+query, nil)
	if paginate {
		writeList(rec, req, listTestItems)
	} else {
		writePlainList(rec, req, listTestItems)
	}
	var v any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("%s: answer is not JSON: %v: %s", query, err, rec.Body)
	}
	return rec.Code, v
}

func names(t *testing.T, v any) []string {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("not a list: %v", v)
	}
	out := []string{}
	for _, it := range list {
		out = append(out, fmt.Sprint(it.(map[string]any)["name"]))
	}
	return out
}

func TestListSort(t *testing.T) {
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", []string{"A-orders", "b", "c", "orders.eu", "a"}}, // vhost, then name, bytewise
		{"sort=", []string{"b", "a", "A-orders", "c", "orders.eu"}},
		// numbers (missing = 0) < booleans < strings
		{"sort=n", []string{"orders.eu", "b", "c", "A-orders", "a"}},
		{"sort=n&sort_reverse=true", []string{"a", "A-orders", "c", "b", "orders.eu"}},
		{"sort=stats.rate", []string{"A-orders", "orders.eu", "a", "c", "b"}},
		{"sort=name&sort_reverse=false", []string{"A-orders", "a", "b", "c", "orders.eu"}},
	} {
		code, v := listCall(t, true, c.query)
		if code != 200 {
			t.Fatalf("%q: status %d", c.query, code)
		}
		if got := names(t, v); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %v, want %v", c.query, got, c.want)
		}
	}
}

func TestListColumns(t *testing.T) {
	_, v := listCall(t, true, "columns=name,stats.count&sort=name")
	got := v.([]any)
	want := []any{
		map[string]any{"name": "A-orders"},
		map[string]any{"name": "a"},
		map[string]any{"name": "b", "stats": map[string]any{"count": 1.0}},
		map[string]any{"name": "c", "stats": map[string]any{"count": 7.0}},
		map[string]any{"name": "orders.eu"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("columns: got %v, want %v", got, want)
	}
	// A plain list (reply_list) cuts the columns before sorting, so a
	// sort key that was cut sorts as missing: the default keys decide.
	_, v = listCall(t, false, "columns=name,vhost&sort=n")
	if got := names(t, v); !reflect.DeepEqual(got, []string{"A-orders", "b", "c", "orders.eu", "a"}) {
		t.Errorf("plain list, columns then sort: %v", got)
	}
}

func TestWriteObjectColumns(t *testing.T) {
	rec := httptest.NewRecorder()
	writeObject(rec, httptest.NewRequest("GET", "/api/x?columns=name,stats.rate", nil), listTestItems[0])
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"name": "b", "stats": map[string]any{"rate": 2.5}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestListPagination(t *testing.T) {
	code, v := listCall(t, true, "page=2&page_size=2")
	if code != 200 {
		t.Fatalf("status %d: %v", code, v)
	}
	env := v.(map[string]any)
	want := map[string]any{"filtered_count": 5.0, "item_count": 2.0, "page": 2.0, "page_count": 3.0, "page_size": 2.0, "total_count": 5.0}
	for k, x := range want {
		if env[k] != x {
			t.Errorf("%s = %v, want %v", k, env[k], x)
		}
	}
	if got := names(t, env["items"]); !reflect.DeepEqual(got, []string{"c", "orders.eu"}) {
		t.Errorf("page 2 items %v", got)
	}

	_, v = listCall(t, true, "page=1&name=ORDERS")
	env = v.(map[string]any)
	if got := names(t, env["items"]); !reflect.DeepEqual(got, []string{"A-orders", "orders.eu"}) || env["filtered_count"] != 2.0 || env["total_count"] != 5.0 {
		t.Errorf("name filter: %v", env)
	}
	_, v = listCall(t, true, "page=1&name=^orders\\.&use_regex=true")
	if got := names(t, v.(map[string]any)["items"]); !reflect.DeepEqual(got, []string{"orders.eu"}) {
		t.Errorf("regex filter: %v", got)
	}
	// Without page, name does nothing; a plain list never paginates.
	if _, v = listCall(t, true, "name=orders"); len(v.([]any)) != 5 {
		t.Errorf("name without page filtered: %v", v)
	}
	if _, v = listCall(t, false, "page=1"); len(v.([]any)) != 5 {
		t.Errorf("plain list paginated: %v", v)
	}
	// The page after the last full one is empty; the one after is out of range.
	_, v = listCall(t, true, "page=6&page_size=1")
	if env = v.(map[string]any); env["item_count"] != 0.0 || env["page_count"] != 5.0 {
		t.Errorf("empty last page: %v", env)
	}
}

func TestListBadParameters(t *testing.T) {
	for _, c := range []struct{ query, kind, reason string }{
		{"page=x", "bad_request", "Pagination parameters are invalid"},
		{"page_size=x", "bad_request", "Pagination parameters are invalid"},
		{"page=1&name=(&use_regex=true", "bad_request", "Pagination parameters are invalid"},
		{"page=0", "invalid_pagination_parameters", "Invalid pagination parameters: page number 0, page size undefined"},
		{"page=1&page_size=501", "invalid_pagination_parameters", "Invalid pagination parameters: page number 1, page size 501"},
		{"page=-1&page_size=10", "invalid_pagination_parameters", "Invalid pagination parameters: page number -1, page size 10"},
		{"page=3&page_size=2", "", ""}, // offset 4 of 5: fine
		{"page=4&page_size=2", "page_out_of_range", "Page out of range, page: 4 page size: 2, len: 5"},
		{"page=2&name=zzz", "page_out_of_range", "Page out of range, page: 2 page size: 100, len: 0"},
	} {
		code, v := listCall(t, true, c.query)
		if c.kind == "" {
			if code != 200 {
				t.Errorf("%q: status %d: %v", c.query, code, v)
			}
			continue
		}
		m, _ := v.(map[string]any)
		if code != 400 || m["error"] != c.kind || m["reason"] != c.reason {
			t.Errorf("%q: %d %v, want 400 %s %q", c.query, code, v, c.kind, c.reason)
		}
	}
}

// BenchmarkWriteList10k: the list machinery alone over 10,000 queue-like
// items (what GET /api/queues?page=1 pays on top of building the items).
func BenchmarkWriteList10k(b *testing.B) {
	items := make([]map[string]any, 10000)
	for i := range items {
		items[i] = map[string]any{"name": fmt.Sprintf("q-%05d", i), "vhost": "/", "durable": true, "messages": i,
			"arguments": map[string]any{}, "state": "running", "consumers": 0, "memory": 1000 + i}
	}
	req := httptest.NewRequest("GET", "/api/queues?page=1&page_size=100", nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		writeList(rec, req, items)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// FuzzObjectField: the scanner finds the same value as a full decode, on
// every valid JSON object, and never panics on anything else.
func FuzzObjectField(f *testing.F) {
	f.Add([]byte(`{"name":"a","vhost":"/","n":1}`), "vhost")
	f.Add([]byte(` { "a" : [1,{"b":"}"}], "k\"ey":"x\\"} `), "k\"ey")
	f.Add([]byte(`{"a":{"b":{"c":null}},"b":true}`), "b")
	f.Fuzz(func(t *testing.T, raw []byte, key string) {
		got := objectField(raw, key)
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil || m == nil {
			return
		}
		want, ok := m[key]
		if !ok || bytes.Count(raw, []byte(key)) > 1 {
			// A key given twice (json.Marshal never does; the scanner takes
			// the first, json the last) or spelled with escapes: only check
			// that what was found decodes.
			if got != nil && !json.Valid(got) {
				t.Fatalf("found invalid %q", got)
			}
			return
		}
		var a, b any
		if json.Unmarshal(got, &a) != nil || json.Unmarshal(want, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("objectField(%q, %q) = %q, want %q", raw, key, got, want)
		}
	})
}
