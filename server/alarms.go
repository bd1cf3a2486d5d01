package server

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"syscall"
	"time"
)

// watchResources raises the memory alarm when the Go runtime's memory
// passes MemoryLimit and the disk alarm when free space in the data
// directory drops under DiskFreeLimit, checking every second, and clears
// them when the pressure goes.
func (s *Server) watchResources(stop <-chan struct{}) {
	samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	memOn, diskOn, pagingOn := false, false, false
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if limit := s.memoryLimit(); limit > 0 {
			metrics.Read(samples)
			used := samples[0].Value.Uint64() - samples[1].Value.Uint64()
			paging := s.cfg.MemoryPagingPercent > 0 && used > limit/100*uint64(s.cfg.MemoryPagingPercent)
			if paging != pagingOn {
				pagingOn = paging
				s.log.Info().Uint64("used", used).Bool("on", paging).Msg("memory pressure: paging transient messages out")
				s.Broker.SetMemoryPressure(paging)
			}
			on := used > limit
			if on != memOn {
				memOn = on
				s.log.Warn().Uint64("used", used).Uint64("limit", limit).Bool("on", on).Msg("memory alarm")
				s.Broker.Alarms.Set("memory", on)
			}
		}
		if limit := s.cfg.DiskFreeLimit; limit > 0 {
			var st syscall.Statfs_t
			if err := syscall.Statfs(s.cfg.DataDir, &st); err == nil {
				free := st.Bavail * uint64(st.Bsize)
				on := free < uint64(limit)
				if on != diskOn {
					diskOn = on
					s.log.Warn().Uint64("free", free).Int64("limit", int64(limit)).Bool("on", on).Msg("disk alarm")
					s.Broker.Alarms.Set("disk", on)
				}
			}
		}
	}
}

// applyMemoryLimit lets the garbage collector work harder as the heap
// nears the memory watermark, rather than let garbage trip the alarm; the
// 10% left is for what the process holds outside the Go heap. It runs
// before recovery, which builds the index of a whole backlog. GOMEMLIMIT,
// when set, wins.
func (s *Server) applyMemoryLimit() {
	if limit := s.memoryLimit(); limit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(limit / 10 * 9))
	}
	// A higher GC target costs memory, which the limit above still
	// bounds: near it the collector runs as often as it must.
	if s.cfg.GCPercent > 0 && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(s.cfg.GCPercent)
	}
}

// memoryLimit is MemoryLimit, or 40% of the machine's memory (RabbitMQ's
// default vm_memory_high_watermark) when it is 0; negative turns it off.
func (s *Server) memoryLimit() uint64 {
	if s.cfg.MemoryLimit < 0 {
		return 0
	}
	if s.cfg.MemoryLimit > 0 {
		return uint64(s.cfg.MemoryLimit)
	}
	ram, err := physicalMemory()
	if err != nil {
		return 0
	}
	return ram * 4 / 10
}
