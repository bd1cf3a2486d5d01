package server

import (
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
	memOn, diskOn := false, false
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if limit := s.memoryLimit(); limit > 0 {
			metrics.Read(samples)
			used := samples[0].Value.Uint64() - samples[1].Value.Uint64()
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
					s.log.Warn().Uint64("free", free).Int64("limit", limit).Bool("on", on).Msg("disk alarm")
					s.Broker.Alarms.Set("disk", on)
				}
			}
		}
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
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit) * 4 / 10
}
