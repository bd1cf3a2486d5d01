package server

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// Sorting a list as rabbit_mgmt_util:sort_list does: by a list of dotted
// keys, each value compared in Erlang's term order (the management
// plugin sorts the Erlang terms before it encodes them as JSON).

// sortRank is a value's place in Erlang's term order: number < atom
// (false, true, then null, which is the atom undefined there) < map <
// nil (the empty list) < list < binary (strings).
type sortRank uint8

const (
	rankNumber sortRank = iota
	rankAtom
	rankObject
	rankEmptyArray
	rankArray
	rankString
)

// sortValue is one sort key of one item, decoded once.
type sortValue struct {
	rank sortRank
	num  float64 // numbers; atoms: false 0, true 1, null 2
	text string  // strings; objects and arrays: their JSON text
}

func (a sortValue) compare(b sortValue) int {
	if a.rank != b.rank {
		return int(a.rank) - int(b.rank)
	}
	switch a.rank {
	case rankNumber, rankAtom:
		switch {
		case a.num < b.num:
			return -1
		case a.num > b.num:
			return 1
		}
		return 0
	}
	return strings.Compare(a.text, b.text)
}

// toSortValue decodes a JSON value for comparison; nil (a missing key)
// counts as 0, as in RabbitMQ ("nothing" before everything else).
func toSortValue(raw json.RawMessage) sortValue {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return sortValue{rank: rankNumber}
	}
	switch raw[0] {
	case '"':
		inner := raw[1 : len(raw)-1]
		if bytes.IndexByte(inner, '\\') < 0 {
			return sortValue{rank: rankString, text: string(inner)}
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return sortValue{rank: rankString, text: s}
		}
	case 't':
		return sortValue{rank: rankAtom, num: 1}
	case 'f':
		return sortValue{rank: rankAtom, num: 0}
	case 'n':
		return sortValue{rank: rankAtom, num: 2}
	case '{':
		return sortValue{rank: rankObject, text: string(raw)}
	case '[':
		if string(bytes.Join(bytes.Fields(raw), nil)) == "[]" {
			return sortValue{rank: rankEmptyArray}
		}
		return sortValue{rank: rankArray, text: string(raw)}
	}
	f, _ := strconv.ParseFloat(string(raw), 64)
	return sortValue{rank: rankNumber, num: f}
}

// dotted finds the value at a dotted path ("message_stats.publish") in an
// item; nil when a step is missing or not an object.
func dotted(it listItem, path string) json.RawMessage {
	v := it.raw
	for k := range strings.SplitSeq(path, ".") {
		if k == "" {
			continue
		}
		if v = objectField(v, k); v == nil {
			return nil
		}
	}
	if bytes.Equal(v, it.raw) {
		return nil
	}
	return v
}

// sortItems sorts list in place by keys, stably (items equal on every key
// keep the order they were given in).
func sortItems(list []listItem, keys []string) {
	if len(list) < 2 || len(keys) == 0 {
		return
	}
	type keyed struct {
		vals []sortValue
		it   listItem
		pos  int
	}
	ks := make([]keyed, len(list))
	for i, it := range list {
		vals := make([]sortValue, len(keys))
		for j, k := range keys {
			vals[j] = toSortValue(dotted(it, k))
		}
		ks[i] = keyed{vals, it, i}
	}
	// Stable through the position tie-break: pdqsort is much faster than
	// SortStableFunc's insertion-and-merge on 10,000 items.
	slices.SortFunc(ks, func(a, b keyed) int {
		for i := range a.vals {
			if c := a.vals[i].compare(b.vals[i]); c != 0 {
				return c
			}
		}
		return a.pos - b.pos
	})
	for i := range ks {
		list[i] = ks[i].it
	}
}
