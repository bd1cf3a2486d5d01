package server

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sluice-mq/sluice/internal/definitions"
)

// loadDefinitionsAtStart imports --definitions: into a data directory
// that has no users yet (a new one: RabbitMQ's load_definitions seeds a
// new node), or at every start with --definitions-on-every-start. The
// setting names a file or, as RabbitMQ's, a directory whose *.json files
// are imported in name order, each checked and applied before the next
// (a later file may use what an earlier one made). A new data directory
// gets no default user when definitions are given, as in RabbitMQ; if
// they hold no users, the default one is made anyway, so that the broker
// can be reached. A file that cannot be imported stops the start.
func (s *Server) loadDefinitionsAtStart() error {
	path := s.cfg.Definitions
	if path == "" {
		return nil
	}
	fresh := len(s.Users.Users()) == 0
	if !fresh && !s.cfg.DefinitionsOnEveryStart {
		s.log.Info().Str("file", path).Msg("definitions not imported: the data directory is not new (--definitions-on-every-start imports them at every start)")
		return nil
	}
	files, err := definitionFiles(path)
	if err != nil {
		return fmt.Errorf("definitions: %w", err)
	}
	for _, f := range files {
		raw, err := readFileBounded(f, int64(s.cfg.MaxDefinitionsSize))
		if err != nil {
			return fmt.Errorf("definitions: %w", err)
		}
		doc, err := definitions.Parse(raw)
		if err == nil {
			_, err = s.definitionsImporter().Import(doc, "", definitions.Internal)
		}
		if err != nil {
			return fmt.Errorf("definitions %s: %v", f, definitionsReason(err))
		}
		s.log.Info().Str("file", f).Msg("definitions file imported at start-up")
	}
	if len(s.Users.Users()) == 0 {
		s.log.Warn().Str("file", path).Msg("the definitions hold no users: creating the default one")
		if err := s.Users.Bootstrap(s.cfg.DefaultUser, s.cfg.DefaultPass); err != nil {
			return fmt.Errorf("users: %w", err)
		}
	}
	return nil
}

// definitionFiles is path, or the *.json files in the directory path.
func definitionFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(strings.ToLower(e.Name()), ".json") {
			files = append(files, filepath.Join(path, e.Name()))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("no .json file in the directory %s", path)
	}
	return files, nil
}

// readFileBounded reads a file of at most limit bytes.
func readFileBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("%s is larger than max-definitions-size (%v)", path, ByteSize(limit))
	}
	return raw, nil
}
