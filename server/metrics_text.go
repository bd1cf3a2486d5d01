package server

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// The per-object endpoints write their per-queue samples straight in the
// text format. Through the client library each sample becomes a protobuf
// message that the registry checks, sorts and encodes: measured with
// 10,000 queues and 15 metrics a queue, that is seconds a scrape. Written
// here it is one append per sample. The rest (node metrics, histograms,
// the process and Go collectors) still goes through the library, encoded
// as text too, so that the response is one text document.

// serveObjects answers a scrape: the registry's families, then the
// per-queue families of queues, each family's HELP and TYPE once.
func serveObjects(w http.ResponseWriter, reg prometheus.Gatherer, queues []queueSample, prefix string, defs []metricDef, log promLogger) {
	mfs, err := reg.Gather()
	if err != nil {
		log.Println(err) // what gathered is still served, as ContinueOnError
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	w.Header().Set("Content-Type", string(format))
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := expfmt.NewEncoder(bw, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			log.Println(err)
			return
		}
	}
	var line []byte
	for _, d := range defs {
		name := prefix + strings.TrimPrefix(metricName(d), "rabbitmq_")
		if strings.HasPrefix(d.name, "sluice_") {
			name = d.name
		}
		line = append(line[:0], "# HELP "...)
		line = append(line, name...)
		line = append(line, ' ')
		line = appendHelp(line, d.help)
		line = append(line, "\n# TYPE "...)
		line = append(line, name...)
		line = append(line, ' ')
		line = append(line, typeName(d.kind)...)
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return
		}
		for i := range queues {
			q := &queues[i]
			line = append(line[:0], name...)
			line = append(line, `{vhost="`...)
			line = appendLabelValue(line, q.vhost)
			line = append(line, `",queue="`...)
			line = appendLabelValue(line, q.name)
			line = append(line, `"} `...)
			line = strconv.AppendFloat(line, q.value(d), 'g', -1, 64)
			line = append(line, '\n')
			if _, err := bw.Write(line); err != nil {
				return
			}
		}
	}
	_ = bw.Flush()
}

func typeName(k prometheus.ValueType) string {
	switch k {
	case prometheus.CounterValue:
		return "counter"
	case prometheus.GaugeValue:
		return "gauge"
	}
	return "untyped"
}

// appendLabelValue escapes a label value as the text format wants:
// backslash, double quote and line feed.
func appendLabelValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendHelp escapes a HELP text: backslash and line feed.
func appendHelp(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}
