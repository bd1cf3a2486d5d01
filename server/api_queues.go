package server

import (
	"net/http"
	"sort"

	"github.com/sluice-mq/sluice/broker"
)

func (s *Server) registerQueueAPI() {
	s.mux.HandleFunc("GET /api/queues", s.authed(s.listQueues))
}

// queueInfo is one queue in GET /api/queues, with RabbitMQ's field names
// where it has them; disk_bytes is ours: the log bytes its messages hold.
type queueInfo struct {
	Name      string `json:"name"`
	VHost     string `json:"vhost"`
	Durable   bool   `json:"durable"`
	Messages  int    `json:"messages_ready"`
	Unacked   int    `json:"messages_unacknowledged"`
	Consumers int    `json:"consumers"`
	DiskBytes int64  `json:"disk_bytes"`
	// Ready messages whose bodies are in memory, their bytes, and those
	// paged out to disk.
	Resident      int   `json:"messages_ready_resident"`
	ResidentBytes int64 `json:"memory_body_bytes"`
	PagedOut      int   `json:"messages_paged_out"`
	// Paged-out messages read back ahead of need, and inline (when
	// consumers outran the read-ahead).
	ReadsAhead  int64 `json:"paged_reads_ahead"`
	ReadsInline int64 `json:"paged_reads_inline"`
	// Body bytes of delayed messages held in memory.
	DelayedResidentBytes int64 `json:"memory_delayed_body_bytes"`
	// Messages set aside since the start because their body could not be
	// read back (kept in the log, offered again after a restart).
	Unreadable int64 `json:"messages_unreadable"`
}

func (s *Server) listQueues(w http.ResponseWriter, _ *http.Request) {
	var disk map[broker.QueueRef]int64
	if s.store != nil {
		disk = s.store.QueueBytes()
	}
	out := []queueInfo{}
	for _, vname := range s.Broker.VHosts() {
		v, _ := s.Broker.VHost(vname)
		for _, q := range v.Queues() {
			info, mem := q.Info(), q.Memory()
			out = append(out, queueInfo{Name: q.Name(), VHost: vname, Durable: q.Durable(), Messages: info.Messages,
				Unacked: q.Unacked(), Consumers: info.Consumers, DiskBytes: disk[broker.QueueRef{VHost: vname, Queue: q.Name()}],
				Resident: mem.Resident, ResidentBytes: mem.ResidentBytes, PagedOut: mem.PagedOut,
				ReadsAhead: mem.ReadsAhead, ReadsInline: mem.ReadsInline, DelayedResidentBytes: mem.DelayedResidentBytes,
				Unreadable: mem.Unreadable})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VHost+"\x00"+out[i].Name < out[j].VHost+"\x00"+out[j].Name })
	writeJSON(w, http.StatusOK, out)
}
