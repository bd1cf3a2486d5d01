package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// RabbitMQ's list query parameters (rabbit_mgmt_util's reply_list,
// augment_resources and pagination), for every list the API answers.
//
// Use:
//
//	writeList(w, r, items)                 // paginated lists: queues, exchanges, vhosts, connections, channels
//	writePlainList(w, r, items, sorts...)  // lists RabbitMQ never paginates: bindings, users, permissions, consumers, policies...
//
// items is any slice (of structs, maps, ...); it is marshalled to JSON once
// and handled in that generic form, so a list's item type needs nothing
// but JSON tags. Items are written out as they were marshalled (their key
// order kept) unless columns= picks keys from them.
//
// What the parameters do, as in RabbitMQ 3.10:
//   - sort=PATH sorts by a dotted path (a.b: key b of object a) and then by
//     the list's default keys (vhost, name for most lists); without sort=
//     the default keys alone; an empty sort= leaves the list in the order
//     it was given. Values compare as Erlang terms do: numbers (a missing
//     value counts as 0) before booleans and null, before objects and
//     arrays, before strings; strings compare byte by byte.
//   - sort_reverse=true reverses the sorted list.
//   - columns=a,b.c keeps only those keys of each item; b.c keeps object b
//     with only its key c (in each element when b is an array of objects).
//   - page=N (from 1) with page_size (default 100, at most 500) answers an
//     envelope {"filtered_count", "item_count", "items", "page",
//     "page_count", "page_size", "total_count"}; name= keeps, within the
//     envelope, the items whose name contains the text (any case), or
//     matches it as a regular expression (any case) with use_regex=true.
//     Without page= the parameters page_size, name and use_regex do
//     nothing. Bad values answer 400 with RabbitMQ's errors:
//     bad_request "Pagination parameters are invalid" (not an integer, a
//     bad regular expression), invalid_pagination_parameters (page < 1,
//     page_size outside 1..500) and page_out_of_range (a page past the
//     end; the page just after the last full one is an empty page).

const (
	defaultPageSize = 100
	maxPageSize     = 500
)

var defaultListSort = []string{"vhost", "name"}

// writeList answers a list RabbitMQ paginates (its augment_resources and
// reply_list_or_paginate): sorted by sort= then vhost and name, paginated
// when page= is given, then cut to columns=.
func writeList(w http.ResponseWriter, r *http.Request, items any) {
	writeListWith(w, r, items, listMode{paginate: true, sorts: defaultListSort})
}

// writePlainList answers a list RabbitMQ never paginates (its reply_list):
// cut to columns= first, then sorted by sort= and then by sorts (vhost and
// name when none are given); page= and the rest are ignored.
func writePlainList(w http.ResponseWriter, r *http.Request, items any, sorts ...string) {
	if sorts == nil {
		sorts = defaultListSort
	}
	writeListWith(w, r, items, listMode{sorts: sorts, columnsFirst: true})
}

type listMode struct {
	paginate     bool
	sorts        []string
	columnsFirst bool // reply_list cuts columns before it sorts
}

// listItem is one item of a list in generic form: its JSON text. Keys are
// looked up in the text when needed (field), not decoded up front: a list
// of 10,000 queues is sorted on two or three keys of each.
type listItem struct {
	raw json.RawMessage
}

// field is the value of the item's top-level key, nil when the item has
// no such key or is not an object.
func (it listItem) field(key string) json.RawMessage {
	return objectField(it.raw, key)
}

// pagination is a request's page= parameters (nil when not paginated).
type pagination struct {
	page, size int
	name       string
	regex      *regexp.Regexp
}

type listError struct{ kind, reason string }

func writeListWith(w http.ResponseWriter, r *http.Request, items any, mode listMode) {
	q := r.URL.Query()
	var pg *pagination
	if mode.paginate {
		var lerr *listError
		if pg, lerr = paginationParams(q.Get, q.Has); lerr != nil {
			apiError(w, http.StatusBadRequest, lerr.kind, lerr.reason)
			return
		}
	}
	list, err := toListItems(items)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal_server_error", err.Error())
		return
	}
	var cols [][]string
	if q.Has("columns") {
		cols = parseColumns(q.Get("columns"))
	}
	if cols != nil && mode.columnsFirst {
		for i := range list {
			list[i] = cutItem(list[i], cols)
		}
		cols = nil
	}
	if !q.Has("sort") || q.Get("sort") != "" {
		keys := mode.sorts
		if s := q.Get("sort"); s != "" {
			keys = append([]string{s}, mode.sorts...)
		}
		sortItems(list, keys)
		if q.Get("sort_reverse") == "true" {
			slices.Reverse(list)
		}
	}
	if pg == nil {
		writeItems(w, list, cols)
		return
	}
	writePage(w, list, pg, cols)
}

// paginationParams reads page, page_size, name and use_regex as
// rabbit_mgmt_util:pagination_params does: page_size is parsed (and must
// be an integer) even when page is absent, and then does nothing.
func paginationParams(get func(string) string, has func(string) bool) (*pagination, *listError) {
	invalid := &listError{"bad_request", "Pagination parameters are invalid"}
	num := func(key string) (int, bool, bool) {
		if !has(key) {
			return 0, false, true
		}
		n, err := strconv.Atoi(get(key))
		return n, true, err == nil
	}
	page, hasPage, ok1 := num("page")
	size, hasSize, ok2 := num("page_size")
	if !ok1 || !ok2 {
		return nil, invalid
	}
	if !hasPage {
		return nil, nil
	}
	if !hasSize {
		if page > 0 {
			size = defaultPageSize
		} else {
			return nil, &listError{"invalid_pagination_parameters",
				fmt.Sprintf("Invalid pagination parameters: page number %d, page size undefined", page)}
		}
	} else if page < 1 || size < 1 || size > maxPageSize {
		return nil, &listError{"invalid_pagination_parameters",
			fmt.Sprintf("Invalid pagination parameters: page number %d, page size %d", page, size)}
	}
	pg := &pagination{page: page, size: size, name: get("name")}
	if pg.name != "" && get("use_regex") == "true" {
		re, err := regexp.Compile("(?i)" + pg.name)
		if err != nil {
			return nil, invalid
		}
		pg.regex = re
	}
	return pg, nil
}

// toListItems marshals each element of items (a slice) once.
func toListItems(items any) ([]listItem, error) {
	v := reflect.ValueOf(items)
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return nil, fmt.Errorf("a list must be a slice, not %T", items)
	}
	out := make([]listItem, v.Len())
	for i := range out {
		raw, err := marshalJSON(v.Index(i).Interface())
		if err != nil {
			return nil, err
		}
		out[i].raw = raw
	}
	return out, nil
}

// writeItems writes items as a JSON array.
func writeItems(w http.ResponseWriter, list []listItem, cols [][]string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, it := range list {
		if i > 0 {
			buf.WriteByte(',')
		}
		if cols != nil {
			it = cutItem(it, cols)
		}
		buf.Write(it.raw)
		if buf.Len() > 64<<10 {
			w.Write(buf.Bytes())
			buf.Reset()
		}
	}
	buf.WriteByte(']')
	w.Write(buf.Bytes())
}

// writePage filters list by name, picks the page and writes the envelope.
func writePage(w http.ResponseWriter, list []listItem, pg *pagination, cols [][]string) {
	total := len(list)
	if pg.name != "" {
		kept := list[:0:0]
		for _, it := range list {
			if nameMatches(it, pg) {
				kept = append(kept, it)
			}
		}
		list = kept
	}
	offset := (pg.page - 1) * pg.size
	if pg.page > 1 && (offset/pg.size != pg.page-1 || offset > len(list)) {
		apiError(w, http.StatusBadRequest, "page_out_of_range",
			fmt.Sprintf("Page out of range, page: %d page size: %d, len: %d", pg.page, pg.size, len(list)))
		return
	}
	end := min(offset+pg.size, len(list))
	pageItems := list[offset:end]
	var items bytes.Buffer
	items.WriteByte('[')
	for i, it := range pageItems {
		if i > 0 {
			items.WriteByte(',')
		}
		if cols != nil {
			it = cutItem(it, cols)
		}
		items.Write(it.raw)
	}
	items.WriteByte(']')
	writeJSON(w, http.StatusOK, struct {
		FilteredCount int             `json:"filtered_count"`
		ItemCount     int             `json:"item_count"`
		Items         json.RawMessage `json:"items"`
		Page          int             `json:"page"`
		PageCount     int             `json:"page_count"`
		PageSize      int             `json:"page_size"`
		TotalCount    int             `json:"total_count"`
	}{len(list), len(pageItems), items.Bytes(), pg.page, (len(list) + pg.size - 1) / pg.size, pg.size, total})
}

// nameMatches is rabbit_mgmt_util's name filter: an item without a string
// name never matches.
func nameMatches(it listItem, pg *pagination) bool {
	var name string
	if json.Unmarshal(it.field("name"), &name) != nil {
		return false
	}
	if pg.regex != nil {
		return pg.regex.MatchString(name)
	}
	return strings.Contains(strings.ToLower(name), strings.ToLower(pg.name))
}

// parseColumns splits "a,b.c" into [[a] [b c]], dropping empty parts as
// Erlang's string:tokens does.
func parseColumns(s string) [][]string {
	cols := [][]string{}
	for _, c := range strings.Split(s, ",") {
		var path []string
		for _, p := range strings.Split(c, ".") {
			if p != "" {
				path = append(path, p)
			}
		}
		if path != nil {
			cols = append(cols, path)
		}
	}
	return cols
}

// cutItem keeps the keys of it that cols name.
func cutItem(it listItem, cols [][]string) listItem {
	if firstByte(it.raw) != '{' {
		return it
	}
	raw, _ := marshalJSON(cutValue(it.raw, cols))
	return listItem{raw: raw}
}

// cutValue applies cols to a JSON value: objects keep the named keys (and
// their sub-columns), arrays apply cols to each element, anything else is
// kept whole. cols == nil keeps everything.
func cutValue(raw json.RawMessage, cols [][]string) any {
	if cols == nil {
		return raw
	}
	switch firstByte(raw) {
	case '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return raw
		}
		out := map[string]any{}
		for k, v := range m {
			sub, want := descendColumns(k, cols)
			if want {
				out[k] = cutValue(v, sub)
			}
		}
		return out
	case '[':
		var a []json.RawMessage
		if json.Unmarshal(raw, &a) != nil {
			return raw
		}
		out := make([]any, len(a))
		for i, v := range a {
			out[i] = cutValue(v, cols)
		}
		return out
	}
	return raw
}

// descendColumns: whether key k is wanted by cols, and the columns for
// its value (nil: all of it, when a column names k itself).
func descendColumns(k string, cols [][]string) ([][]string, bool) {
	var sub [][]string
	want := false
	for _, c := range cols {
		if c[0] != k {
			continue
		}
		want = true
		if len(c) == 1 {
			return nil, true
		}
		sub = append(sub, c[1:])
	}
	return sub, want
}

func firstByte(raw []byte) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// writeObject answers one object as RabbitMQ's reply does: cut to
// columns= when it is given (GET /api/queues/V/Q?columns=name answers
// {"name": ...}).
func writeObject(w http.ResponseWriter, r *http.Request, v any) {
	if !r.URL.Query().Has("columns") {
		writeJSON(w, http.StatusOK, v)
		return
	}
	raw, err := marshalJSON(v)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal_server_error", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, json.RawMessage(cutItem(listItem{raw: raw}, parseColumns(r.URL.Query().Get("columns"))).raw))
}
