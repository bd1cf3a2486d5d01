package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/server"
)

// TestDocumentedCommandLines parses every sluice command line that README.md
// and docs/*.md show, with the binary's own flag parser (server.Load; no
// broker is started), so a doc that names a flag or a value the binary
// refuses fails here instead of in a user's terminal. Issue #12 item 17
// was such a case: the docs said `--memory-limit 256MiB` and the binary
// answered "not a whole number".
//
// What counts as a command line, in code blocks and `code spans`:
//   - `sluice ...`, `./bin/sluice ...`, `bin/sluice ...` with flags;
//   - `make run ARGS="..."` (the Makefile's run recipe with ARGS in it);
//   - `SLUICE_ARGS="..."`, the flags scripts/bench.sh passes to sluice;
//   - SLUICE_* assignments in front of those, as environment;
//   - a span that starts with a flag (`--memory-limit 256MiB`) when the
//     flag is sluice's. Such a span may name a flag of sluice-perf (whose
//     manual is docs/PERFORMANCE.md) instead; a flag neither has fails.
//
// An upper-case placeholder value (DIR, FILE, HOST:PORT) is not parsed.
func TestDocumentedCommandLines(t *testing.T) {
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{"../../README.md"}, docs...)
	sluiceFlags := flagNames(t)
	yamlKeys := yamlNames(t)
	perfFlags := sluicePerfFlags(t)
	for name := range sluicectlFlags(t) {
		perfFlags[name] = true
	}
	runArgs := makeRunArgs(t)
	emptyConfig := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(emptyConfig, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	checked := 0
	for _, doc := range docs {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(doc, "../../")
		for _, c := range codeOf(string(text)) {
			where := fmt.Sprintf("%s:%d: %s", name, c.line, c.text)
			for _, cmd := range commandsIn(c.text, runArgs) {
				checked++
				t.Logf("%s:%d: %s sluice %s", name, c.line, strings.Join(cmd.env, " "), strings.Join(cmd.args, " "))
				if err := parse(cmd.args, cmd.env, emptyConfig); err != nil {
					t.Errorf("%s\n\t%s sluice %s: %v", where, strings.Join(cmd.env, " "), strings.Join(cmd.args, " "), err)
				}
			}
			if m := yamlSetting.FindStringSubmatch(c.text); c.span && m != nil && yamlKeys[m[1]] {
				checked++
				t.Logf("%s:%d: sluice --config <%s>", name, c.line, c.text)
				file := filepath.Join(t.TempDir(), "sluice.yaml")
				if err := os.WriteFile(file, []byte(c.text+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if _, _, err := server.Load([]string{"--config", file}, nil, io.Discard); err != nil {
					t.Errorf("%s\n\tin the YAML file: %v", where, err)
				}
			}
			if c.span && strings.HasPrefix(c.text, "--") {
				words := shellWords(c.text)
				flagName, value, hasValue := strings.Cut(strings.TrimLeft(words[0], "-"), "=")
				if !hasValue && len(words) > 1 {
					value, hasValue = words[1], true
				}
				isBool, isSluice := sluiceFlags[flagName]
				switch {
				case isSluice:
					args := []string{"--" + flagName}
					if !isBool {
						if !hasValue || placeholder.MatchString(value) {
							continue // the span only names the flag, and it exists
						}
						args = append(args, value)
					}
					checked++
					t.Logf("%s:%d: sluice %s", name, c.line, strings.Join(args, " "))
					if err := parse(args, nil, emptyConfig); err != nil {
						t.Errorf("%s\n\tsluice %s: %v", where, strings.Join(args, " "), err)
					}
				case perfFlags[flagName]:
				default:
					t.Errorf("%s\n\tnames --%s, a flag none of sluice, sluice-perf and sluicectl has", where, flagName)
				}
			}
		}
	}
	// The docs do show command lines: a regexp that stopped matching must
	// not turn this test into one that checks nothing.
	if checked < 5 {
		t.Fatalf("only %d command lines found in the docs", checked)
	}
}

// yamlSetting is a `key: value` span, a line of the YAML file when key
// is a setting's.
var yamlSetting = regexp.MustCompile(`^([a-z][a-z0-9_]*): \S`)

// yamlNames returns the YAML keys of the settings, from --help.
func yamlNames(t *testing.T) map[string]bool {
	var help strings.Builder
	server.Load([]string{"--help"}, nil, &help)
	keys := map[string]bool{}
	for _, m := range regexp.MustCompile(`yaml ([a-z0-9_]+)\)`).FindAllStringSubmatch(help.String(), -1) {
		keys[m[1]] = true
	}
	if !keys["memory_limit"] {
		t.Fatalf("found no YAML keys in --help (%d)", len(keys))
	}
	return keys
}

// placeholder is a value a doc writes for the reader to fill in.
var placeholder = regexp.MustCompile(`^[A-Z][A-Z0-9_:|./-]*$`)

// parse runs the binary's flag parsing on args, with --config pointed at
// an empty file: the docs' FILE is not on this machine.
func parse(args, env []string, emptyConfig string) error {
	args = append([]string(nil), args...)
	for i := range args {
		if (args[i] == "--config" || args[i] == "-config") && i+1 < len(args) {
			args[i+1] = emptyConfig
		} else if strings.HasPrefix(args[i], "--config=") {
			args[i] = "--config=" + emptyConfig
		}
	}
	_, _, err := server.Load(args, env, io.Discard)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

type command struct {
	args, env []string
}

var (
	assignment = regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=(.*)$`)
	separator  = regexp.MustCompile(`&&|\|\||[;|]`)
)

// commandsIn finds the sluice command lines in one line of code.
func commandsIn(code string, runArgs []string) []command {
	var out []command
	// Shell separators split one line into several commands.
	for _, part := range separator.Split(code, -1) {
		words := shellWords(part)
		var env []string
		i := 0
		for ; i < len(words); i++ {
			m := assignment.FindStringSubmatch(words[i])
			if m == nil {
				break
			}
			switch {
			case m[1] == "SLUICE_ARGS":
				out = append(out, command{args: shellWords(m[2])})
			case strings.HasPrefix(m[1], "SLUICE_"):
				env = append(env, words[i])
			}
		}
		rest := words[i:]
		switch {
		case len(rest) >= 2 && rest[0] == "make" && rest[1] == "run":
			args := append([]string(nil), runArgs...)
			for _, w := range rest[2:] {
				if v, ok := strings.CutPrefix(w, "ARGS="); ok {
					args = append(args, shellWords(v)...)
				}
			}
			out = append(out, command{args: args, env: env})
		case len(rest) >= 2 && isSluice(rest[0]) && strings.HasPrefix(rest[1], "-"):
			out = append(out, command{args: rest[1:], env: env})
		case len(rest) == 0 && len(env) > 0:
			out = append(out, command{env: env}) // a setting given in the environment
		}
	}
	return out
}

func isSluice(word string) bool {
	return strings.TrimPrefix(strings.TrimPrefix(word, "./"), "bin/") == "sluice"
}

// shellWords splits s as a POSIX shell would split a simple command:
// quotes group, a word starting with # begins a comment.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\\':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '#' && !inWord:
			return words
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

type code struct {
	line int
	text string
	span bool // an inline `span`, not a line of a fenced block
}

var inlineSpan = regexp.MustCompile("`([^`]+)`")

// codeOf returns the lines of fenced code blocks, with continuation
// lines (ending in \) joined, and the inline code spans of other lines.
func codeOf(markdown string) []code {
	var out []code
	fenced := false
	var pending strings.Builder
	pendingLine := 0
	for i, line := range strings.Split(markdown, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			if pending.Len() == 0 {
				pendingLine = i + 1
			}
			if s, ok := strings.CutSuffix(strings.TrimRight(line, " "), "\\"); ok {
				pending.WriteString(s + " ")
				continue
			}
			pending.WriteString(line)
			out = append(out, code{line: pendingLine, text: pending.String()})
			pending.Reset()
			continue
		}
		for _, m := range inlineSpan.FindAllStringSubmatch(line, -1) {
			out = append(out, code{line: i + 1, text: m[1], span: true})
		}
	}
	return out
}

// flagNames returns sluice's flags, from its --help, each with whether
// it is a boolean (takes no value).
func flagNames(t *testing.T) map[string]bool {
	var help strings.Builder
	server.Load([]string{"--help"}, nil, &help)
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(help.String(), -1) {
		_, _, err := server.Load([]string{"--" + m[1]}, nil, io.Discard)
		names[m[1]] = err == nil || !strings.Contains(err.Error(), "needs an argument")
	}
	if len(names) < 10 {
		t.Fatalf("found only %d flags in --help", len(names))
	}
	return names
}

// sluicePerfFlags reads the flag names sluice-perf defines from its
// source: it is a main package, so its flag sets cannot be called here.
func sluicePerfFlags(t *testing.T) map[string]bool {
	files, err := filepath.Glob("../sluice-perf/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("sluice-perf sources: %v", err)
	}
	def := regexp.MustCompile(`\.(?:String|Bool|Int|Int64|Uint|Uint64|Float64|Duration|Func|Var)(?:Var)?\((?:[^,()]+, )?"([a-z0-9-]+)"`)
	names := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range def.FindAllStringSubmatch(string(src), -1) {
			names[m[1]] = true
		}
	}
	if !names["scenario"] || !names["client"] {
		t.Fatalf("did not find sluice-perf's flags in its source (found %d)", len(names))
	}
	return names
}

// sluicectlFlags returns the options sluicectl's hand-written parser
// takes: the names in its option switch (cmd/sluicectl/main.go), the
// cases whose labels are quoted option names.
func sluicectlFlags(t *testing.T) map[string]bool {
	src, err := os.ReadFile("../sluicectl/main.go")
	if err != nil {
		t.Fatal(err)
	}
	label := regexp.MustCompile(`"([a-z][a-z-]*)"`)
	names := map[string]bool{}
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "case \"") || !strings.HasSuffix(line, ":") {
			continue
		}
		for _, m := range label.FindAllStringSubmatch(line, -1) {
			names[m[1]] = true
		}
	}
	if !names["username"] || !names["formatter"] {
		t.Fatalf("did not find sluicectl's options in its source (found %d)", len(names))
	}
	return names
}

// makeRunArgs returns the flags the Makefile's run recipe gives sluice
// before $(ARGS), so that `make run ARGS=...` is checked as it runs.
func makeRunArgs(t *testing.T) []string {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^run:.*\n\t\./\$\(BIN\)/sluice(.*)$`).FindStringSubmatch(string(mk))
	if m == nil {
		t.Fatal("no `./$(BIN)/sluice` line in the Makefile's run recipe")
	}
	return shellWords(strings.ReplaceAll(m[1], "$(ARGS)", ""))
}

// TestCommandExtraction pins what counts as a sluice command line, so that
// the test above cannot quietly stop finding them.
func TestCommandExtraction(t *testing.T) {
	run := []string{"--data-dir", "./data"}
	for line, want := range map[string]string{
		"sluice --memory-limit 256MiB --sync always":                       "[--memory-limit 256MiB --sync always] []",
		"./bin/sluice --config sluice.yaml # comment":                      "[--config sluice.yaml] []",
		`SLUICE_MEMORY_LIMIT=1GiB bin/sluice -data-dir "/var/lib/my data"`: "[-data-dir /var/lib/my data] [SLUICE_MEMORY_LIMIT=1GiB]",
		`make run ARGS="--memory-limit 0.4"`:                               "[--data-dir ./data --memory-limit 0.4] []",
		"make run":                                                         "[--data-dir ./data] []",
		`SLUICE_ARGS="--memory-limit 268435456" REPEAT=2 make bench`:       "[--memory-limit 268435456] []",
		"go build ./cmd/sluice && sluice --help":                           "[--help] []",
		"sluice-perf --scenario backlog":                                   "",
		"make test":                                                        "",
		"SLUICE_DISK_FREE_LIMIT=1GB":                                       "[] [SLUICE_DISK_FREE_LIMIT=1GB]",
		"sluice used 66 % of its own":                                      "",
	} {
		got := ""
		for _, c := range commandsIn(line, run) {
			got += fmt.Sprint(c.args, " ", c.env)
		}
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", line, got, want)
		}
	}
	md := "text `--memory-limit 256MiB` and\n```sh\nsluice \\\n  --sync 10ms\n```\n"
	got := fmt.Sprint(codeOf(md))
	if want := "[{1 --memory-limit 256MiB true} {3 sluice    --sync 10ms false}]"; got != want {
		t.Errorf("codeOf:\n got %s\nwant %s", got, want)
	}
}
